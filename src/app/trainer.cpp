// The trainer: data (fresh counter-based trajectories every step, or a fixed split), micro-batched
// gradient accumulation, optimizer and schedules, validation, early stopping, best/last
// checkpoints, metrics logs and exact resume. Trajectories of training step s are the global
// indices [s*batch, (s+1)*batch) of the training seed, so any step's batch is reproducible and the
// result does not depend on how a batch is split into micro-batches.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <optional>

#include "philox_normal.cuh"
#include "simulate.cuh"
#include "targets.cuh"
#include "dist/communicator.hpp"
#include "engine/batch_source.hpp"
#include "engine/nvtx.hpp"
#include "engine/seeds.hpp"
#include "sptrain/baselines.hpp"
#include "sptrain/checkpoint.hpp"
#include "sptrain/error.hpp"
#include "sptrain/io.hpp"
#include "sptrain/metrics_log.hpp"
#include "sptrain/noise_scale.hpp"
#include "sptrain/optimizer.hpp"
#include "sptrain/predictor.hpp"
#include "sptrain/train.hpp"

namespace sptrain {

namespace fs = std::filesystem;

namespace {

// Seeds of the three data streams: disjoint purposes of the data seed.
uint64_t train_seed(const TrainConfig& c) { return c.data_seed; }
uint64_t val_seed(const TrainConfig& c) { return sim::splitmix64(c.data_seed ^ seeds::kValidation); }
uint64_t test_seed(const TrainConfig& c) { return sim::splitmix64(c.data_seed ^ seeds::kTest); }

struct Dataset {
  std::vector<float> x, y;  // (n, T, C), (n, outputs)
  int64_t n = 0;
};

Dataset generate(const TrainConfig& c, uint64_t seed, int64_t first, int64_t n, TrajectoryBatch* keep = nullptr) {
  TrajectoryBatch local;
  Dataset d;
  d.n = n;
  host_batch(c, seed, first, n, keep ? *keep : local, d.x, d.y);
  return d;
}

// The classical step-size estimators on the same test trajectories, for a sigma label.
nlohmann::json sigma_baselines(const TrainConfig& c, const TrajectoryBatch& b, const std::vector<float>& y) {
  if (c.label != LabelKind::Sigma) return nullptr;
  const SimParams& p = b.params;
  const std::vector<float> dx =
      compute_features(FeatureSpec{FeatureKind::Displacements, false, 0.0f}, b.positions.data(), b.n, p.length, p.dims);
  const baselines::SeriesBatch batch{dx.data(), b.n, p.steps(), p.dims};
  nlohmann::json out;
  const std::pair<const char*, baselines::Estimator> methods[] = {{"mle", baselines::Estimator::MleZeroMean},
                                                                  {"mle_mean_removed", baselines::Estimator::MleSampleMean},
                                                                  {"cve", baselines::Estimator::Cve}};
  for (const auto& [name, e] : methods) {
    out[name] = regression_metrics(baselines::estimate_sigma(e, batch), y);
    out[name].erase("n");
  }
  return out;
}

bool better(double v, double best, bool maximize, double min_delta) {
  if (!std::isfinite(best)) return std::isfinite(v);
  return maximize ? v > best + min_delta : v < best - min_delta;
}

std::string fmt_time(double s) {
  char buf[32];
  int t = int(s + 0.5);
  std::snprintf(buf, sizeof buf, "%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60);
  return buf;
}

// Everything that must survive an interruption besides the parameters and optimizer moments.
struct TrainerState {
  int64_t epoch = 0;  // epochs completed
  int64_t step = 0;   // optimizer steps taken
  double lr = 0;
  double best_ckpt = NAN, es_best = NAN, plateau_best = NAN;
  int64_t es_wait = 0, plateau_wait = 0;
  int64_t best_epoch = 0;  // epoch of best.safetensors
  int64_t target_step = -1;  // step at which the config's target was reached
  bool stopped = false;
  // Loss sum of the steps taken in the unfinished epoch: only a checkpoint written between two
  // epoch ends (step != epoch x steps per epoch: a stop request) records it, so epoch-end
  // checkpoints are as before.
  double epoch_loss_sum = 0;
  NoiseScaleEstimator noise;  // gradient noise scale from micro-batch and batch gradient norms
  nlohmann::json to_json(int64_t steps_per_epoch) const {
    nlohmann::json j = {{"epoch", epoch}, {"step", step}, {"lr", lr}, {"best_ckpt", best_ckpt}, {"es_best", es_best},
                        {"plateau_best", plateau_best}, {"es_wait", es_wait}, {"plateau_wait", plateau_wait},
                        {"stopped", stopped}, {"best_epoch", best_epoch}, {"noise", noise_state()},
                        {"target_step", target_step}};
    if (step != epoch * steps_per_epoch) j["epoch_loss_sum"] = epoch_loss_sum;
    return j;
  }
  nlohmann::json noise_state() const {
    double g, s;
    int64_t n;
    noise.get_state(g, s, n);
    return {g, s, n};
  }
  // The state recorded in a checkpoint's "trainer" metadata, every field type- and range-checked
  // against this run (steps_per_epoch): a bad value is a UsageError naming `who` and the field.
  void from_json(const nlohmann::json& j, const std::string& who, int64_t steps_per_epoch) {
    auto bad = [&](const std::string& field, const std::string& what) {
      return UsageError(who + ": metadata 'trainer', field '" + field + "': " + what);
    };
    if (!j.is_object()) throw UsageError(who + ": metadata 'trainer' is not a JSON object");
    auto field = [&](const char* k) -> const nlohmann::json& {
      auto it = j.find(k);
      if (it == j.end()) throw bad(k, "missing");
      return *it;
    };
    auto integer = [&](const char* k, int64_t lo, int64_t hi) {
      const nlohmann::json& v = field(k);
      if (!v.is_number_integer()) throw bad(k, io::quote_untrusted(v.dump()) + " is not an integer");
      if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) throw bad(k, "out of range");
      const int64_t x = v.get<int64_t>();
      if (x < lo || x > hi)
        throw bad(k, std::to_string(x) + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
      return x;
    };
    // A best value: a finite number, or null (none yet).
    auto best = [&](const char* k) {
      const nlohmann::json& v = field(k);
      if (v.is_null()) return double(NAN);
      if (!v.is_number() || !std::isfinite(v.get<double>()))
        throw bad(k, io::quote_untrusted(v.dump()) + " is not a finite number or null");
      return v.get<double>();
    };
    const int64_t max_epoch = INT64_MAX / std::max<int64_t>(steps_per_epoch, 1);
    epoch = integer("epoch", 0, max_epoch);
    step = integer("step", 0, INT64_MAX);
    // An epoch-end checkpoint holds step = epoch x steps per epoch; one written at a step boundary
    // inside an epoch (a stop request) holds a step of the unfinished epoch and its loss so far.
    const int64_t in_epoch = step - epoch * steps_per_epoch;
    if (in_epoch < 0 || in_epoch >= steps_per_epoch)
      throw bad("step", std::to_string(step) + " is not in epoch " + std::to_string(epoch + 1) + " of " +
                            std::to_string(steps_per_epoch) + " steps per epoch");
    if (in_epoch > 0) {  // written at a step boundary inside an epoch: with the epoch's loss so far
      if (!j.contains("epoch_loss_sum"))
        throw bad("step", std::to_string(step) + " is inside epoch " + std::to_string(epoch + 1) +
                              " but there is no epoch_loss_sum (an epoch-end checkpoint holds epoch x " +
                              std::to_string(steps_per_epoch) + " steps per epoch)");
      const nlohmann::json& ls = field("epoch_loss_sum");
      if (!ls.is_number() || !std::isfinite(ls.get<double>()))
        throw bad("epoch_loss_sum", io::quote_untrusted(ls.dump()) + " is not a finite number");
      epoch_loss_sum = ls.get<double>();
    }
    const nlohmann::json& l = field("lr");
    if (!l.is_number() || !(l.get<double>() >= 0) || !std::isfinite(l.get<double>()))
      throw bad("lr", io::quote_untrusted(l.dump()) + " is not a finite number >= 0");
    lr = l.get<double>();
    best_ckpt = best("best_ckpt");
    es_best = best("es_best");
    plateau_best = best("plateau_best");
    es_wait = integer("es_wait", 0, epoch);
    plateau_wait = integer("plateau_wait", 0, epoch);
    if (!field("stopped").is_boolean()) throw bad("stopped", "not true or false");
    stopped = field("stopped").get<bool>();
    best_epoch = j.contains("best_epoch") ? integer("best_epoch", 0, epoch) : 0;
    target_step = j.contains("target_step") ? integer("target_step", -1, step) : -1;
    if (j.contains("noise")) {
      const nlohmann::json& n = j["noise"];
      if (!n.is_array() || n.size() != 3 || !n[0].is_number() || !n[1].is_number() || !n[2].is_number_integer() ||
          !std::isfinite(n[0].get<double>()) || !std::isfinite(n[1].get<double>()) || n[2].get<int64_t>() < 0)
        throw bad("noise", io::quote_untrusted(n.dump()) + " is not [finite, finite, count >= 0]");
      noise.set_state(n[0].get<double>(), n[1].get<double>(), n[2].get<int64_t>());
    }
  }
};

OptimizerSettings optimizer_settings(const TrainConfig& c) {
  OptimizerSettings s;
  s.beta1 = c.beta1, s.beta2 = c.beta2, s.eps = c.eps;
  s.momentum = c.momentum, s.nesterov = c.nesterov;
  s.weight_decay = c.weight_decay, s.lars_eta = c.lars_eta;
  return s;
}

// The trainer's own tensors (training_memory's after the model's and the optimizer's): the
// micro-batch's inputs, targets and loss gradient, and the step scalars.
std::vector<TensorAccount> trainer_buffers(const TrainConfig& c) {
  const size_t m = size_t(c.micro_batch);
  return {{"train/x", TensorRole::Input, -1, m * size_t(c.model.T_in) * size_t(c.model.C_in), sizeof(float), true},
          {"train/y", TensorRole::Targets, -1, m * size_t(c.target_elems()), sizeof(float), true},
          {"train/dy", TensorRole::LossGradient, -1, m * size_t(c.target_elems()), sizeof(float), true},
          {"step_scalars", TensorRole::StepScalars, -1, size_t(kStepScalars), sizeof(double), false}};
}
}  // namespace

MemoryAccount training_memory(const TrainConfig& c) {
  const ModelInfo info = analyze(c.model);
  MemoryAccount a = model_memory(c.model, c.micro_batch);
  a.append(optimizer_memory(c.optimizer, optimizer_settings(c), info.params));
  a.append(trainer_buffers(c));
  // data.lengths: the network at each other length, over the same parameter slabs.
  for (int L : c.lengths) {
    if (L == c.spec.params.length) continue;
    for (TensorAccount t : model_memory(c.at_length(L).model, c.micro_batch).tensors) {
      if (t.role == TensorRole::Parameters || t.role == TensorRole::ParameterGradients || t.role == TensorRole::RunningStats)
        continue;
      t.name = "length" + std::to_string(L) + "/" + t.name;
      a.tensors.push_back(t);
    }
  }
  // evaluate() on the larger of the validation and test sets, in chunks of the micro-batch: its
  // targets' chunk, then forward_in_chunks' inputs.
  const size_t chunk = size_t(std::min(c.micro_batch, std::max(c.val_size, c.test_size)));
  const Shape out = info.shapes[size_t(info.output_index)];
  const bool scales = int64_t(chunk) == c.micro_batch;
  if (chunk > 0) {
    a.tensors.push_back({"eval/y", TensorRole::EvalTargets, -1, chunk * size_t(out.T) * size_t(out.C), sizeof(float), scales});
    a.tensors.push_back({"eval/x", TensorRole::EvalInput, -1, chunk * size_t(c.model.T_in) * size_t(c.model.C_in),
                         sizeof(float), scales});
  }
  return a;
}

namespace {

// The ranks of a run with dist.batchnorm = "sync", for the BatchNorm ops: their partial channel
// sums gathered in rank order over the communicator (MPI, through host memory for GPU ranks too).
class RankBatchNormSync : public BatchNormSync {
 public:
  explicit RankBatchNormSync(dist::Communicator& comm) : comm_(comm) {}
  void allgather(const double* mine, size_t n, double* all) override { comm_.allgather(mine, n, all); }
  int ranks() const override { return comm_.size(); }

