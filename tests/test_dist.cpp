// Data-parallel training over MPI ranks (docs/distributed.md): `mpirun -np R sptrain train` gives
// bitwise the same losses and final weights for R = 1, 2, 3, 4 with the same global batch
// (BatchNorm included), and a 2-rank run resumed with 3 ranks continues exactly; with
// dist.batchnorm = "sync", R ranks train as one rank with R times the micro-batch, to rounding.
// Skipped where mpirun is absent or sptrain was built without MPI.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sptrain/checkpoint.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using sptrain::test::TempDir;

namespace {

// 30 positions, a convolution with BatchNorm (running statistics pass along the ranks), a global
// batch of 24 in micro-batches of 2 (every rank count 1-4 gets whole micro-batches).
const char* const kSpec =
    "length = 30\n[states]\nprior = \"loguniform\"\nlow = 0.5\nhigh = 5.0\n"
    "[features]\nkind = \"squared_displacements\"\n";
const char* const kConfig =
    "[data]\nspec = \"spec.toml\"\nval_size = 16\ntest_size = 16\n[train]\nbatch = 24\nmicro_batch = 2\n"
    "steps_per_epoch = 3\nepochs = 2\nloss = \"mape\"\nlr = 1e-2\n"
    "[layer.c]\ntype = \"conv1d\"\ninputs = [\"input\"]\nfilters = 3\nkernel = 3\n"
    "[layer.n]\ntype = \"batchnorm\"\ninputs = [\"c\"]\n"
    "[layer.f]\ntype = \"flatten\"\ninputs = [\"n\"]\n"
    "[layer.s]\ntype = \"dense\"\ninputs = [\"f\"]\nunits = 1\nactivation = \"softplus\"\n";

bool have_mpi() {
#ifndef SPTRAIN_HAVE_MPI
  return false;
#else
  return std::system("command -v mpirun >/dev/null 2>&1") == 0;
#endif
}

// One thread per rank: the machine may have fewer cores than ranks.
std::string mpirun(int ranks) {
  return "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 mpirun --oversubscribe --allow-run-as-root -np " +
         std::to_string(ranks) + " " + SPTRAIN_CLI;
}

int run(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

// The training losses and validation losses of every epoch in metrics.jsonl.
std::vector<double> losses(const fs::path& run) {
  std::ifstream f(run / "metrics.jsonl");
  std::vector<double> out;
  for (std::string line; std::getline(f, line);) {
    const auto j = nlohmann::json::parse(line);
    out.push_back(j["loss"].get<double>());
    out.push_back(j["val_loss"].get<double>());
  }
  return out;
}

// The bytes of every tensor of a checkpoint (parameters, BatchNorm state, optimizer moments).
std::vector<std::pair<std::string, std::vector<char>>> tensors(const fs::path& ck) {
  std::vector<std::pair<std::string, std::vector<char>>> out;
  for (const auto& t : sptrain::ckpt::load(ck.string()).tensors) out.emplace_back(t.name, t.bytes);
  return out;
}

class Dist : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_mpi()) GTEST_SKIP() << "mpirun not found or sptrain built without MPI: distributed tests skipped";
    std::ofstream(dir.path / "spec.toml") << kSpec;
    std::ofstream(dir.path / "c.toml") << kConfig;
  }
  std::string train(int ranks, const std::string& run) {
    return mpirun(ranks) + " train --quiet --config " + (dir.path / "c.toml").string() + " --run-dir " +
           (dir.path / run).string();
  }
  TempDir dir{"dist"};
};

TEST_F(Dist, RankCountsGiveBitwiseTheSameRun) {
  ASSERT_EQ(run(train(1, "r1")), 0);
  const auto ref_loss = losses(dir.path / "r1");
  const auto ref = tensors(dir.path / "r1" / "last.safetensors");
  ASSERT_EQ(ref_loss.size(), 4u);
  for (int r : {2, 3, 4}) {
    const std::string name = "r" + std::to_string(r);
    ASSERT_EQ(run(train(r, name)), 0) << r << " ranks";
    EXPECT_EQ(losses(dir.path / name), ref_loss) << r << " ranks";
    EXPECT_TRUE(tensors(dir.path / name / "last.safetensors") == ref) << r << " ranks: final weights differ";
    EXPECT_TRUE(fs::exists(dir.path / name / "results.json"));
  }
}

