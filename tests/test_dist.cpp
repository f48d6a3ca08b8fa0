// Data-parallel training over MPI ranks (docs/distributed.md): `mpirun -np R sptrain train` gives
// bitwise the same losses and final weights for R = 1, 2, 3, 4 with the same global batch
// (BatchNorm included), and a 2-rank run resumed with 3 ranks continues exactly. Skipped where
// mpirun is absent or sptrain was built without MPI.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
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
// others within seconds, names the rank, and the last checkpoint written still loads.
TEST_F(Dist, KilledRankEndsEveryRankAndLeavesALoadableCheckpoint) {
  if (std::system("command -v pgrep >/dev/null 2>&1") != 0) GTEST_SKIP() << "pgrep not found";
  const std::string log = (dir.path / "kill.log").string();
  const std::string cmd = "bash -c '" + train(2, "k") +
                          " --set train.steps_per_epoch=100 --set train.micro_batch=4 --set train.epochs=4000 >" +
                          log + " 2>&1 & p=$!; sleep 1.5; k=$(pgrep -P $p | tail -n 1); kill -KILL ${k:-$p}; wait $p'";
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = std::system(cmd.c_str());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(rc, 0);
  EXPECT_LT(secs, 30.0);
  std::stringstream text;
  text << std::ifstream(log).rdbuf();
  EXPECT_NE(text.str().find("rank 1"), std::string::npos) << text.str();
  ASSERT_TRUE(fs::exists(dir.path / "k" / "last.safetensors"));
  EXPECT_NO_THROW(sptrain::ckpt::load((dir.path / "k" / "last.safetensors").string()));
}

TEST_F(Dist, ShareNotAWholeNumberOfMicroBatchesIsRefused) {
  // 24 / 3 = 8 samples per rank, not a multiple of micro-batches of 5.
  EXPECT_NE(run(train(3, "bad") + " --set train.micro_batch=5"), 0);
  EXPECT_FALSE(fs::exists(dir.path / "bad" / "last.safetensors"));
}

}  // namespace