 private:
  dist::Communicator& comm_;
};

class Trainer {
 public:
  Trainer(const TrainConfig& c, const Device& dev, const TrainOptions& opt)
      : c_(c), opt_(opt), own_be_(opt.backend ? nullptr : make_backend(dev, opt.math)),
        be_(opt.backend ? opt.backend : own_be_.get()) {
    if (!opt_.comm) {
      own_comm_ = dist::single_process();
      opt_.comm = own_comm_.get();
    }
    comm_ = opt_.comm;
    comm_->set_timeout(c.dist_timeout_s);
    if (comm_->distributed()) {
      const int64_t R = comm_->size();
      if (c.batch % R != 0 || (c.batch / R) % c.micro_batch != 0)
        throw UsageError("train.batch " + std::to_string(c.batch) + " over " + std::to_string(R) +
                         " ranks: each rank's share (batch / ranks) must be a whole multiple of train.micro_batch " +
                         std::to_string(c.micro_batch) +
                         ", so that every rank count sees the same micro-batches (set train.batch to a multiple of " +
                         std::to_string(R * c.micro_batch) + ", or choose train.micro_batch to divide " +
                         (c.batch % R == 0 ? std::to_string(c.batch / R) : std::string("the share")) + ")");
    }
    if (comm_->distributed() && !c.lengths.empty())
      throw UsageError("data.lengths: not in a distributed run yet (train on one process, or drop data.lengths)");
#ifdef SPTRAIN_HAVE_NCCL
    if (comm_->distributed() && c.reduce == DistReduce::Allreduce && dev.is_cuda())
      nccl_ = dist::make_nccl_reducer(*comm_, dev.ordinal);
#endif
    try {
      model_ = std::make_unique<Model>(c.model, *be_, int(c.micro_batch), c.init_seed);
      // Only BatchNorm layers hold running statistics: a model without them trains as with "local".
      if (comm_->distributed() && c.dist_batchnorm == DistBatchNorm::Sync && model_->n_state() > 0) {
        bn_sync_ = std::make_unique<RankBatchNormSync>(*comm_);
        model_->set_batchnorm_sync(bn_sync_.get());
      }
      out_shape_ = model_->output_shape();
      optim_ = make_optimizer(c.optimizer, *be_, optimizer_settings(c), model_->info().params);
      in_elems_ = size_t(c.model.T_in) * c.model.C_in;
      const std::vector<TensorAccount> t = trainer_buffers(c);
      x_dev_ = be_->alloc<float>(t[0].elements, t[0].name.c_str());
      y_dev_ = be_->alloc<float>(t[1].elements, t[1].name.c_str());
      g_dev_ = be_->alloc<float>(t[2].elements, t[2].name.c_str());
      scal_ = be_->alloc<double>(t[3].elements, t[3].name.c_str());
      if (!c.fixed) src_ = make_batch_source(c, train_seed(c), *be_, c.micro_batch);
      // data.lengths: the network at each other length over the same slabs, with its own source.
      for (int L : c.lengths) {
        if (L == c.spec.params.length) {
          at_.push_back(nullptr);
          continue;
        }
        auto& a = *at_.emplace_back(std::make_unique<AtLength>());
        a.cfg = c.at_length(L);
        a.model = std::make_unique<Model>(a.cfg.model, *model_, int(c.micro_batch), "length" + std::to_string(L) + "/");
        a.src = make_batch_source(a.cfg, train_seed(c), *be_, c.micro_batch);
      }
    } catch (const OutOfDeviceMemory& e) {
      free_all();
      throw OutOfDeviceMemory(std::string(e.what()) + suggestion(dev), e.asked, e.free);
    }
    st_.lr = c.lr;
  }
  ~Trainer() { free_all(); }

