// `sptrain eval`: score a trained run and the classical baselines on the same trajectories.
#include <iostream>

#include "commands.hpp"
#include "sptrain/error.hpp"
#include "sptrain/train.hpp"
#include "sptrain/evaluate.hpp"

namespace sptrain::cli {

void add_eval(CLI::App& app) {
  auto r = std::make_shared<EvalRequest>();
  auto device = std::make_shared<std::string>("auto");
  auto no_plots = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("eval", "Score a trained run and the statistical baselines on the same trajectories");
  sub->add_option("--run", r->run_dir, "Run directory of `sptrain train` (its config, spec and best checkpoint)");
  sub->add_flag("--baselines-only", r->baselines_only, "Only the classical baselines (no model needed)");
  sub->add_option("--spec", r->spec_path, "Generate the trajectories from this spec (default: the run's spec)");
  sub->add_option("--set", r->spec_set, "Override a spec key, KEY=VALUE (repeatable)");
  sub->add_option("--n", r->n, "Number of generated trajectories")->capture_default_str();
  sub->add_option("--seed", r->seed, "Seed of the generated trajectories, 0 to 2^64-1 (default: disjoint from the run's)")
      ->check(seed_validator());
  sub->add_option("--input", r->input, "Score these trajectories instead (NPY from `sptrain simulate`, trackpy/TrackMate/Spot-On/AnDi CSV, TrackMate XML, AnDi 2020)");
  sub->add_option("--out-dir", r->out_dir, "Output directory: eval.json, predictions.csv, plots")->required();
  sub->add_flag("--force", r->force, "Write into a non-empty output directory");
  sub->add_flag("--no-plots", *no_plots, "Skip the plots");
  sub->add_option("--device", *device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--switch-penalty", r->switch_penalty,
                  "Segmentation models: decode the path with this log-probability cost per state change (0: argmax)")
      ->capture_default_str();
  sub->callback([r, device, no_plots] {
    EvalRequest req = *r;
    req.plots = !*no_plots;
    req.device = resolve_training_device(*device);
    auto ev = run_eval(req);
    std::cout << format_eval_table(ev) << "outputs: " << req.out_dir << std::endl;
  });
}

}  // namespace sptrain::cli