TEST_F(Dist, TwoRanksResumedWithThreeContinueExactly) {
  ASSERT_EQ(run(train(1, "whole")), 0);
  ASSERT_EQ(run(train(2, "split") + " --max-epochs 1"), 0);
  ASSERT_EQ(losses(dir.path / "split").size(), 2u);
  ASSERT_EQ(run(mpirun(3) + " train --quiet --resume " + (dir.path / "split").string()), 0);
  EXPECT_EQ(losses(dir.path / "split"), losses(dir.path / "whole"));
  EXPECT_TRUE(tensors(dir.path / "split" / "last.safetensors") == tensors(dir.path / "whole" / "last.safetensors"));
}

// SIGTERM to mpirun (forwarded to every rank) mid-run: the ranks agree on a step boundary, rank 0
// checkpoints it, and a resume with another rank count ends where an uninterrupted run does.
TEST_F(Dist, SigtermCheckpointsEveryRankAtOneStepAndResumes) {
  // 8 epochs of 5000 steps; the signal goes once the first epoch's metrics are written (so the
  // ranks have installed their handlers, and 7 epochs remain), not after a fixed sleep.
  const std::string longer = " --set train.steps_per_epoch=5000 --set train.epochs=8 --set train.micro_batch=4";
  ASSERT_EQ(run(train(1, "whole") + longer), 0);
  const std::string metrics = (dir.path / "cut" / "metrics.jsonl").string();
  const std::string cmd = "bash -c '" + train(2, "cut") + longer + " >/dev/null 2>&1 & p=$!; for i in $(seq 600); do " +
                          "[ -s " + metrics + " ] && break; kill -0 $p 2>/dev/null || break; sleep 0.05; done; " +
                          "kill -TERM $p; wait $p'";
  const int rc = std::system(cmd.c_str());
  if (rc == 0) GTEST_SKIP() << "the run ended before the signal reached it";
  ASSERT_TRUE(fs::exists(dir.path / "cut" / "last.safetensors"));
  const auto meta = sptrain::ckpt::load((dir.path / "cut" / "last.safetensors").string()).metadata;
  const int64_t step = std::stoll(meta.at("step"));
  EXPECT_GT(step, 0);
  EXPECT_LT(step, 40000);  // before the end of the run
  ASSERT_EQ(run(mpirun(3) + " train --quiet --resume " + (dir.path / "cut").string()), 0);
  EXPECT_EQ(losses(dir.path / "cut"), losses(dir.path / "whole"));
  EXPECT_TRUE(tensors(dir.path / "cut" / "last.safetensors") == tensors(dir.path / "whole" / "last.safetensors"));
}

// A rank killed mid-run (SIGKILL: no chance to clean up) ends the whole job: mpirun stops the
// others within seconds of the kill, names the rank, and the last checkpoint written still loads.
// The kill comes once the first checkpoint exists (polled, so a slow machine only waits longer).
TEST_F(Dist, KilledRankEndsEveryRankAndLeavesALoadableCheckpoint) {
  if (std::system("command -v pgrep >/dev/null 2>&1") != 0) GTEST_SKIP() << "pgrep not found";
  const std::string log = (dir.path / "kill.log").string(), ck = (dir.path / "k" / "last.safetensors").string();
  const std::string took = (dir.path / "kill.ns").string();
  const std::string cmd = "bash -c '" + train(2, "k") +
                          " --set train.steps_per_epoch=100 --set train.micro_batch=4 --set train.epochs=4000 >" +
                          log + " 2>&1 & p=$!; for i in $(seq 2400); do [ -s " + ck +
                          " ] && break; kill -0 $p 2>/dev/null || break; sleep 0.05; done; "
                          "k=$(pgrep -P $p | tail -n 1); t0=$(date +%s%N); kill -KILL ${k:-$p}; wait $p; rc=$?; "
                          "echo $(( $(date +%s%N) - t0 )) >" + took + "; exit $rc'";
  const int rc = std::system(cmd.c_str());
  EXPECT_NE(rc, 0);
  std::ifstream in(took);
  double ns = -1;
  in >> ns;
  EXPECT_GE(ns, 0.0);
  EXPECT_LT(ns * 1e-9, 30.0);  // from the kill to the end of every rank
  std::stringstream text;
  text << std::ifstream(log).rdbuf();
  EXPECT_NE(text.str().find("rank 1"), std::string::npos) << text.str();
  ASSERT_TRUE(fs::exists(ck));
  EXPECT_NO_THROW(sptrain::ckpt::load(ck));
}

