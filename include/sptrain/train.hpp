// Training: a config (TOML: [data], [model] + [layer.*], [train], [early_stopping], [checkpoint];
// docs/train.md), the trainer that writes a run directory, and evaluation of a model on a batch.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sptrain/backend.hpp"
#include "sptrain/memory.hpp"
#include "sptrain/model.hpp"
#include "sptrain/sim.hpp"

namespace sptrain {

// StepState: the state of every step (one-hot, outputs (steps, n_states)), for segmentation models.
enum class LabelKind { Sigma, NSwitches, NSwitchesPlusOne, SwitchTime, HasSwitch, InitialState, StepState };
enum class Schedule { Constant, Warmup, Plateau, Cosine };
// How the ranks of a data-parallel run combine a step (docs/distributed.md): Exact gathers every
// micro-batch's gradient and sums them in one order at any rank count; Allreduce sums each rank's
// accumulated slab in one MPI_Allreduce (float sums reassociated).
enum class DistReduce { Exact, Allreduce };
// BatchNorm statistics of a data-parallel run: Local those of each rank's micro-batch; Sync those
// of the ranks' j-th micro-batches together (one global micro-batch of ranks x micro_batch).
enum class DistBatchNorm { Local, Sync };

// Bounds of config values (docs/train.md), checked before any is narrowed or used.
inline constexpr int64_t kMaxDatasetSize = (int64_t(1) << 31) - 1;  // data.train_size, val_size, test_size
inline constexpr int64_t kMaxBatch = int64_t(1) << 24;              // train.batch, train.micro_batch
inline constexpr int64_t kMaxEpochs = 1000000;                      // train.epochs, patiences
inline constexpr int64_t kMaxStepsPerEpoch = 1000000000;            // train.steps_per_epoch
inline constexpr double kMaxExamples = 9007199254740992.0;          // epochs * steps_per_epoch * batch <= 2^53
inline constexpr int64_t kMaxChannels = 65536;                      // layer filters, units
inline constexpr int64_t kMaxWindow = 16384;                        // layer kernel, stride, dilation, pool
inline constexpr double kMaxScalar = 1e30;  // lr, |alpha|, weight_decay, lars_eta, clip_norm, min_delta (float32-finite)

struct TrainConfig {
  std::string source;              // config file
  nlohmann::json resolved;         // every key with its final value
  // [data]
  SimSpec spec;
  LabelKind label = LabelKind::Sigma;
  bool fixed = false;              // fixed dataset (train/val/test split) instead of fresh data every step
  int64_t train_size = 0, val_size = 1000, test_size = 10000;
  uint64_t data_seed = 1;
  // data.lengths: step s trains on fresh tracks of lengths[s % size] positions (empty: the spec's
  // length at every step); validation and test stay at the spec's length.
  std::vector<int> lengths;
  // This config at `length` positions: the spec's length and the model's input length replaced.
  TrainConfig at_length(int length) const;
  // [model]
  ModelSpec model;
  // [train]
  int64_t batch = 32, micro_batch = 0;  // micro_batch 0: = batch
  int64_t epochs = 10, steps_per_epoch = 0;
  LossKind loss = LossKind::MSE;
  std::string optimizer = "adam";
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-7, momentum = 0.0;
  bool nesterov = false;
  double weight_decay = 0;  // LAMB's decoupled weight decay, LARS's weight decay
  double lars_eta = 1e-3;   // LARS trust coefficient
  Schedule schedule = Schedule::Constant;
  int64_t warmup_steps = 0;
  double plateau_factor = 0.1, min_lr = 0.0;
  int64_t plateau_patience = 4;
  double clip_norm = 0.0;
  uint64_t init_seed = 1;
  // [early_stopping]
  std::string es_monitor = "val_loss";
  bool es_max = false;
  int64_t es_patience = 0;  // 0: off
  double es_min_delta = 0.0;
  bool restore_best = true;
  // [checkpoint]
  std::string ckpt_monitor = "val_loss";
  bool ckpt_max = false;
  // [target]: stop once the metric target_monitor (e.g. "val_loss") reaches target_value (<= for
  // min, >= for max) at an epoch end; results.json then holds target_step. Empty: no target.
  std::string target_monitor;
  double target_value = 0;
  bool target_max = false;
  bool stop_at_target = true;  // false: record target_step and train on to the end
  // [dist]
  DistReduce reduce = DistReduce::Exact;
  double dist_timeout_s = 600;  // a collective not complete after this long ends every rank
  DistBatchNorm dist_batchnorm = DistBatchNorm::Local;

