// `sptrain export --onnx`: a trained run's model (the checkpoint `sptrain predict` loads) as an ONNX
// file, with what a caller must feed it and what it returns in its metadata (docs/export.md).
#include <chrono>
#include <filesystem>
#include <sstream>

#include "sptrain/error.hpp"
#include "sptrain/features.hpp"
#include "sptrain/info.hpp"
#include "sptrain/io.hpp"
#include "sptrain/onnx.hpp"
#include "sptrain/predictor.hpp"

namespace sptrain::onnx {

namespace {

std::string fmt_g(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

// The features as formulas of the positions p[t, d] (t < L positions, d < D axes).
std::string transform_formula(const FeatureSpec& f) {
  const std::string dx = f.mean_removal ? "(p[t+1, d] - p[t, d] - m[d])" : "(p[t+1, d] - p[t, d])";
  switch (f.kind) {
    case FeatureKind::Positions:
      return f.mean_removal ? "x[t, d] = p[t, d] - m[d], m[d] the track's mean position on axis d (T = L, C = D)"
                            : "x[t, d] = p[t, d] (T = L, C = D)";
    case FeatureKind::Displacements:
      return "x[t, d] = " + dx + (f.mean_removal ? ", m[d] the track's mean displacement on axis d" : "") +
             " (T = L - 1, C = D)";
    case FeatureKind::SquaredDisplacements:
      return "x[t, 0] = sum over d of " + dx + "^2" + (f.mean_removal ? ", m[d] the track's mean displacement on axis d" : "") +
             " (T = L - 1, C = 1)";
    case FeatureKind::LogSquaredDisplacements:
      return "x[t, 0] = log(sum over d of " + dx + "^2 + " + fmt_g(f.log_eps) + ")" +
             (f.mean_removal ? ", m[d] the track's mean displacement on axis d" : "") + " (T = L - 1, C = 1)";
  }
  return "?";
}

// With FeatureSpec::center every channel's time mean over the track is taken off afterwards.
std::string feature_formula(const FeatureSpec& f, int dims) {
  std::string s = transform_formula(f);
  if (f.center && f.center_window > 0)
    s += ", then minus its mean over the " + std::to_string(f.center_window) + " features nearest t (t - " +
         std::to_string((f.center_window - 1) / 2) + " to t + " + std::to_string(f.center_window / 2) +
         ", cut at the track's ends) per channel (features.center, center_window)";
  else if (f.center)
    s += ", then minus its mean over t of the track per channel (features.center)";
  if (f.mean_channel) s += "; then those means, the same at every t (features.mean_channel)";
  if (f.turning)
    s += "; last channel: the cosine of the angle between displacements t - 1 and t, 0 at t = 0 (features.turning)";
  if (feature_channels(f, dims) != transform_channels(f, dims)) s += " (C = " + std::to_string(feature_channels(f, dims)) + " in all)";
  return s;
}

}  // namespace

nlohmann::json export_onnx(const ExportRequest& r) {
  namespace fs = std::filesystem;
  if (r.run_dir.empty()) throw UsageError("export: give --run RUN_DIR");
  if (r.onnx.empty()) throw UsageError("export: give --onnx FILE");
  io::check_output_path(r.onnx, r.force);
  const auto t0 = std::chrono::steady_clock::now();
  const TrainConfig cfg = load_run_config(r.run_dir);
  const Predictor pred(cfg, r.run_dir, Device::cpu());
  const bool any = pred.any_length();
  const Graph g = model_graph(cfg.model, pred.params(), pred.state(), any);

  const FeatureSpec& f = cfg.spec.features;
  const SimParams& sp = cfg.spec.params;
  const ModelInfo info = analyze(cfg.model);
  const Shape out = info.shapes[info.output_index];
  const bool per_step = cfg.label == LabelKind::StepState;
  const bool softmax_last = cfg.model.layers[size_t(info.output_index)].type == LayerType::Softmax;
  const std::string label = cfg.resolved.contains("data") ? cfg.resolved["data"].value("label", std::string("?")) : "?";
  std::string what;
  if (cfg.classification())
    what = std::string(softmax_last ? "class probabilities" : "class logits (a softmax over the last axis gives the "
                                                              "probabilities sptrain predict reports)") +
           (per_step ? ", one row per displacement (output step t: positions t and t + 1)" : ", one row per track");
  else
    what = "the estimate of the label " + label +
           " (as the model emits it, before any decoding)";

  nlohmann::json meta;
  meta["format"] = "sptrain-onnx 1";
  meta["producer"] = std::string("sptrain ") + version();
  meta["checkpoint"] = fs::path(pred.checkpoint()).filename().string();
  meta["opset"] = kOpset;
  meta["input"] = {
      {"name", "input"},
      {"dtype", "float32"},
      {"layout", "(batch, time, channel)"},
      {"shape", {"N", any ? nlohmann::json("T") : nlohmann::json(cfg.model.T_in), cfg.model.C_in}},
      {"features",
       {{"kind", feature_kind_name(f.kind)}, {"mean_removal", f.mean_removal}, {"center", f.center}, {"mean_channel", f.mean_channel},
        {"center_window", f.center_window}, {"turning", f.turning}, {"log_eps", f.log_eps}}},
      {"formula", feature_formula(f, sp.dims)},
      {"positions",
       {{"dims", sp.dims},
        {"trained_length", pred.train_length()},
        {"any_length", any},
        {"min_length", any ? pred.min_length() : pred.train_length()},
        {"units", "those of the training spec's step sizes (the model was trained on them)"}}}};
  meta["output"] = {{"name", "output"},
                    {"dtype", "float32"},
                    {"layout", "(batch, time, channel)"},
                    {"shape", {"N", any && per_step ? nlohmann::json("T_out") : nlohmann::json(out.T), out.C}},
                    {"label", label},
                    {"what", what}};
  meta["spec"] = cfg.spec.resolved;
  meta["config"] = cfg.resolved;
  const std::string doc = "sptrain model of " + cfg.spec.source + ": input " + feature_formula(f, sp.dims) + "; output " + what;
  const std::string bytes = encode_model(g, {{"sptrain", meta.dump()}}, doc);
  io::write_file_atomic(r.onnx, bytes);
  meta["bytes"] = int64_t(bytes.size());
  meta["nodes"] = int64_t(g.nodes());
  meta["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return meta;
}

}  // namespace sptrain::onnx
