// `sptrain predict`: a trained run applied to unlabelled tracks of any length.
#include <iostream>

#include "commands.hpp"
#include "sptrain/predict.hpp"
#include "sptrain/train.hpp"

namespace sptrain::cli {

void add_predict(CLI::App& app) {
  auto r = std::make_shared<PredictRequest>();
  auto read = std::make_shared<ReadOptions>();
  auto device = std::make_shared<std::string>("auto");
  auto no_plots = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("predict", "Apply a trained run to tracks of any length (units, gaps): states or estimates per track and step");
  sub->add_option("--run", r->run_dir, "Run directory of `sptrain train` (its config, spec and best checkpoint)")->required();
  sub->add_option("--input", r->input, "Tracks: NPY from `sptrain simulate`, trackpy/TrackMate/Spot-On/AnDi CSV, TrackMate XML, AnDi 2020")->required();
  add_track_options(sub, read);
  sub->add_option("--out-dir", r->out_dir, "Output directory: predict.json, tracks.csv, steps.csv or windows.csv, figures")
      ->required();
  sub->add_flag("--force", r->force, "Write into a non-empty output directory");
  sub->add_flag("--no-plots", *no_plots, "Skip the figures");
  sub->add_option("--device", *device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--decode", r->decode,
                  "Per-step models: auto (from the training spec: single switch, chain, else argmax), argmax, single or chain")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "argmax", "single", "chain"}));
  sub->add_option("--model-units", r->model_units,
                  "input: the model reads the positions as read; px: divided by --pixel-size again (a model trained "
                  "in pixels, outputs in um)")
      ->capture_default_str()
      ->check(CLI::IsMember({"input", "px"}));
  sub->add_option("--switch-penalty", r->switch_penalty,
                  "--decode argmax: log-probability cost per change of state (0: the per-step argmax)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->callback([r, read, device, no_plots] {
    PredictRequest req = *r;
    req.read = *read;
    req.plots = !*no_plots;
    req.device = resolve_training_device(*device);
    auto pj = run_predict(req);
    std::cout << format_predict_table(pj) << "outputs: " << req.out_dir << std::endl;
  });
}

}  // namespace sptrain::cli