  int outputs() const;  // model outputs per time step the label needs (classes, or 1)
  int target_steps() const;  // time steps of the model output: the spec's steps for StepState, else 1
  int64_t target_elems() const { return int64_t(target_steps()) * outputs(); }  // targets per trajectory
  bool classification() const {
    return label == LabelKind::HasSwitch || label == LabelKind::InitialState || label == LabelKind::StepState;
  }
};

// A label by its config name (data.label): sigma, n_switches, ..., step_state; KeyError otherwise.
LabelKind parse_label(const std::string& name);
// Throws KeyError naming the key for any bad value.
TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides = {});
// The model section alone (for `sptrain model --config F`): a config with [model] and [layer.*],
// and [data] for the input shape.
ModelSpec model_from_config(const TrainConfig& c);
// The config of a run directory written by train(): its config.toml, spec.toml and overrides.txt.
TrainConfig load_run_config(const std::string& run_dir);

namespace dist {
class Communicator;
}

struct TrainOptions {
  std::string run_dir;
  // The ranks of a data-parallel run (docs/distributed.md); null: this process alone. When it is
  // distributed(), rank r of R trains on its share of every batch, rank 0 alone writes the run
  // directory, and the results equal those of any other rank count.
  dist::Communicator* comm = nullptr;
  bool resume = false;
  bool progress = true;   // progress line on stderr (rewritten in place on a terminal)
  int64_t max_epochs = -1;  // stop after this many epochs in this invocation (testing interrupts); -1: all
  // Compute precision of convolutions and GEMMs on the GPU (FP32 master weights in every mode).
  MathMode math = MathMode::Fp32;
  // Polled at every step boundary (and before each epoch); once it returns true the trainer writes
  // a resumable last.safetensors of that step and returns {"interrupted_at_step": S,
  // "interrupted_after_epoch": E}. The CLI passes a test of the flag its SIGINT/SIGTERM handler sets.
  std::function<bool()> stop;
  // The backend to train on instead of a new one for the device (which it must be the backend of;
  // opt.math is then the backend's), e.g. one that records allocations. Not owned; it must outlive
  // the call.
  Backend* backend = nullptr;
};

// "fp32", "tf32", "bf16" -> MathMode; throws UsageError otherwise.
MathMode parse_math_mode(const std::string& s);

// Every tensor train() allocates in the training device's memory for this config, in allocation
// order (sptrain/memory.hpp): the model's (model_memory at train.micro_batch), the optimizer's
// (optimizer_memory), the trainer's micro-batch inputs, targets, loss gradient and step scalars,
// and, while a validation or test set is evaluated, a chunk of its targets and inputs. For one
// process; a data-parallel GPU run in allreduce mode adds one message of the parameters, the
// running statistics and 8 floats, and a data-parallel run with dist.batchnorm = "sync" and a
// micro-batch below the batch one slab of the parameters (the noise scale's small-batch gradient).
MemoryAccount training_memory(const TrainConfig& c);

// Trains, writing run_dir/{config.json, metrics.jsonl, metrics.csv, last.safetensors,
// best.safetensors, results.json}. Returns results.json's content. A non-finite training loss,
// gradient norm, validation or test metric throws std::runtime_error naming the phase and step;
// no checkpoint of that state is written.
nlohmann::json train(const TrainConfig& cfg, const Device& dev, const TrainOptions& opt);

// MAPE (Keras: percent, |truth| floored at 1e-7), MAE, MSE and n of estimates against the finite
// entries of `truth`: the one definition used by training, eval and the baselines.
nlohmann::json regression_metrics(const std::vector<double>& est, const std::vector<float>& truth);

// The device for training and model evaluation: resolve_device() ("auto" picks the first GPU when
// there is one, else the CPU).
Device resolve_training_device(const std::string& spec);

// Model inputs and targets for a batch of trajectories.
void make_targets(const TrainConfig& cfg, const TrajectoryBatch& b, std::vector<float>& targets);
// Metrics of predictions against targets: loss, and mae/mse/mape (regression) or accuracy.
nlohmann::json evaluate(const TrainConfig& cfg, Model& model, Backend& be, const std::vector<float>& x,
                        const std::vector<float>& y, int64_t n, int64_t chunk, std::vector<float>* predictions = nullptr);

}  // namespace sptrain