// The float32 values of every tensor of a checkpoint, by name.
std::map<std::string, std::vector<float>> floats(const fs::path& ck) {
  std::map<std::string, std::vector<float>> out;
  for (const auto& t : sptrain::ckpt::load(ck.string()).tensors) {
    std::vector<float>& v = out[t.name];
    v.resize(t.bytes.size() / sizeof(float));
    std::memcpy(v.data(), t.bytes.data(), v.size() * sizeof(float));
  }
  return out;
}

// dist.reduce = "allreduce": each rank accumulates its share into its own slab and one
// MPI_Allreduce sums the slabs, so the gradient of a step is the exact mode's sum of 12
// micro-batch gradients reassociated: per element it differs by at most about 12 ulp of the sum
// of magnitudes (relative 12 * 2^-24 = 7e-7), and less in practice (errors of random sign grow
// like sqrt(12)). Six Adam steps of lr 1e-2 carry that into the weights: Adam's step m / sqrt(v)
// is scale-free, so a relative gradient error of e moves a weight by about lr * e per step, and
// by at most lr * |dg| / eps where a gradient is near zero. Bounds: losses within 1e-5 relative,
// every weight and optimizer moment within 1e-4 absolute + 1e-4 relative (over a
// hundred times the rounding estimate, so a reassociation cannot fail it, while a lost or doubled
// micro-batch, a wrong scale or a wrong rank's data moves them by percents). Measured: R = 2 and
// 4 are 0.005 of the weight bound (1.5e-5 absolute at most) and 5e-8 relative in the loss (the
// loss travels as float32). With BatchNorm (the running statistics averaged over the ranks, not
// passed along them) the training losses still follow exact mode; validation losses need not.
TEST_F(Dist, AllreduceModeMatchesExactModeToRounding) {
  ASSERT_EQ(run(train(2, "bn_exact")), 0);
  ASSERT_EQ(run(train(2, "bn_allreduce") + " --set dist.reduce=allreduce"), 0);
  const auto bn_ref = losses(dir.path / "bn_exact"), bn = losses(dir.path / "bn_allreduce");
  ASSERT_EQ(bn.size(), bn_ref.size());
  for (size_t i = 0; i < bn.size(); i += 2)  // even entries: training losses
    EXPECT_NEAR(bn[i], bn_ref[i], 1e-5 * std::abs(bn_ref[i])) << "BatchNorm, entry " << i;
  // Without BatchNorm: a convolution's bias before BatchNorm has a gradient that is zero but for
  // rounding, which Adam's m / sqrt(v) turns into steps of order lr in a direction rounding picks.
  std::string cfg = kConfig;
  cfg.replace(cfg.find("[layer.n]"), cfg.find("[layer.f]") - cfg.find("[layer.n]"), "");
  cfg.replace(cfg.find("inputs = [\"n\"]"), std::string("inputs = [\"n\"]").size(), "inputs = [\"c\"]");
  std::ofstream(dir.path / "c.toml") << cfg;
  ASSERT_EQ(run(train(1, "exact")), 0);
  const auto ref_m = losses(dir.path / "exact");
  const auto ref = floats(dir.path / "exact" / "last.safetensors");
  for (int r : {1, 2, 4}) {
    const std::string name = "allreduce" + std::to_string(r);
    ASSERT_EQ(run(train(r, name) + " --set dist.reduce=allreduce"), 0) << r << " ranks";
    const auto m = losses(dir.path / name);
    ASSERT_EQ(m.size(), ref_m.size());
    for (size_t i = 0; i < m.size(); ++i)  // training and validation losses
      EXPECT_NEAR(m[i], ref_m[i], 1e-5 * std::abs(ref_m[i])) << r << " ranks, entry " << i;
    const auto got = floats(dir.path / name / "last.safetensors");
    ASSERT_EQ(got.size(), ref.size());
    for (const auto& [tensor, want] : ref) {
      const std::vector<float>& have = got.at(tensor);
      ASSERT_EQ(have.size(), want.size()) << tensor;
      double worst = 0;
      for (size_t i = 0; i < want.size(); ++i)
        worst = std::max(worst, std::abs(double(have[i]) - want[i]) / (1e-4 + 1e-4 * std::abs(double(want[i]))));
      EXPECT_LE(worst, 1.0) << r << " ranks, tensor " << tensor << ": worst difference / bound";
    }
  }
}

