// `sptrain sweep`: steps and examples to a target across batch sizes, with the noise scale.
#include <cstdlib>
#include <iostream>

#include "commands.hpp"
#include "dist/communicator.hpp"
#include "sptrain/error.hpp"
#include "sptrain/train.hpp"
#include "sptrain/sweep.hpp"

namespace sptrain::cli {

void add_sweep(CLI::App& app) {
  auto r = std::make_shared<SweepRequest>();
  auto device = std::make_shared<std::string>("auto");
  auto mode = std::make_shared<std::string>("min");
  auto* sub = app.add_subcommand("sweep", "Train one config at several batch sizes: steps/examples to a target, B_crit, B_simple");
  auto merge = std::make_shared<std::string>();
  sub->add_option("--config", r->config, "Training config (TOML); required unless --merge");
  sub->add_option("--set", r->set, "Override a config key, KEY=VALUE (repeatable)");
  sub->add_option("--batches", r->batches, "Batch sizes, e.g. --batches 32 64 128; required unless --merge")->delimiter(',');
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
  auto* target = sub->add_option("--target", r->target_value, "Target value of the metric; required unless --merge");
  sub->add_option("--target-mode", *mode, "min (reach <= target) or max (>= target)")->capture_default_str();
  sub->add_option("--eval-examples", r->eval_examples, "Examples between validations")->capture_default_str();
  sub->add_option("--max-examples", r->max_examples, "Example budget per run")->capture_default_str();
  sub->add_option("--out-dir", r->out_dir, "Output directory: sweep.json, sweep.csv, runs/, S_of_B.png, E_of_B.png; required unless --merge");
  sub->add_option("--task", r->task,
                  "Slurm array task: train run N of the sweep alone (default: $SLURM_ARRAY_TASK_ID when set)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--merge", *merge, "Write the summary of the sweep in DIR from its finished runs (after array tasks)");
  sub->add_flag("--force", r->force, "Write into a non-empty output directory");
  sub->add_option("--device", *device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  auto precision = std::make_shared<std::string>("fp32");
  sub->add_option("--precision", *precision, "GPU convolutions and GEMMs: fp32, tf32 or bf16")->capture_default_str();
  sub->callback([r, device, mode, precision, merge, target, sub] {
    if (!merge->empty()) {
      for (const char* opt : {"--config", "--batches", "--target", "--out-dir", "--task", "--resume", "--force"})
        if (sub->count(opt)) throw UsageError(std::string("--merge: ") + opt + " is not used (the sweep's own plan is)");
      auto sw = merge_sweep(*merge);
      std::cout << format_sweep_table(sw) << "outputs: " << *merge << std::endl;
      return;
    }
    if (r->config.empty()) throw UsageError("sweep: give --config FILE (or --merge DIR)");
    if (r->batches.empty()) throw UsageError("sweep: give --batches B1,B2,...");
    if (!target->count()) throw UsageError("sweep: give --target V");
    if (r->out_dir.empty()) throw UsageError("sweep: give --out-dir DIR");
    SweepRequest req = *r;
    if (!sub->count("--task"))
      if (const char* id = std::getenv("SLURM_ARRAY_TASK_ID"); id && *id) {
        const std::string s = id;
        if (s.find_first_not_of("0123456789") != std::string::npos || s.size() > 9)
          throw UsageError("SLURM_ARRAY_TASK_ID '" + s + "': not a task number (give --task N)");
        req.task = std::stoll(s);
        std::cerr << "sweep: Slurm array task " << req.task << " (SLURM_ARRAY_TASK_ID): training run " << req.task
                  << " of the sweep" << std::endl;
      }
    if (*mode != "min" && *mode != "max") throw UsageError("--target-mode: '" + *mode + "' is not min or max");
    req.target_max = *mode == "max";
    req.device = resolve_training_device(*device);
    req.math = parse_math_mode(*precision);
    // Under mpirun or srun the ranks share the runs; a rank that fails alone ends them all (rank 0
    // would wait for it at the end).
    std::unique_ptr<dist::Communicator> comm = dist::make_communicator();
    req.comm = comm.get();
    nlohmann::json sw;
    try {
      sw = run_sweep(req);
    } catch (const std::exception& e) {
      if (comm->size() == 1) throw;
      std::cerr << "error (rank " << comm->rank() << " of " << comm->size() << "): " << e.what() << std::endl;
      comm->abort(dynamic_cast<const UsageError*>(&e) ? 2 : 1);
    }
    if (sw.contains("table")) std::cout << format_sweep_table(sw) << "outputs: " << req.out_dir << std::endl;
  });
}

}  // namespace sptrain::cli
