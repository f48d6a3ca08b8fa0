// `sptrain sweep`: steps and examples to a target across batch sizes, with the noise scale.
#include <iostream>

#include "commands.hpp"
#include "sptrain/error.hpp"
#include "sptrain/train.hpp"
#include "sptrain/sweep.hpp"

namespace sptrain::cli {

void add_sweep(CLI::App& app) {
  auto r = std::make_shared<SweepRequest>();
  auto device = std::make_shared<std::string>("auto");
  auto mode = std::make_shared<std::string>("min");
  auto* sub = app.add_subcommand("sweep", "Train one config at several batch sizes: steps/examples to a target, B_crit, B_simple");
  sub->add_option("--config", r->config, "Training config (TOML)")->required();
  sub->add_option("--set", r->set, "Override a config key, KEY=VALUE (repeatable)");
  sub->add_option("--batches", r->batches, "Batch sizes, e.g. --batches 32 64 128")->required()->delimiter(',');
  sub->add_option("--seeds", r->seeds, "Seeds per batch size (success rate over seeds)")->delimiter(',')->check(seed_validator());
  sub->add_option("--lr-rule", r->lr_rule, "fixed, linear or sqrt scaling of the config's lr with B / base batch")->capture_default_str();
  sub->add_option("--lr-factors", r->lr_factors,
                  "Learning-rate grid: each batch runs at the rule's lr times each factor, e.g. 0.25,1,4")
      ->delimiter(',');
  sub->add_flag("--continue-after-target", r->continue_after_target,
                "Record the target step but train on to --max-examples (budget metrics for every run)");
  sub->add_option("--budget-examples", r->budget_examples, "Report the metric after this many examples (default: --max-examples)");
  sub->add_option("--budget-steps", r->budget_steps, "Report the metric after this many steps too");
  sub->add_flag("--resume", r->resume, "Keep the finished runs in --out-dir and resume interrupted ones");
  sub->add_option("--base-batch", r->base_batch, "Batch the config's lr belongs to (default: the config's batch)");
  sub->add_option("--warmup-examples", r->warmup_examples, "Linear lr warmup over this many examples");
  sub->add_option("--micro-batch", r->micro_batch, "Cap on the micro-batch, which is B/2 (always below B, so B_simple is measured)");
  sub->add_option("--target-monitor", r->target_monitor, "Metric to reach (val_loss, val_mape, val_acc, ...)")->capture_default_str();
  sub->add_option("--target", r->target_value, "Target value of the metric")->required();
  sub->add_option("--target-mode", *mode, "min (reach <= target) or max (>= target)")->capture_default_str();
  sub->add_option("--eval-examples", r->eval_examples, "Examples between validations")->capture_default_str();
  sub->add_option("--max-examples", r->max_examples, "Example budget per run")->capture_default_str();
  sub->add_option("--out-dir", r->out_dir, "Output directory: sweep.json, sweep.csv, runs/, S_of_B.png, E_of_B.png")->required();
  sub->add_flag("--force", r->force, "Write into a non-empty output directory");
  sub->add_option("--device", *device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  auto precision = std::make_shared<std::string>("fp32");
  sub->add_option("--precision", *precision, "GPU convolutions and GEMMs: fp32, tf32 or bf16")->capture_default_str();
  sub->callback([r, device, mode, precision] {
    SweepRequest req = *r;
    if (*mode != "min" && *mode != "max") throw UsageError("--target-mode: '" + *mode + "' is not min or max");
    req.target_max = *mode == "max";
    req.device = resolve_training_device(*device);
    req.math = parse_math_mode(*precision);
    auto sw = run_sweep(req);
    std::cout << format_sweep_table(sw) << "outputs: " << req.out_dir << std::endl;
  });
}

}  // namespace sptrain::cli