// The step watchdog: a rank that stops answering without dying (the test path
// SPTRAIN_TEST_HANG_RANK makes it sleep at its 5th step boundary) ends the job. Rank 0 names a
// hung rank after dist.timeout_s; a hung rank 0 is named by the others after 1.5 * timeout + 1 s.
// With timeout 2 s both end well within 20 s (MPI start, the timeout, mpirun's teardown).
TEST_F(Dist, HungRankEndsTheJobWithinTheTimeoutNamingIt) {
  for (int hung : {1, 0}) {
    const std::string log = (dir.path / ("hang" + std::to_string(hung) + ".log")).string();
    const auto t0 = std::chrono::steady_clock::now();
    const int rc = std::system(("SPTRAIN_TEST_HANG_RANK=" + std::to_string(hung) + " " + train(2, "h" + std::to_string(hung)) +
                                " --set dist.timeout_s=2 --set train.steps_per_epoch=1000 --set train.epochs=100 >" + log +
                                " 2>&1")
                                   .c_str());
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::stringstream text;
    text << std::ifstream(log).rdbuf();
    EXPECT_NE(rc, 0) << text.str();
    EXPECT_LT(secs, 20.0) << text.str();
    EXPECT_NE(text.str().find("step watchdog"), std::string::npos) << text.str();
    EXPECT_NE(text.str().find("rank " + std::to_string(hung) + " did not arrive"), std::string::npos) << text.str();
  }
}

// `sptrain sweep` over 2 ranks (rank r trains runs i with i % 2 == r, rank 0 writes the summary)
// and as Slurm array tasks (SLURM_ARRAY_TASK_ID = i trains run i; `--merge` writes the summary)
// gives the table of a single-process sweep: each run is a single-process run, deterministic on
// the CPU. A merge before every task finished names the missing run; a task run again keeps its
// finished run.
TEST_F(Dist, SweepOverRanksAndArrayTasksGivesTheSingleProcessTable) {
  const std::string args = " sweep --device cpu --config " + (dir.path / "c.toml").string() +
                           " --batches 8,16 --seeds 1,2 --target-monitor val_loss --target 90 --eval-examples 48"
                           " --max-examples 144 --out-dir ";
  auto table = [&](const std::string& name) {
    nlohmann::json j;
    std::ifstream(dir.path / name / "sweep.json") >> j;
    return j;
  };
  ASSERT_EQ(run(std::string("OMP_NUM_THREADS=1 ") + SPTRAIN_CLI + args + (dir.path / "one").string()), 0);
  const nlohmann::json one = table("one");
  ASSERT_EQ(one["runs"].size(), 4u);

  const std::string log = (dir.path / "ranks.log").string();
  ASSERT_EQ(std::system((mpirun(2) + args + (dir.path / "ranks").string() + " >" + log + " 2>&1").c_str()), 0);
  std::stringstream text;
  text << std::ifstream(log).rdbuf();
  for (const char* who : {"rank 0 of 2: sweep: batch 8 lr 0.01 seed 1", "rank 1 of 2: sweep: batch 8 lr 0.01 seed 2",
                          "rank 0 of 2: sweep: batch 16 lr 0.01 seed 1", "rank 1 of 2: sweep: batch 16 lr 0.01 seed 2"})
    EXPECT_NE(text.str().find(who), std::string::npos) << who << "\n" << text.str();
  EXPECT_EQ(table("ranks")["table"], one["table"]);
  EXPECT_EQ(table("ranks")["grid"], one["grid"]);

  const std::string array = (dir.path / "array").string();
  auto task = [&](int t) {
    return run("OMP_NUM_THREADS=1 SLURM_ARRAY_TASK_ID=" + std::to_string(t) + " " + SPTRAIN_CLI + args + array);
  };
  for (int t : {0, 1, 2}) ASSERT_EQ(task(t), 0) << "task " << t;
  EXPECT_FALSE(fs::exists(dir.path / "array" / "sweep.json"));
  const std::string merge_log = (dir.path / "merge.log").string();
  EXPECT_EQ(std::system((std::string(SPTRAIN_CLI) + " sweep --merge " + array + " >" + merge_log + " 2>&1").c_str()) >> 8, 2);
  std::stringstream merged;
  merged << std::ifstream(merge_log).rdbuf();
  EXPECT_NE(merged.str().find("1 of 4 runs have not finished (no results.json): runs/B16_s2 (task 3)"), std::string::npos)
      << merged.str();
  ASSERT_EQ(task(3), 0);
  const auto stamp = fs::last_write_time(dir.path / "array" / "runs" / "B16_s2" / "metrics.jsonl");
  ASSERT_EQ(task(3), 0);  // finished: kept, not trained again
  EXPECT_EQ(fs::last_write_time(dir.path / "array" / "runs" / "B16_s2" / "metrics.jsonl"), stamp);
  EXPECT_NE(task(4), 0);  // the sweep has runs 0-3
  fs::remove(dir.path / "array" / "sweep.json");
  ASSERT_EQ(run(std::string(SPTRAIN_CLI) + " sweep --merge " + array), 0);
  EXPECT_EQ(table("array")["table"], one["table"]);
  EXPECT_EQ(table("array")["grid"], one["grid"]);
}

