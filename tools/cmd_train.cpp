// `sptrain train` and `sptrain model`: train a model from a config into a run directory (or resume
// one), and print a model's Keras-style summary.
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <thread>

#include <sys/wait.h>

#include "commands.hpp"
#include "dist/communicator.hpp"
#include "sptrain/device.hpp"
#include "sptrain/error.hpp"
#include "sptrain/run_dir.hpp"
#include "sptrain/train.hpp"

namespace sptrain::cli {

namespace {

struct TrainCliOptions {
  std::string config, run_dir, resume, device = "auto", precision = "fp32";
  std::vector<std::string> set;
  bool force = false, quiet = false, requeue = false;
  int64_t max_epochs = -1;
};

// The exit status of a stop by `sig`: the requeue status for SIGTERM (what a batch system sends
// before preempting or at the time limit), 128 + signal otherwise (SIGINT: 130).
int stop_status(int sig) { return sig == SIGTERM ? kExitRequeue : 128 + sig; }

// --requeue after a SIGTERM stop: under Slurm, put the job back in the queue with the real
// `scontrol requeue $SLURM_JOB_ID`, so that it starts again (and its script resumes the run);
// otherwise say why it was not requeued. The exit status is kExitRequeue either way.
void requeue_job(const std::string& run_dir) {
  const char* env = std::getenv("SLURM_JOB_ID");
  const std::string job = env ? env : "";
  const std::string manual = "; resubmit it, or continue with: sptrain train --resume " + run_dir;
  if (job.empty()) {
    std::cerr << "--requeue: SLURM_JOB_ID is not set (not a Slurm job), nothing requeued" << manual << std::endl;
    return;
  }
  if (job.find_first_not_of("0123456789") != std::string::npos) {
    std::cerr << "--requeue: SLURM_JOB_ID '" << job << "' is not a job number, nothing requeued" << manual << std::endl;
    return;
  }
  if (std::system("command -v scontrol >/dev/null 2>&1") != 0) {
    std::cerr << "--requeue: scontrol not found on PATH, Slurm job " << job << " was not requeued" << manual << std::endl;
    return;
  }
  const int rc = std::system(("scontrol requeue " + job).c_str());
  if (rc == 0) {
    std::cerr << "requeued Slurm job " << job << " (scontrol requeue " << job << ")" << std::endl;
    return;
  }
  std::cerr << "--requeue: scontrol requeue " << job << " failed (status " << (WIFEXITED(rc) ? WEXITSTATUS(rc) : rc)
            << "), the job was not requeued" << manual << std::endl;
}

// One GPU per rank: under a launcher, `--device auto` and `cuda` take GPU local_rank % (GPUs of
// the node), so the ranks of a node spread over its GPUs (with --gpus-per-task=1 each task sees
// one, cuda:0); `cuda:N` is taken as given, and without a GPU `auto` is the CPU.
Device rank_device(const std::string& spec, const dist::Communicator& comm) {
  if (!comm.distributed() || (spec != "auto" && spec != "cuda")) return resolve_training_device(spec);
  const std::vector<GpuInfo> gpus = list_gpus();
  if (gpus.empty()) return resolve_training_device(spec);  // auto: the CPU; cuda: the error
  const GpuInfo& g = gpus[size_t(comm.local_rank()) % gpus.size()];
  std::cerr << "rank " << comm.rank() << " of " << comm.size() << ": device cuda:" << g.ordinal << " (" << g.name
            << ", local rank " << comm.local_rank() << ")" << std::endl;
  return Device::cuda(g.ordinal);
}

// Test path, for the step watchdog's tests (tests/test_dist.cpp) only: SPTRAIN_TEST_HANG_RANK=r
// makes rank r of a multi-rank run stop answering, alive, at its 5th step boundary, as a rank
// stuck in a driver or a file system would.
std::function<bool()> stop_poll(const dist::Communicator& comm) {
  const char* hang = std::getenv("SPTRAIN_TEST_HANG_RANK");
  const bool hangs = comm.size() > 1 && hang && std::to_string(comm.rank()) == hang;
  return [hangs, polls = 0]() mutable {
    if (hangs && ++polls == 5)
      for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
    return stop_signal != 0;
  };
}

void run_train_on(const TrainCliOptions& o, dist::Communicator& comm);

// Under mpirun or srun every rank runs the same command (docs/distributed.md). A rank that fails
// alone ends them all (the others would wait for it in the next collective).
void run_train(const TrainCliOptions& o) {
  std::unique_ptr<dist::Communicator> comm = dist::make_communicator();
  if (comm->size() == 1) return run_train_on(o, *comm);
  try {
    run_train_on(o, *comm);
  } catch (const ExitStatus&) {
    throw;  // a stop every rank agreed on
  } catch (const std::exception& e) {
    std::cerr << "error (rank " << comm->rank() << " of " << comm->size() << "): " << e.what() << std::endl;
    comm->abort(dynamic_cast<const UsageError*>(&e) ? 2 : 1);
  }
}

void run_train_on(const TrainCliOptions& o, dist::Communicator& comm) {
  const bool root = comm.rank() == 0;
  TrainOptions opt;
  opt.comm = &comm;
  opt.progress = !o.quiet && root;
  opt.max_epochs = o.max_epochs;
  opt.math = parse_math_mode(o.precision);
  if (o.max_epochs < -1) throw UsageError("--max-epochs " + std::to_string(o.max_epochs) + ": must be 0 or more");
  TrainConfig cfg;
  std::optional<RunDir> run;  // locked for the whole run
  if (!o.resume.empty()) {
    if (!o.config.empty() || !o.set.empty()) throw UsageError("--resume: the run's own config is used; drop --config and --set");
    if (root) run.emplace(RunDir::open(o.resume));  // rank 0 holds the lock for all
    cfg = load_run_config(o.resume);
    comm.set_timeout(cfg.dist_timeout_s);
    opt.resume = true;
  } else {
    if (o.config.empty()) throw UsageError("train: give --config FILE (or --resume RUN)");
    if (o.run_dir.empty()) throw UsageError("train: give --run-dir DIR for the outputs");
    cfg = load_train_config(o.config, o.set);
    comm.set_timeout(cfg.dist_timeout_s);
    // Everything the run is made from is in memory before the run directory is touched.
    const RunInputs inputs = RunInputs::read(o.config, cfg.resolved["data"]["spec"].get<std::string>(), o.set);
    // Rank 0 creates the directory; the others go on once it exists (or all stop if it failed).
    if (comm.size() == 1) {
      run.emplace(RunDir::create(o.run_dir, inputs, o.force));
    } else {
      std::string err;
      try {
        if (root) run.emplace(RunDir::create(o.run_dir, inputs, o.force));
      } catch (const std::exception& e) {
        err = e.what();
      }
      if (comm.any(!err.empty())) {
        if (!err.empty()) throw UsageError(err);
        throw ExitStatus{2};
      }
    }
  }
  opt.run_dir = run ? run->path() : (o.resume.empty() ? o.run_dir : o.resume);
  Device dev = rank_device(o.device, comm);
  opt.stop = stop_poll(comm);
  nlohmann::json res;
  {
    struct Graceful {  // while the trainer runs, the first signal asks it to stop at a step boundary
      Graceful() { graceful_stop = 1; }
      ~Graceful() { graceful_stop = 0; }
    } graceful;
    res = train(cfg, dev, opt);
  }
  if (!root) {
    if (res.contains("interrupted_at_step") && stop_signal != 0) throw ExitStatus{stop_status(stop_signal)};
    return;
  }
  if (res.contains("interrupted_at_step")) {
    const std::string where = "step " + res["interrupted_at_step"].dump() + " (" + res["interrupted_after_epoch"].dump() +
                              " of " + std::to_string(cfg.epochs) + " epochs complete)";
    if (stop_signal != 0) {
      std::cerr << "interrupted: checkpoint of " << where << " in " << opt.run_dir
                << "/last.safetensors; continue with: sptrain train --resume " << opt.run_dir << std::endl;
      if (o.requeue && stop_signal == SIGTERM) requeue_job(opt.run_dir);
      throw ExitStatus{stop_status(stop_signal)};
    }
    if (!o.quiet)
      std::cerr << "stopped after --max-epochs " << o.max_epochs << " at " << where
                << "; continue with: sptrain train --resume " << opt.run_dir << std::endl;
    return;
  }
  if (res.contains("test")) {
    std::cout << "test (" << res["test_size"] << " fresh trajectories, " << res["checkpoint"].get<std::string>()
              << " checkpoint):";
    for (auto& [k, v] : res["test"].items()) std::cout << "  " << k << " " << v.get<double>();
    std::cout << "\n";
    if (res.contains("baselines"))
      for (auto& [name, m] : res["baselines"].items())
        std::cout << "baseline " << name << " on the same trajectories:  mape " << m["mape"].get<double>() << "  mae "
                  << m["mae"].get<double>() << "  mse " << m["mse"].get<double>() << "\n";
    std::cout << "run directory: " << opt.run_dir << std::endl;
  }
}

}  // namespace

void add_train(CLI::App& app) {
  auto o = std::make_shared<TrainCliOptions>();
  auto* sub = app.add_subcommand("train", "Train a model from a config (TOML) into a run directory, or resume a run");
  sub->add_option("--config", o->config, "Training config (TOML), see docs/train.md");
  sub->add_option("--run-dir", o->run_dir, "Output directory: config, metrics.jsonl/csv, checkpoints, results.json");
  sub->add_option("--resume", o->resume, "Continue the interrupted run in this directory");
  sub->add_option("--set", o->set, "Override a config key, KEY=VALUE (repeatable), e.g. --set train.lr=1e-4");
  sub->add_option("--device", o->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--precision", o->precision,
                  "GPU convolutions and GEMMs: fp32, tf32 or bf16 (FP32 master weights)")
      ->capture_default_str();
  sub->add_option("--max-epochs", o->max_epochs,
                  "Stop after this many epochs in this invocation (0: only set the run up); resume later");
  sub->add_flag("--force", o->force,
                "Replace an existing run directory (its own files only; a directory that is not a run is refused)");
  sub->add_flag("--quiet", o->quiet, "No progress output");
  sub->add_flag("--requeue", o->requeue,
                "On SIGTERM, after the checkpoint: under Slurm, requeue the job (scontrol requeue $SLURM_JOB_ID)");
  sub->callback([o] { run_train(*o); });

  auto zoo = std::make_shared<std::string>();
  auto cfgp = std::make_shared<std::string>();
  auto len = std::make_shared<int>(0);
  auto outs = std::make_shared<int>(2);
  auto* m = app.add_subcommand("model", "Print a model's layers, output shapes and parameter counts (Keras style)");
  m->add_option("--config", *cfgp, "Training config with [model] / [layer.*]");
  m->add_option("--zoo", *zoo, "A zoo model instead: model1, model2, model2_nobn, model2_nobn_nok20");
  m->add_option("--length", *len, "Input length for --zoo (default: 100 for model1, 999 otherwise)");
  m->add_option("--outputs", *outs, "Outputs for --zoo model2 variants (classes; 1 = regression)")->capture_default_str();
  m->callback([zoo, cfgp, len, outs] {
    ModelSpec spec;
    if (!cfgp->empty()) {
      spec = load_train_config(*cfgp).model;
    } else if (!zoo->empty()) {
      int T = *len > 0 ? *len : (*zoo == "model1" ? 100 : 999);
      spec = zoo_model(*zoo, T, 1, *zoo == "model1" ? 1 : *outs, *outs == 1);
    } else {
      throw UsageError("model: give --config FILE or --zoo NAME");
    }
    std::cout << summary(spec);
  });
}

}  // namespace sptrain::cli
