// The Predictor (checkpoint -> model, chunked forward over host data); see predictor.hpp.
#include "sptrain/predictor.hpp"

#include <algorithm>
#include <filesystem>

#include "sptrain/error.hpp"
#include "sptrain/features.hpp"
#include "sptrain/optimizer.hpp"

namespace sptrain {

namespace fs = std::filesystem;

void check_weights(const ckpt::Checkpoint& ck, const ModelInfo& info) {
  ckpt::expect_floats(ck, "params", info.trainable, "the model");
  ckpt::expect_floats(ck, "state", info.non_trainable, "the model");
  ckpt::expect_finite(ck, "params");
  ckpt::expect_finite(ck, "state");
}

void forward_in_chunks(Model& model, Backend& be, const float* x, int64_t n, int64_t chunk,
                       const std::function<void(const float* out, int64_t off, int64_t m)>& each) {
  if (n <= 0) return;
  const size_t in_elems = size_t(model.spec().T_in) * model.spec().C_in;
  chunk = std::max<int64_t>(1, std::min<int64_t>(chunk, n));
  const Buffer<float> xb = be.alloc<float>(size_t(chunk) * in_elems, "eval/x");  // training_memory's name
  for (int64_t off = 0; off < n; off += chunk) {
    const int64_t m = std::min(chunk, n - off);
    be.upload(xb.get(), x + size_t(off) * in_elems, size_t(m) * in_elems);
    each(model.forward(xb.get(), int(m), false), off, m);
  }
}

// Predictor -----------------------------------------------------------------------------------------

Predictor::Predictor(const TrainConfig& cfg, const std::string& run_dir, const Device& dev) : cfg_(cfg) {
  std::string path = run_dir + "/best.safetensors";
  if (!fs::exists(path)) path = run_dir + "/last.safetensors";
  if (!fs::exists(path)) throw UsageError(run_dir + ": no checkpoint (best.safetensors or last.safetensors)");
  const ModelInfo info = analyze(cfg_.model);
  ckpt::Checkpoint ck = ckpt::load(path);
  std::vector<std::string> allowed = {"params", "state"};
  for (const std::string& n : optimizer_state_tensors()) allowed.push_back(n);
  ckpt::expect_only(ck, allowed);
  check_weights(ck, info);
  params_ = ck.get<float>("params");
  state_ = ck.get<float>("state");
  checkpoint_ = path;
  be_ = make_backend(dev);
  // Any length: the parameter counts stay, and the output keeps its per-step or per-track form, at
  // two other lengths.
  const int L = train_length();
  const int want_C = cfg_.outputs();
  auto same_form = [&](int len) {
    try {
      const ModelInfo o = analyze(spec_at(len));
      const Shape s = o.shapes[o.output_index];
      const int want_T = cfg_.label == LabelKind::StepState ? len - 1 : 1;
      return o.trainable == info.trainable && o.non_trainable == info.non_trainable && s.T == want_T && s.C == want_C;
    } catch (const std::exception&) {
      return false;
    }
  };
  any_length_ = same_form(L + 17) && same_form(2 * L + 5);
  min_length_ = L;
  if (any_length_)
    for (int len = 2; len < L; ++len)
      if (same_form(len)) {
        min_length_ = len;
        break;
      }
}

Predictor::~Predictor() = default;

ModelSpec Predictor::spec_at(int length) const {
  ModelSpec s = cfg_.model;
  s.T_in = feature_length(cfg_.spec.features, length);
  return s;
}

bool Predictor::runs_at(int length) const {
  return length == train_length() || (any_length_ && length >= min_length_);
}

Shape Predictor::output_shape(int length) const {
  const ModelInfo o = analyze(spec_at(length));
  return o.shapes[o.output_index];
}

std::vector<float> Predictor::forward(const float* positions, int64_t n, int length) {
  if (!runs_at(length))
    throw UsageError("the model runs on " +
                     (any_length_ ? "at least " + std::to_string(min_length_) : "exactly " + std::to_string(train_length())) +
                     " positions, not " + std::to_string(length));
  const int dims = cfg_.spec.params.dims;
  auto x = compute_features(cfg_.spec.features, positions, n, length, dims);
  const ModelSpec spec = spec_at(length);
  // Chunks of the run's micro-batch (at least 256), bounded so that one chunk's input stays a few
  // million values whatever the length.
  int64_t chunk = std::min<int64_t>(std::max<int64_t>(cfg_.micro_batch, 256), n);
  chunk = std::max<int64_t>(1, std::min<int64_t>(chunk, (int64_t(1) << 22) / std::max<int64_t>(1, spec.T_in)));
  if (!model_ || model_length_ != length || model_chunk_ < chunk) {
    model_.reset();
    model_ = std::make_unique<Model>(spec, *be_, int(chunk), cfg_.init_seed);
    if (!params_.empty()) be_->upload(model_->params(), params_.data(), params_.size());
    if (!state_.empty()) be_->upload(model_->state(), state_.data(), state_.size());
    model_length_ = length;
    model_chunk_ = int(chunk);
  }
  const Shape os = model_->output_shape();
  const size_t outs = size_t(os.T) * os.C;
  std::vector<float> out(size_t(n) * outs);
  forward_in_chunks(*model_, *be_, x.data(), n, chunk, [&](const float* y, int64_t off, int64_t m) {
    be_->download(&out[size_t(off) * outs], y, size_t(m) * outs);
  });
  return out;
}

}  // namespace sptrain