// dist.batchnorm = "sync" against one rank taking each global micro-batch whole. The model of
// kConfig without the convolution's bias (a bias before BatchNorm has a gradient that is zero but
// for rounding, which Adam turns into steps of order lr: see the test above), batch 24.
std::string sync_config() {
  std::string cfg = kConfig;
  const std::string k = "kernel = 3\n";
  cfg.replace(cfg.find(k), k.size(), k + "bias = false\n");
  return cfg;
}

// The worst difference of two runs over their training and validation losses (relative, against
// 1e-5) and every tensor of last.safetensors (against 1e-4 absolute + 1e-4 relative): <= 1 is
// within the bounds of the test below.
double worst_difference(const fs::path& a, const fs::path& ref) {
  const auto la = losses(a), lr = losses(ref);
  if (la.size() != lr.size() || la.empty()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < la.size(); ++i) worst = std::max(worst, std::abs(la[i] - lr[i]) / (1e-5 * std::abs(lr[i])));
  const auto ta = floats(a / "last.safetensors"), tr = floats(ref / "last.safetensors");
  if (ta.size() != tr.size()) return INFINITY;
  for (const auto& [tensor, want] : tr) {
    const std::vector<float>& have = ta.at(tensor);
    if (have.size() != want.size()) return INFINITY;
    for (size_t i = 0; i < want.size(); ++i)
      worst = std::max(worst, std::abs(double(have[i]) - want[i]) / (1e-4 + 1e-4 * std::abs(double(want[i]))));
  }
  return worst;
}

// R ranks in micro-batches of 4 with synchronized statistics normalize each global micro-batch of
// 4R trajectories as one rank in micro-batches of 4R does (the same trajectories: rank r takes the
// r-th 4 of each), so they differ from it only by reassociated sums: the statistics in double
// (rank-order sums and the pairwise variance update), rounded to float once (equal or one ulp
// apart), dgamma and dbeta as the ranks' float sums added, and every other gradient as R partial
// gradients added instead of one backward over 4R rows. That is the reassociation the allreduce
// test above bounds (a few ulp of the gradient's magnitude per step, carried by Adam into the
// weights as about lr times the relative error per step), so the same bounds apply: training and
// validation losses (the running statistics see the same global micro-batches) within 1e-5
// relative, every weight, running statistic and Adam moment within 1e-4 + 1e-4 relative. Per-rank
// ("local") statistics of 4 trajectories instead of 4R move them by far more (asserted: over 100
// times the bound), so the check would fail if the statistics were not combined. Both reduction
// modes, R = 2 and 3.
TEST_F(Dist, SyncBatchNormMatchesOneRankWithTheGlobalMicroBatch) {
  std::ofstream(dir.path / "c.toml") << sync_config();
  for (int R : {2, 3}) {
    const std::string n = std::to_string(R), one = "one" + n;
    ASSERT_EQ(run(train(1, one) + " --set train.micro_batch=" + std::to_string(4 * R)), 0);
    ASSERT_EQ(run(train(R, "sync" + n) + " --set train.micro_batch=4 --set dist.batchnorm=sync"), 0) << R;
    ASSERT_EQ(run(train(R, "syncar" + n) + " --set train.micro_batch=4 --set dist.batchnorm=sync"
                                         " --set dist.reduce=allreduce"), 0) << R;
    ASSERT_EQ(run(train(R, "local" + n) + " --set train.micro_batch=4"), 0) << R;
    const double sync = worst_difference(dir.path / ("sync" + n), dir.path / one);
    const double sync_ar = worst_difference(dir.path / ("syncar" + n), dir.path / one);
    const double local = worst_difference(dir.path / ("local" + n), dir.path / one);
    EXPECT_LE(sync, 1.0) << R << " ranks, exact mode: worst difference / bound";
    EXPECT_LE(sync_ar, 1.0) << R << " ranks, allreduce mode: worst difference / bound";
    EXPECT_GE(local, 100.0) << R << " ranks, local statistics: worst difference / bound";
    std::cout << R << " ranks: worst difference / bound: sync " << sync << ", sync allreduce " << sync_ar
              << ", local " << local << std::endl;
  }
}