  nlohmann::json run();

 private:
  void free_all() noexcept {
    at_.clear();
    optim_.reset();
    for (Buffer<float>* b : {&x_dev_, &y_dev_, &g_dev_, &msg_dev_, &small_dev_}) b->reset();
    scal_.reset();
  }
  // The micro-batch that fits: free memory (with 10 % headroom, after the model's parameter slabs)
  // over the bytes one sample needs.
  std::string suggestion(const Device& dev) {
    src_.reset();
    model_.reset();
    size_t free_b = 0, total_b = 0;
    be_->memory_info(free_b, total_b);
    const MemoryAccount acc = training_memory(c_);
    const size_t per = size_t(std::ceil(acc.bytes_per_sample()));
    const double usable = 0.9 * double(free_b) - double(acc.fixed_bytes());
    const int64_t fit = usable > 0 ? int64_t(usable / double(per)) : 0;
    return "; micro_batch " + std::to_string(c_.micro_batch) + " needs " + std::to_string(per) +
           " bytes per sample on " + dev.str() + ": try --set train.micro_batch=" +
           std::to_string(std::max<int64_t>(1, fit)) + " (batch stays " + std::to_string(c_.batch) +
           " through accumulation)";
  }
  double schedule_lr(int64_t step) const;
  // Throws for a non-finite value: what it was, the phase and step (the step being taken in
  // training, the last one taken in validation and test), and which checkpoint is still good.
  [[noreturn]] void diverged(const std::string& what, double v, const char* phase) const {
    const bool training = std::string(phase) == "training", test = std::string(phase) == "test";
    std::string msg = "training diverged at step " + std::to_string(training ? st_.step + 1 : st_.step) + " (epoch " +
                      std::to_string(test ? st_.epoch : st_.epoch + 1) + ", " + phase + "): non-finite " + what + " (" +
                      std::to_string(v) + "); ";
    msg += last_saved_step_ >= 0 ? "last.safetensors keeps the state of step " + std::to_string(last_saved_step_)
                                 : std::string("no checkpoint was written");
    throw std::runtime_error(msg + " (lower train.lr, or set train.clip_norm)");
  }
  // Throws through diverged() unless every number in `m` is finite.
  void check_finite(const nlohmann::json& m, const char* phase) const {
    for (auto& [k, v] : m.items())
      if (v.is_null() || (v.is_number() && !std::isfinite(v.get<double>())))
        diverged(k, v.is_null() ? NAN : v.get<double>(), phase);
  }
  double train_step(int64_t step, const Dataset* fixed, const std::vector<int64_t>& perm);
  double train_step_ranks(int64_t step, const Dataset* fixed, const std::vector<int64_t>& perm);
  double train_step_allreduce(int64_t step, const Dataset* fixed, const std::vector<int64_t>& perm, bool stop);
  void start_step(int64_t step, double* scal);  // the step scalars (lr, t, clip; sums zeroed) uploaded
  void accumulate(int64_t step, const Dataset* fixed, const std::vector<int64_t>& perm, int64_t begin, int64_t end,
                  int64_t stride, bool small_norm);
  double finish_step(double* scal, int64_t small);  // small: the noise scale's small batch
  // Where rank r's j-th micro-batch of a step starts in the step's batch: its share's j-th, or
  // with synchronized BatchNorm the r-th part of the step's j-th micro-batch of ranks x
  // micro_batch trajectories (those one process with that micro-batch takes together).
  int64_t micro_batch_offset(int64_t j) const {
    const int64_t MB = c_.micro_batch, R = comm_->size(), r = comm_->rank();
    return bn_sync_ ? (j * R + r) * MB : r * (c_.batch / R) + j * MB;
  }
  // The trajectories whose gradient norm is the noise scale's small batch (the step's first
  // micro-batch, of every rank with synchronized BatchNorm).
  int64_t small_batch() const { return bn_sync_ ? comm_->size() * c_.micro_batch : c_.micro_batch; }
  void gather_rows(const Dataset& fixed, const std::vector<int64_t>& perm, int64_t base, int64_t m);
  bool root() const { return comm_->rank() == 0; }
  // Rank 0 writes the checkpoint; every rank waits until it is complete.
  void save_shared(const std::string& path) {
    if (root()) save(path);
    comm_->barrier();
  }
  void save(const std::string& path);
  void load(const std::string& path, bool weights_only = false);
  // Every rank must hold the same weights and running statistics (each applies the same update
  // to the same sums); checked at every epoch end by a hash of their bytes, since rank 0 alone
  // writes them.
  void check_ranks_agree() {
    const size_t P = model_->n_params(), S = model_->n_state();
    std::vector<float> h(P + S);
    be_->download(h.data(), model_->params(), P);
    if (S > 0) be_->download(h.data() + P, model_->state(), S);
    uint64_t x = 1469598103934665603ull;  // FNV-1a over the bytes
    for (const unsigned char* p = reinterpret_cast<const unsigned char*>(h.data()), *e = p + h.size() * sizeof(float);
         p < e; ++p)
      x = (x ^ *p) * 1099511628211ull;
    const double mine[2] = {double(x >> 32), double(x & 0xffffffffu)};  // exact in doubles
    std::vector<double> all(2 * size_t(comm_->size()));
    comm_->allgather(mine, 2, all.data());
    for (int r = 1; r < comm_->size(); ++r)
      if (all[2 * r] != all[0] || all[2 * r + 1] != all[1])
        throw std::runtime_error("after step " + std::to_string(st_.step) + " rank " + std::to_string(r) +
                                 " holds other weights than rank 0 (the ranks' sums differed; with dist.reduce = "
                                 "\"allreduce\" the MPI library's reduction is not the same on every rank: use "
                                 "dist.reduce = \"exact\")");
  }
  nlohmann::json eval(const Dataset& d, std::vector<float>* pred = nullptr) {
    NvtxRange r("evaluate");
    return evaluate(c_, *model_, *be_, d.x, d.y, d.n, c_.micro_batch, pred);
  }