// Synchronized statistics are run-to-run deterministic (the ranks' sums gathered and added in rank
// order), a run stopped after its first epoch and resumed with the same rank count continues
// exactly, and one with another rank count continues (its global micro-batch, ranks x micro_batch,
// is then another, so it is another run from that checkpoint on).
TEST_F(Dist, SyncBatchNormIsDeterministicAndResumes) {
  const std::string sync = " --set train.micro_batch=4 --set dist.batchnorm=sync";
  ASSERT_EQ(run(train(2, "a") + sync), 0);
  ASSERT_EQ(run(train(2, "b") + sync), 0);
  ASSERT_EQ(losses(dir.path / "a").size(), 4u);
  EXPECT_EQ(losses(dir.path / "a"), losses(dir.path / "b"));
  EXPECT_TRUE(tensors(dir.path / "a" / "last.safetensors") == tensors(dir.path / "b" / "last.safetensors"));
  for (const char* name : {"cut2", "cut3"}) ASSERT_EQ(run(train(2, name) + sync + " --max-epochs 1"), 0);
  ASSERT_EQ(run(mpirun(2) + " train --quiet --resume " + (dir.path / "cut2").string()), 0);
  EXPECT_EQ(losses(dir.path / "cut2"), losses(dir.path / "a"));
  EXPECT_TRUE(tensors(dir.path / "cut2" / "last.safetensors") == tensors(dir.path / "a" / "last.safetensors"));
  ASSERT_EQ(run(mpirun(3) + " train --quiet --resume " + (dir.path / "cut3").string()), 0);
  const auto l3 = losses(dir.path / "cut3"), la = losses(dir.path / "a");
  ASSERT_EQ(l3.size(), 4u);
  EXPECT_EQ(std::vector<double>(l3.begin(), l3.begin() + 2), std::vector<double>(la.begin(), la.begin() + 2));
  EXPECT_TRUE(fs::exists(dir.path / "cut3" / "results.json"));
}

// One rank: the synchronized path (the statistics through the communicator's gather) gives bitwise
// the local run, in both reduction modes.
TEST_F(Dist, SyncBatchNormOnOneRankIsBitwiseLocal) {
  for (const std::string mode : {"exact", "allreduce"}) {
    const std::string set = " --set dist.reduce=" + mode;
    ASSERT_EQ(run(train(1, "local_" + mode) + set), 0);
    ASSERT_EQ(run(train(1, "sync_" + mode) + set + " --set dist.batchnorm=sync"), 0);
    EXPECT_EQ(losses(dir.path / ("sync_" + mode)), losses(dir.path / ("local_" + mode))) << mode;
    EXPECT_TRUE(tensors(dir.path / ("sync_" + mode) / "last.safetensors") ==
                tensors(dir.path / ("local_" + mode) / "last.safetensors"))
        << mode;
  }
}

TEST_F(Dist, ShareNotAWholeNumberOfMicroBatchesIsRefused) {
  // 24 / 3 = 8 samples per rank, not a multiple of micro-batches of 5.
  EXPECT_NE(run(train(3, "bad") + " --set train.micro_batch=5"), 0);
  EXPECT_FALSE(fs::exists(dir.path / "bad" / "last.safetensors"));
}

}  // namespace