  const TrainConfig& c_;
  TrainOptions opt_;
  std::unique_ptr<dist::Communicator> own_comm_;  // when opt.comm is null: this process alone
  dist::Communicator* comm_ = nullptr;
  std::unique_ptr<dist::DeviceReducer> nccl_;     // GPU ranks in allreduce mode, when built with NCCL
  std::unique_ptr<Backend> own_be_;  // null when TrainOptions::backend is given
  Backend* be_ = nullptr;
  std::unique_ptr<BatchNormSync> bn_sync_;  // dist.batchnorm = "sync" in a distributed run
  std::unique_ptr<Model> model_;
  Shape out_shape_;
  std::unique_ptr<Optimizer> optim_;  // owns its state slabs
  Buffer<float> x_dev_, y_dev_, g_dev_;
  Buffer<double> scal_;  // StepScalar slots in backend memory
  Buffer<float> msg_dev_;  // NCCL's message: gradient slab, running statistics, the scalars
  Buffer<float> small_dev_;  // allreduce mode with synchronized BatchNorm: the first micro-batches' gradient
  std::unique_ptr<BatchSource> src_;
  // data.lengths: per entry the network and source at that length (null: the spec's length, model_
  // and src_). AtLength::cfg outlives the source, which reads it.
  struct AtLength {
    TrainConfig cfg;
    std::unique_ptr<Model> model;
    std::unique_ptr<BatchSource> src;
  };
  std::vector<std::unique_ptr<AtLength>> at_;
  int64_t src_first_ = -1;  // where the source's counter stands after the last step
  size_t in_elems_ = 0;
  TrainerState st_;
  int64_t last_saved_step_ = -1;  // the step last.safetensors holds (-1: none)
  bool stop_agreed_ = false;      // allreduce mode: a stop request of any rank, agreed on in the last step
};

double Trainer::schedule_lr(int64_t step) const {
  switch (c_.schedule) {
    case Schedule::Constant: return c_.lr;
    case Schedule::Plateau: return st_.lr;
    case Schedule::Warmup:
      return c_.warmup_steps > 0 && step < c_.warmup_steps ? c_.lr * double(step + 1) / double(c_.warmup_steps) : c_.lr;
    case Schedule::Cosine: {
      const double total = double(c_.epochs * c_.steps_per_epoch);
      if (c_.warmup_steps > 0 && step < c_.warmup_steps) return c_.lr * double(step + 1) / double(c_.warmup_steps);
      double t = (double(step) - c_.warmup_steps) / std::max(1.0, total - c_.warmup_steps);
      return c_.min_lr + 0.5 * (c_.lr - c_.min_lr) * (1 + std::cos(M_PI * std::min(1.0, t)));
    }
  }
  return c_.lr;
}

// One optimizer step without host round trips inside it: per micro-batch, generate (on the device
// for fresh data) -> forward -> loss (accumulated on the device) -> backward into the gradient slab;
// then the gradient norm and the optimizer read lr, t and the clip from device scalars. On the GPU
// each micro-batch and the update are replayed CUDA graphs (Backend::run_captured); the host reads
// the step's loss and gradient norms once, after the update.
double Trainer::train_step(int64_t step, const Dataset* fixed, const std::vector<int64_t>& perm) {
  double scal[kStepScalars];
  start_step(step, scal);
  accumulate(step, fixed, perm, 0, c_.batch, c_.micro_batch, c_.micro_batch < c_.batch);
  return finish_step(scal, c_.micro_batch);
}

void Trainer::start_step(int64_t step, double* scal) {
  std::fill_n(scal, kStepScalars, 0.0);
  scal[kLr] = schedule_lr(step);
  scal[kT] = double(step + 1);
  scal[kClipNorm] = c_.clip_norm;
  be_->upload_f64(scal_.get(), scal, kStepScalars);
}

// Micro-batches of step `step` starting at begin, begin + stride, ... (before end; stride
// micro_batch: trajectories [begin, end)), their gradients accumulated into the zeroed slab and
// their losses (weighted by m / batch) into the loss scalar; with `small_norm`, the first
// micro-batch's squared gradient norm into kGradSmallSq (for the noise scale; with synchronized
// BatchNorm, of the first micro-batches of every rank, summed over the ranks).
void Trainer::accumulate(int64_t step, const Dataset* fixed, const std::vector<int64_t>& perm, int64_t begin,
                         int64_t end, int64_t stride, bool small_norm) {
  const int64_t B = c_.batch, MB = c_.micro_batch;
  const bool strided = stride != MB;
  // data.lengths: this step's length (entry step % size); its network shares model_'s slabs.
  const size_t li = c_.lengths.empty() ? 0 : size_t(step % int64_t(c_.lengths.size()));
  AtLength* at = c_.lengths.empty() ? nullptr : at_[li].get();
  Model& model = at ? *at->model : *model_;
  BatchSource* src = at ? at->src.get() : src_.get();
  const Shape out_shape = model.output_shape();
  const int key_base = at ? 8 * int(li + 1) : 0;  // each network's own captured graphs
  if (!c_.lengths.empty()) src_first_ = -1;  // several sources: each step sets its own counter
  // The source's counter advances by the trajectories generated (eagerly or in replayed graphs), so
  // it is set only when it cannot already be there: the first step of this invocation (fresh or
  // resumed), and every step of a rank that generates a share of each step.
  if (!fixed && !strided && src_first_ != step * B + begin) src->set_first(step * B + begin);
  src_first_ = strided || !c_.lengths.empty() ? -1 : step * B + end;
  for (int64_t off = begin; off < end; off += stride) {
    const int64_t m = std::min(MB, end - off);
    const bool first_mb = off == begin;
    if (fixed) gather_rows(*fixed, perm, (step % c_.steps_per_epoch) * B + off, m);
    else if (strided) src->set_first(step * B + off);
    auto micro_batch = [&, m, first_mb] {
      if (first_mb) model.zero_grads();
      if (!fixed) {
        NvtxRange r("generate");
        src->next(m, x_dev_.get(), y_dev_.get());
      }
      const float* out;
      {
        NvtxRange r("forward");
        out = model.forward(x_dev_.get(), int(m), true);
        be_->loss_accumulate(c_.loss, int(m) * out_shape.T, out_shape.C, out, y_dev_.get(), g_dev_.get(), float(double(m) / B),
                             double(m) / double(B), scal_.get() + kLossSum);
      }
      {
        NvtxRange r("backward");
        model.backward(g_dev_.get());
      }
      if (first_mb && small_norm) {  // the first micro-batch's gradient, for the noise scale
        NvtxRange r("reduce");
        const size_t P = model.n_params();
        if (bn_sync_) {  // every rank's part of the global first micro-batch, summed
          std::vector<float> g(P);
          be_->download(g.data(), model.grads(), P);
          comm_->allreduce_sum(g.data(), P, nullptr, 0);
          if (!small_dev_) small_dev_ = be_->alloc<float>(P);
          be_->upload(small_dev_.get(), g.data(), P);
        }
        be_->sum_squares_to(bn_sync_ ? small_dev_.get() : model.grads(), P, scal_.get() + kGradSmallSq);
      }
    };
    // Keys: 0 and 1 the first and later full micro-batches, 2 and 3 a shorter tail (fixed data
    // gathers on the host, so its micro-batches run eagerly, as do those whose BatchNorm
    // statistics are combined over the ranks through the host).
    const int key = key_base + (first_mb ? 0 : 1) + (m < MB ? 2 : 0);
    NvtxRange r("micro-batch");
    if (fixed || bn_sync_) micro_batch();
    else be_->run_captured(key, micro_batch);
  }
}

// The update from the gradient slab and the step scalars in backend memory (the loss and, for the
// noise scale, kGradSmallSq already there; kGradSq zero): the gradient norm and the optimizer step,
// then the host reads the scalars once, checks them and updates the noise scale.
double Trainer::finish_step(double* scal, int64_t small) {
  const int64_t B = c_.batch, MB = small;
  const size_t P = model_->n_params();
  {
    NvtxRange r("optimizer");
    be_->run_captured(4, [&] {
      be_->sum_squares_to(model_->grads(), P, scal_.get() + kGradSq);
      optim_->step(*be_, model_->params(), model_->grads(), P, scal_.get());
    });
  }
  be_->download_f64(scal, scal_.get(), kStepScalars);
  const double loss = scal[kLossSum], gn2 = scal[kGradSq];
  if (!std::isfinite(loss)) diverged("loss", loss, "training");
  if (!std::isfinite(gn2)) diverged("gradient norm", std::sqrt(gn2), "training");
  if (MB < B) {
    const double sc = double(B) / double(MB);
    st_.noise.update(scal[kGradSmallSq] * sc * sc, double(MB), gn2, double(B));
  }
  return loss;
}

// Rows [base, base + m) of the epoch's permutation of the fixed training set, gathered on the host
// and uploaded as the micro-batch's inputs and targets.
void Trainer::gather_rows(const Dataset& fixed, const std::vector<int64_t>& perm, int64_t base, int64_t m) {
  NvtxRange r("generate");
  const int64_t outs = c_.target_elems();
  std::vector<float> xb(size_t(m) * in_elems_), yb(size_t(m) * outs);
  for (int64_t i = 0; i < m; ++i) {
    const int64_t src = perm[(base + i) % fixed.n];
    std::copy_n(&fixed.x[src * in_elems_], in_elems_, &xb[i * in_elems_]);
    std::copy_n(&fixed.y[src * outs], outs, &yb[i * outs]);
  }
  be_->upload(x_dev_.get(), xb.data(), xb.size());
  be_->upload(y_dev_.get(), yb.data(), yb.size());
}

// The step of a distributed run (exact mode). Rank r of R takes the trajectories
// [s*B + r*B/R, s*B + (r+1)*B/R) in micro-batches of MB (B/R a multiple of MB, so every rank count
// has the same micro-batch boundaries). Each micro-batch's gradient is computed into a zeroed slab
// and its loss into a zeroed scalar; the slabs and losses are gathered to every rank in rank order,
// which is the global micro-batch order, and summed in that order on the host. Running statistics
// (BatchNorm) pass along the ranks in order, so they see the micro-batches in the same order too.
// Every rank count therefore performs the same float operations in the same order, and every rank
// takes the same optimizer step. It is a different order from the single-process step (whose
// backward accumulates each micro-batch into the slab), so only distributed runs use it.
// With synchronized BatchNorm the ranks' j-th micro-batches are parts of the step's j-th
// micro-batch of R x MB trajectories, whose statistics the BatchNorm ops combine over the ranks:
// every rank then updates the running statistics alike, so they need no chain and all ranks
// compute at once.
double Trainer::train_step_ranks(int64_t step, const Dataset* fixed, const std::vector<int64_t>& perm) {
  const int64_t B = c_.batch, MB = c_.micro_batch, R = comm_->size(), r = comm_->rank();
  const int64_t share = B / R, K_local = share / MB, K = B / MB;
  const bool chain = model_->n_state() > 0 && !bn_sync_;
  const size_t P = model_->n_params(), S = model_->n_state();
  double scal[kStepScalars] = {};
  scal[kLr] = schedule_lr(step);
  scal[kT] = double(step + 1);
  scal[kClipNorm] = c_.clip_norm;
  if (!fixed && !bn_sync_) src_->set_first(step * B + r * share);
  src_first_ = -1;  // a later single-process step sets its own counter
  std::vector<float> state(S);
  if (chain && r > 0) {  // the running statistics after the micro-batches of the ranks before
    comm_->recv(state.data(), S, int(r - 1));
    be_->upload(model_->state(), state.data(), S);
  }
  std::vector<float> mine(size_t(K_local) * P);  // (K_local, P): this rank's micro-batch gradients
  std::vector<double> my_loss(K_local);
  for (int64_t j = 0; j < K_local; ++j) {
    const int64_t off = micro_batch_offset(j);
    if (fixed) gather_rows(*fixed, perm, (step % c_.steps_per_epoch) * B + off, MB);
    else if (bn_sync_) src_->set_first(step * B + off);
    scal[kLossSum] = 0;
    be_->upload_f64(scal_.get(), scal, kStepScalars);
    model_->zero_grads();
    if (!fixed) {
      NvtxRange g("generate");
      src_->next(MB, x_dev_.get(), y_dev_.get());
    }
    {
      NvtxRange f("forward");
      const float* out = model_->forward(x_dev_.get(), int(MB), true);
      be_->loss_accumulate(c_.loss, int(MB) * out_shape_.T, out_shape_.C, out, y_dev_.get(), g_dev_.get(),
                           float(double(MB) / B), double(MB) / double(B), scal_.get() + kLossSum);
    }
    {
      NvtxRange b("backward");
      model_->backward(g_dev_.get());
    }
    be_->download(&mine[size_t(j) * P], model_->grads(), P);
    be_->download_f64(scal, scal_.get(), kStepScalars);
    my_loss[j] = scal[kLossSum];
  }
  if (chain) {  // pass the statistics on; the last rank's are everyone's
    be_->download(state.data(), model_->state(), S);
    if (r + 1 < R) comm_->send(state.data(), S, int(r + 1));
    comm_->broadcast(state.data(), S, int(R - 1));
    be_->upload(model_->state(), state.data(), S);
  }
  std::vector<float> all(size_t(K) * P);  // (K, P): every micro-batch's gradient, in global order
  std::vector<double> losses(K);
  {
    NvtxRange g("gather");
    comm_->allgather(mine.data(), size_t(K_local) * P, all.data());
    comm_->allgather(my_loss.data(), size_t(K_local), losses.data());
  }
  std::vector<float> grad(all.begin(), all.begin() + P);
  for (int64_t k = 1; k < K; ++k) {
    const float* gk = &all[size_t(k) * P];
    for (size_t i = 0; i < P; ++i) grad[i] += gk[i];
  }
  double loss = 0;
  for (int64_t k = 0; k < K; ++k) loss += losses[k];
  scal[kLossSum] = loss;
  scal[kGradSmallSq] = scal[kGradSq] = 0;
  be_->upload_f64(scal_.get(), scal, kStepScalars);
  if (small_batch() < B) {  // the first micro-batch's gradient, for the noise scale
    std::vector<float> small(all.begin(), all.begin() + P);
    if (bn_sync_)  // the first micro-batch of R x MB: every rank's first, in rank order
      for (int64_t q = 1; q < R; ++q)
        for (size_t i = 0; i < P; ++i) small[i] += all[size_t(q * K_local) * P + i];
    be_->upload(model_->grads(), small.data(), P);
    be_->sum_squares_to(model_->grads(), P, scal_.get() + kGradSmallSq);
  }
  be_->upload(model_->grads(), grad.data(), P);
  return finish_step(scal, small_batch());
}

// The step of a distributed run in allreduce mode (dist.reduce = "allreduce"): rank r accumulates
// its share [s*B + r*B/R, s*B + (r+1)*B/R) into its gradient slab as one process does, then one
// MPI_Allreduce sums, in a single float message, the slabs, the running statistics (averaged
// afterwards), the loss, rank 0's first micro-batch gradient norm (the noise scale's small batch,
// as in exact mode) and every rank's stop request. The float sums are reassociated (within a rank
// by backward's accumulation, across ranks by MPI's algorithm), so results match exact mode to
// rounding, not bitwise; every rank receives the same sums, so all take the same update.
// With synchronized BatchNorm rank r takes the r-th part of each of the step's micro-batches of
// R x MB trajectories (micro_batch_offset), every rank computes the small batch's norm from the
// ranks' first micro-batches summed, and the running statistics, the same on every rank, stay
// out of the message.
double Trainer::train_step_allreduce(int64_t step, const Dataset* fixed, const std::vector<int64_t>& perm,
                                     bool stop) {
  const int64_t B = c_.batch, MB = c_.micro_batch, R = comm_->size(), r = comm_->rank(), share = B / R;
  const size_t P = model_->n_params(), S = bn_sync_ ? 0 : model_->n_state();
  double scal[kStepScalars];
  start_step(step, scal);
  if (bn_sync_) accumulate(step, fixed, perm, micro_batch_offset(0), B, R * MB, small_batch() < B);
  else accumulate(step, fixed, perm, r * share, (r + 1) * share, MB, r == 0 && MB < B);
  enum { kLoss, kSmall, kStop, kTail };
  be_->download_f64(scal, scal_.get(), kStepScalars);
  float tail[kTail];
  tail[kLoss] = float(scal[kLossSum]);
  tail[kSmall] = r == 0 ? float(scal[kGradSmallSq]) : 0.0f;  // rank 0's (the same on every rank when synchronized)
  tail[kStop] = stop ? 1.0f : 0.0f;
  if (nccl_) {  // in device memory: NCCL on the backend's stream
    if (!msg_dev_) msg_dev_ = be_->alloc<float>(P + S + kTail);
    float* msg = msg_dev_.get();
    be_->copy(msg, model_->grads(), P);
    if (S > 0) be_->copy(msg + P, model_->state(), S);
    be_->upload(msg + P + S, tail, kTail);
    {
      NvtxRange g("allreduce");
      nccl_->sum(msg, P + S + kTail, be_->native_stream());
    }
    be_->copy(model_->grads(), msg, P);
    if (S > 0) {
      be_->fill(model_->state(), 0.0f, S);  // state = sum / R: 0 + (1/R) sum is the rounded product
      be_->axpy(1.0f / float(R), msg + P, model_->state(), S);
    }
    be_->download(tail, msg + P + S, kTail);
  } else {  // through host memory, over MPI
    std::vector<float> msg(P + S + kTail);  // gradient slab, running statistics, the scalars
    be_->download(msg.data(), model_->grads(), P);
    if (S > 0) be_->download(msg.data() + P, model_->state(), S);
    std::copy_n(tail, kTail, msg.data() + P + S);
    {
      NvtxRange g("allreduce");
      comm_->allreduce_sum(msg.data(), msg.size(), nullptr, 0);
    }
    be_->upload(model_->grads(), msg.data(), P);
    if (S > 0) {
      for (size_t i = 0; i < S; ++i) msg[P + i] /= float(R);
      be_->upload(model_->state(), msg.data() + P, S);
    }
    std::copy_n(msg.data() + P + S, kTail, tail);
  }
  scal[kLossSum] = tail[kLoss];
  scal[kGradSmallSq] = tail[kSmall];
  scal[kGradSq] = 0;
  be_->upload_f64(scal_.get(), scal, kStepScalars);
  stop_agreed_ = tail[kStop] > 0;
  return finish_step(scal, small_batch());
}

void Trainer::save(const std::string& path) {
  ckpt::Checkpoint ck;
  auto fetch = [&](const float* d, int64_t n) {
    std::vector<float> h(std::max<int64_t>(n, 1));
    be_->download(h.data(), d, h.size());
    h.resize(n);
    return h;
  };
  const int64_t P = model_->n_params(), S = model_->n_state();
  ck.add("params", fetch(model_->params(), P), {P});
  ck.add("state", fetch(model_->state(), S), {S});
  for (const Optimizer::State& st : optim_->state()) ck.add(st.name, fetch(st.buf.get(), P), {P});
  ck.metadata["config"] = c_.resolved.dump();
  ck.metadata["trainer"] = st_.to_json(c_.steps_per_epoch).dump();
  ck.metadata["step"] = std::to_string(st_.step);
  ck.metadata["rng"] = nlohmann::json{{"data_seed", c_.data_seed}, {"next_train_index", st_.step * c_.batch}}.dump();
  ck.metadata["model"] = c_.model.name;
  ckpt::save(ck, path);
}

void Trainer::load(const std::string& path, bool weights_only) {
  ckpt::Checkpoint ck = ckpt::load(path);
  const int64_t P = model_->n_params();
  // The optimizer's state under its names, or (a checkpoint of an older version, which saved
  // every optimizer's state as opt_m and opt_v) under their legacy names.
  std::vector<std::string> state_names, allowed = {"params", "state"};
  bool legacy = false;
  for (const Optimizer::State& st : optim_->state()) {
    const bool old = !ck.find(st.name) && !st.legacy.empty() && ck.find(st.legacy);
    legacy = legacy || old;
    state_names.push_back(old ? st.legacy : st.name);
  }
  for (const std::string& n : legacy ? legacy_optimizer_state() : state_names) allowed.push_back(n);
  if (weights_only)  // the best checkpoint, for evaluation: any optimizer's state may be there
    for (const std::string& n : optimizer_state_tensors()) allowed.push_back(n);
  // Every tensor checked (name, dtype, length, finite) before anything is uploaded.
  ckpt::expect_only(ck, allowed);
  check_weights(ck, model_->info());
  if (!weights_only) {
    for (const std::string& name : state_names) {
      ckpt::expect_floats(ck, name, P, "the model and optimizer");
      ckpt::expect_finite(ck, name);
    }
    auto it = ck.metadata.find("trainer");
    if (it == ck.metadata.end()) throw UsageError("checkpoint " + path + ": no 'trainer' metadata to resume from");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(it->second);
    } catch (const nlohmann::json::exception& e) {
      throw UsageError("checkpoint " + path + ": metadata 'trainer' is not valid JSON: " +
                       io::quote_untrusted(e.what(), 200));
    }
    TrainerState st = st_;
    st.from_json(j, "checkpoint " + path, c_.steps_per_epoch);
    if (auto s = ck.metadata.find("step"); s != ck.metadata.end() && s->second != std::to_string(st.step))
      throw UsageError("checkpoint " + path + ": metadata 'step' is '" + io::quote_untrusted(s->second) +
                       "' but 'trainer' says step " + std::to_string(st.step));
    st_ = st;
  }
  auto put = [&](float* d, const std::vector<float>& h) {
    if (!h.empty()) be_->upload(d, h.data(), h.size());
  };
  put(model_->params(), ck.get<float>("params"));
  put(model_->state(), ck.get<float>("state"));
  if (weights_only) return;  // the best model for evaluation: the run's own state stays
  for (size_t i = 0; i < state_names.size(); ++i) put(optim_->state()[i].buf.get(), ck.get<float>(state_names[i]));
}

nlohmann::json Trainer::run() {
  const std::string dir = opt_.run_dir;
  const std::string last = dir + "/last.safetensors", best = dir + "/best.safetensors";
  if (opt_.resume) {
    if (!fs::exists(last)) throw UsageError("--resume " + dir + ": no last.safetensors there");
    load(last);
    if (root()) truncate_metrics(dir, st_.epoch);
    if (root() && (st_.stopped || st_.epoch >= c_.epochs))
      std::cerr << "resume: the run had finished; evaluating" << std::endl;
  } else if (root()) {
    fs::create_directories(dir);
    io::write_file_atomic(dir + "/config.json", c_.resolved.dump(2) + "\n");
  }
  if (opt_.resume) last_saved_step_ = st_.step;
  std::optional<MetricsLog> log;  // rank 0 alone writes the run directory
  if (root()) log.emplace(dir, opt_.resume);
  const bool ranks = comm_->distributed(), allreduce = ranks && c_.reduce == DistReduce::Allreduce;
  // A stop asked of any rank (a signal reaches them at different times) stops all at the same step.
  auto stop_requested = [&] {
    const bool mine = opt_.stop && opt_.stop();
    return ranks ? comm_->any(mine) : mine;
  };
  if (ranks) opt_.progress = opt_.progress && root();

  // Data.
  Dataset fixed, val, test;
  if (c_.fixed) fixed = generate(c_, train_seed(c_), 0, c_.train_size);
  val = generate(c_, val_seed(c_), 0, c_.val_size);
  const bool tty = opt_.progress && isatty(2);
  auto t_run = std::chrono::steady_clock::now();
  int64_t epochs_here = 0;
  bool interrupted = false;  // by opt_.stop: last.safetensors holds the current step
  while (!st_.stopped && st_.epoch < c_.epochs && (opt_.max_epochs < 0 || epochs_here < opt_.max_epochs) &&
         !(interrupted = stop_requested())) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<int64_t> perm;
    if (c_.fixed) {  // the epoch's shuffle: a pure function of (seed, epoch)
      perm.resize(fixed.n);
      std::iota(perm.begin(), perm.end(), 0);
      const rng::PhiloxKey key = rng::philox_key(sim::splitmix64(c_.data_seed ^ seeds::kShuffle));
      for (int64_t i = fixed.n - 1; i > 0; --i) {
        int64_t j = int64_t(rng::uniform_at(key, uint64_t(st_.epoch), uint64_t(i)) * float(i + 1));
        std::swap(perm[i], perm[std::min(j, i)]);
      }
    }
    // A run interrupted inside an epoch continues at its next step, with the epoch's loss so far.
    const int64_t s0 = st_.step - st_.epoch * c_.steps_per_epoch;
    double loss_sum = s0 > 0 ? st_.epoch_loss_sum : 0.0;
    for (int64_t s = s0; s < c_.steps_per_epoch; ++s) {
      const Dataset* fx = c_.fixed ? &fixed : nullptr;
      loss_sum += !ranks ? train_step(st_.step, fx, perm)
                  : allreduce ? train_step_allreduce(st_.step, fx, perm, opt_.stop && opt_.stop())
                              : train_step_ranks(st_.step, fx, perm);
      ++st_.step;
      // Allreduce mode agreed on stop requests inside the step's one collective.
      if (s + 1 < c_.steps_per_epoch && (allreduce ? stop_agreed_ : stop_requested())) {  // checkpoint and stop
        st_.epoch_loss_sum = loss_sum;
        save_shared(last);
        last_saved_step_ = st_.step;
        interrupted = true;
        break;
      }
      if (tty) {
        double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        double rate = double((s + 1 - s0) * c_.batch) / el;
        double eta = el / double(s + 1 - s0) * double(c_.steps_per_epoch - s - 1);
        std::fprintf(stderr, "\repoch %lld/%lld step %lld/%lld loss %.5g  %.0f samples/s  ETA %s   ",
                     (long long)st_.epoch + 1, (long long)c_.epochs, (long long)s + 1, (long long)c_.steps_per_epoch,
                     loss_sum / (s + 1), rate, fmt_time(eta).c_str());
      }
    }
    if (interrupted) break;
    if (ranks) check_ranks_agree();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json vm = eval(val);
    check_finite(vm, "validation");
    ++st_.epoch;
    ++epochs_here;
    nlohmann::ordered_json rec;
    rec["epoch"] = st_.epoch;
    rec["step"] = st_.step;
    rec["loss"] = loss_sum / c_.steps_per_epoch;
    for (auto& [k, v] : vm.items()) rec["val_" + k] = v;
    rec["lr"] = schedule_lr(st_.step - 1);
    if (c_.micro_batch < c_.batch) rec["b_simple"] = st_.noise.b_simple();
    rec["seconds"] = secs;
    rec["samples_per_s"] = double(c_.steps_per_epoch * c_.batch) / secs;
    if (be_->device().is_cuda()) {  // whole-device figure: includes library workspaces and other processes
      size_t free_b = 0, total_b = 0;
      be_->memory_info(free_b, total_b);
      rec["device_memory_used_bytes"] = double(total_b - free_b);
    }
    auto metric = [&](const std::string& name) -> double {
      if (!rec.contains(name)) throw KeyError("monitor", "'" + name + "' is not computed for this label", "");
      return rec[name].get<double>();
    };
    // Plateau schedule (Keras ReduceLROnPlateau on val_loss).
    if (c_.schedule == Schedule::Plateau) {
      double v = metric("val_loss");
      if (better(v, st_.plateau_best, false, 0)) {
        st_.plateau_best = v;
        st_.plateau_wait = 0;
      } else if (++st_.plateau_wait >= c_.plateau_patience) {
        st_.lr = std::max(c_.min_lr, st_.lr * c_.plateau_factor);
        st_.plateau_wait = 0;
      }
    }
    bool improved = better(metric(c_.ckpt_monitor), st_.best_ckpt, c_.ckpt_max, 0);
    if (improved) {
      st_.best_ckpt = metric(c_.ckpt_monitor);
      st_.best_epoch = st_.epoch;
      save_shared(best);
    }
    rec["best"] = improved;
    if (c_.es_patience > 0) {
      double v = metric(c_.es_monitor);
      if (better(v, st_.es_best, c_.es_max, c_.es_min_delta)) {
        st_.es_best = v;
        st_.es_wait = 0;
      } else if (++st_.es_wait >= c_.es_patience) {
        st_.stopped = true;
      }
    }
    if (!c_.target_monitor.empty()) {
      const double v = metric(c_.target_monitor);
      const bool reached = c_.target_max ? v >= c_.target_value : v <= c_.target_value;
      if (reached && st_.target_step < 0) {
        st_.target_step = st_.step;
        if (c_.stop_at_target) st_.stopped = true;
      }
      rec["target_reached"] = reached;
    }
    if (log) log->write(rec);
    save_shared(last);
    last_saved_step_ = st_.step;
    if (opt_.progress) {
      if (tty) std::fprintf(stderr, "\r");
      std::fprintf(stderr, "epoch %lld/%lld  loss %.6g  val_loss %.6g%s  %.1f s  %.0f samples/s%s\n",
                   (long long)st_.epoch, (long long)c_.epochs, rec["loss"].get<double>(), rec["val_loss"].get<double>(),
                   improved ? " (best)" : "", secs, rec["samples_per_s"].get<double>(),
                   st_.stopped ? "  early stop" : "");
    }
  }
  if (!st_.stopped && st_.epoch < c_.epochs) {
    // Stopped before the end (--max-epochs, a signal): last.safetensors must hold this state, also
    // when no epoch ran in this invocation, so that the run resumes.
    if (interrupted && tty) std::fprintf(stderr, "\n");
    if (last_saved_step_ != st_.step) {
      save_shared(last);
      last_saved_step_ = st_.step;
    }
    return {{"interrupted_after_epoch", st_.epoch}, {"interrupted_at_step", st_.step}};
  }

  // Final evaluation on fresh test trajectories, with the best checkpoint if asked (and if there is one).
  const int64_t best_epoch = st_.best_epoch;
  const bool use_best = c_.restore_best && fs::exists(best);
  if (use_best) load(best, true);
  TrajectoryBatch test_traj;
  test = generate(c_, test_seed(c_), 0, c_.test_size, &test_traj);
  nlohmann::json tm = eval(test);
  check_finite(tm, "test");
  nlohmann::json baselines = sigma_baselines(c_, test_traj, test.y);
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_run).count();
  nlohmann::json res = {{"config", c_.source}, {"epochs", st_.epoch}, {"steps", st_.step}, {"early_stopped", st_.stopped},
                        {"test_size", c_.test_size}, {"test", tm}, {"wall_seconds_this_invocation", wall},
                        {"model", c_.model.name}, {"checkpoint", use_best ? "best" : "last"},
                        {"best_epoch", best_epoch}};
  if (!baselines.is_null()) res["baselines"] = baselines;
  if (!c_.target_monitor.empty()) res["target_step"] = st_.target_step >= 0 ? nlohmann::json(st_.target_step) : nlohmann::json();
  if (c_.micro_batch < c_.batch) res["b_simple"] = st_.noise.b_simple();
  if (root()) io::write_file_atomic(dir + "/results.json", res.dump(2) + "\n");
  comm_->barrier();
  return res;
}

}  // namespace

static_assert(int(LabelKind::Sigma) == ops::kTargetSigma && int(LabelKind::NSwitches) == ops::kTargetNSwitches &&
              int(LabelKind::NSwitchesPlusOne) == ops::kTargetNSwitchesPlusOne &&
              int(LabelKind::SwitchTime) == ops::kTargetSwitchTime && int(LabelKind::HasSwitch) == ops::kTargetHasSwitch &&
              int(LabelKind::InitialState) == ops::kTargetInitialState &&
              int(LabelKind::StepState) == ops::kTargetStepState,
              "kernels/targets.cuh follows LabelKind");

void make_targets(const TrainConfig& c, const TrajectoryBatch& b, std::vector<float>& y) {
  const int outs = c.outputs();
  const int64_t per = c.target_elems();
  y.assign(size_t(b.n) * per, 0.0f);
  const int C = b.params.max_switch_times, S = b.params.steps();
  for (int64_t r = 0; r < b.n; ++r)
    if (c.label == LabelKind::StepState)
      ops::step_target_row(outs, S, &b.step_state[r * S], &y[r * per]);
    else
      ops::target_row(int32_t(c.label), outs, S, b.traj_sigma[r], b.n_switches[r],
                    C > 0 ? b.switch_times[r * C] : 0.0f, b.initial_state[r], &y[r * per]);
}

nlohmann::json evaluate(const TrainConfig& c, Model& model, Backend& be, const std::vector<float>& x,
                        const std::vector<float>& y, int64_t n, int64_t chunk, std::vector<float>* predictions) {
  const Shape os = model.output_shape();
  const int outs = os.C;
  const size_t per = size_t(os.T) * os.C;  // outputs per trajectory (T > 1: per-step labels)
  chunk = std::min<int64_t>(chunk, n);
  const Buffer<float> yb = be.alloc<float>(size_t(chunk) * per, "eval/y");  // training_memory's name
  std::vector<float> pred(size_t(n) * per);
  double loss = 0;
  forward_in_chunks(model, be, x.data(), n, chunk, [&](const float* out, int64_t off, int64_t m) {
    be.upload(yb.get(), &y[off * per], m * per);
    loss += be.loss(c.loss, int(m) * os.T, outs, out, yb.get(), nullptr, 1.0f) * double(m);
    be.download(&pred[off * per], out, m * per);
  });
  nlohmann::json j;
  j["loss"] = loss / double(n);
  if (c.classification()) {  // accuracy over rows: trajectories, or steps for per-step labels
    const int64_t rows = n * os.T;
    int64_t right = 0;
    for (int64_t r = 0; r < rows; ++r) {
      int pa = 0, ta = 0;
      for (int k = 1; k < outs; ++k) {
        if (pred[r * outs + k] > pred[r * outs + pa]) pa = k;
        if (y[r * outs + k] > y[r * outs + ta]) ta = k;
      }
      right += pa == ta;
    }
    j["acc"] = double(right) / double(rows);
  } else {
    j = regression_metrics(std::vector<double>(pred.begin(), pred.end()), y);
    j.erase("n");
    j["loss"] = loss / double(n);
  }
  if (predictions) *predictions = std::move(pred);
  return j;
}

nlohmann::json regression_metrics(const std::vector<double>& est, const std::vector<float>& truth) {
  double ae = 0, se = 0, ape = 0;
  int64_t n = 0;
  for (size_t i = 0; i < est.size(); ++i) {
    if (!std::isfinite(truth[i])) continue;
    const double e = est[i] - truth[i];
    ae += std::abs(e);
    se += e * e;
    ape += 100.0 * std::abs(e) / std::max(std::abs(double(truth[i])), 1e-7);
    ++n;
  }
  return {{"mape", ape / n}, {"mae", ae / n}, {"mse", se / n}, {"n", n}};
}

Device resolve_training_device(const std::string& spec) { return resolve_device(spec); }

MathMode parse_math_mode(const std::string& s) {
  if (s == "fp32") return MathMode::Fp32;
  if (s == "tf32") return MathMode::Tf32;
  if (s == "bf16") return MathMode::Bf16;
  throw UsageError("--precision " + s + ": expected fp32, tf32 or bf16");
}

nlohmann::json train(const TrainConfig& cfg, const Device& dev, const TrainOptions& opt) {
  Trainer t(cfg, dev, opt);
  return t.run();
}

}  // namespace sptrain
