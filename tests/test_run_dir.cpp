// Run directories (marker, lock, replacing only a run's own files, stale temporaries) and atomic
// files on a full disk.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>

#include "sptrain/error.hpp"
#include "sptrain/io.hpp"
#include "sptrain/run_dir.hpp"
#include "temp_dir.hpp"

using namespace sptrain;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

RunInputs inputs(const std::string& config = "[train]\nepochs = 1\n") {
  return RunInputs{config, "length = 10\n", {"train.lr=1e-2", "data.spec=\"other.toml\""}};
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

// The pid of a process that has exited (and been reaped).
pid_t dead_pid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  int st = 0;
  waitpid(pid, &st, 0);
  return pid;
}

}  // namespace

TEST(RunDir, CreateWritesTheMarkerAndTheInputs) {
  test::TempDir t("rundir");
  const std::string run = (t.path / "run").string();
  {
    RunDir r = RunDir::create(run, inputs(), false);
    EXPECT_EQ(r.path(), run);
    EXPECT_TRUE(RunDir::is_run_dir(run));
    EXPECT_NE(slurp(t.path / "run" / RunDir::kMarker).find("\"version\":1"), std::string::npos);
    EXPECT_EQ(slurp(t.path / "run" / "config.toml"), "[train]\nepochs = 1\n");
    EXPECT_EQ(slurp(t.path / "run" / "spec.toml"), "length = 10\n");
    EXPECT_EQ(slurp(t.path / "run" / "overrides.txt"), "train.lr=1e-2\n") << "data.spec is replaced by spec.toml";
    EXPECT_EQ(std::stol(slurp(t.path / "run" / RunDir::kLock)), long(getpid()));
  }
  // An existing run directory is refused without replace, and kept as it was.
  const std::string msg = message_of([&] { RunDir::create(run, inputs("[train]\nepochs = 2\n"), false); });
  EXPECT_NE(msg.find("is a run directory (use --force"), std::string::npos) << msg;
  EXPECT_EQ(slurp(t.path / "run" / "config.toml"), "[train]\nepochs = 1\n");
}

TEST(RunDir, ReplaceRemovesOnlyTheRunsOwnFilesAndKeepsAConfigStoredThere) {
  test::TempDir t("rundir");
  const fs::path run = t.path / "run";
  RunDir::create(run.string(), inputs(), false);
  std::ofstream(run / "metrics.jsonl") << "{\"epoch\":1}\n";
  std::ofstream(run / "last.safetensors") << "x";
  std::ofstream(run / "notes.txt") << "mine";
  std::ofstream(run / "my-config.toml") << "[train]\nepochs = 3\n";
  // The config lives in the run directory: it is read into memory first, then the run is replaced.
  const RunInputs in = RunInputs::read((run / "my-config.toml").string(), (run / "spec.toml").string(), {});
  { RunDir r = RunDir::create(run.string(), in, true); }
  EXPECT_EQ(slurp(run / "config.toml"), "[train]\nepochs = 3\n");
  EXPECT_EQ(slurp(run / "spec.toml"), "length = 10\n");
  EXPECT_EQ(slurp(run / "my-config.toml"), "[train]\nepochs = 3\n");
  EXPECT_EQ(slurp(run / "notes.txt"), "mine");
  EXPECT_FALSE(fs::exists(run / "metrics.jsonl"));
  EXPECT_FALSE(fs::exists(run / "last.safetensors"));
}

TEST(RunDir, ANonEmptyDirectoryThatIsNotARunIsRefusedEvenWithReplace) {
  test::TempDir t("rundir");
  std::ofstream(t.path / "thesis.tex") << "precious";
  fs::create_directories(t.path / "data");
  const auto before = listing(t.path);
  for (bool replace : {false, true}) {
    const std::string msg = message_of([&] { RunDir::create(t.path.string(), inputs(), replace); });
    EXPECT_NE(msg.find("not empty and not a run directory"), std::string::npos) << msg;
    EXPECT_EQ(listing(t.path), before) << "nothing may be added or removed";
  }
  EXPECT_EQ(slurp(t.path / "thesis.tex"), "precious");
  // An empty directory (".", say) becomes a run directory.
  fs::create_directories(t.path / "empty");
  EXPECT_NO_THROW(RunDir::create((t.path / "empty").string(), inputs(), false));
  EXPECT_TRUE(RunDir::is_run_dir((t.path / "empty").string()));
  // A file is not a directory.
  EXPECT_NE(message_of([&] { RunDir::create((t.path / "thesis.tex").string(), inputs(), true); }).find("not a directory"),
            std::string::npos);
}

TEST(RunDir, ASecondWriterIsRefusedWithTheHoldersPid) {
  test::TempDir t("rundir");
  const std::string run = (t.path / "run").string();
  RunDir held = RunDir::create(run, inputs(), false);
  // Another process (a fork: its own lock file description) is refused by create and by open.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    std::string out = message_of([&] { RunDir::create(run, inputs(), true); }) + "\n" +
                      message_of([&] { RunDir::open(run); });
    (void)!write(fds[1], out.data(), out.size());
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
  close(fds[0]);
  int st = 0;
  waitpid(child, &st, 0);
  const std::string expect = run + ": in use by process " + std::to_string(getpid());
  EXPECT_EQ(out, expect + "\n" + expect);
  EXPECT_EQ(slurp(t.path / "run" / "config.toml"), "[train]\nepochs = 1\n") << "the refused writer changed nothing";
  // Once released, the directory opens again.
  { RunDir moved = std::move(held); }
  EXPECT_NO_THROW(RunDir::open(run));
}

TEST(RunDir, OpeningRemovesTemporariesOfDeadProcessesOnly) {
  test::TempDir t("rundir");
  const fs::path run = t.path / "run";
  RunDir::create(run.string(), inputs(), false);
  const std::string dead = "last.safetensors.tmp-" + std::to_string(dead_pid());
  const std::string live = "best.safetensors.tmp-" + std::to_string(getppid());
  std::ofstream(run / dead) << "torn";
  std::ofstream(run / live) << "being written";
  std::ofstream(run / "notes.tmp-draft") << "not a temporary";
  const std::string figure = ".loss.tmp-" + std::to_string(dead_pid()) + "-3.png";  // a figure's scratch file
  std::ofstream(run / figure) << "torn";
  std::ofstream(run / "notes.tmp-12-3") << "not a figure's scratch name (no leading dot)";
  { RunDir r = RunDir::open(run.string()); }
  EXPECT_FALSE(fs::exists(run / dead));
  EXPECT_FALSE(fs::exists(run / figure));
  EXPECT_TRUE(fs::exists(run / "notes.tmp-12-3"));
  EXPECT_TRUE(fs::exists(run / live));
  EXPECT_TRUE(fs::exists(run / "notes.tmp-draft"));
}

TEST(RunDir, AnOlderRunDirectoryOpensAndGetsTheMarker) {
  test::TempDir t("rundir");
  std::ofstream(t.path / "config.toml") << "[train]\n";
  std::ofstream(t.path / "config.json") << "{}\n";
  EXPECT_TRUE(RunDir::is_run_dir(t.path.string()));
  { RunDir r = RunDir::open(t.path.string()); }
  EXPECT_TRUE(fs::exists(t.path / RunDir::kMarker));
  fs::create_directories(t.path / "plain");
  EXPECT_NE(message_of([&] { RunDir::open((t.path / "plain").string()); }).find("not a run directory"), std::string::npos);
  std::ofstream(t.path / "plain" / RunDir::kMarker) << "{\"format\": \"sptrain-run\", \"version\": 99}\n";
  EXPECT_NE(message_of([&] { RunDir::open((t.path / "plain").string()); }).find("newer"), std::string::npos);
}

// A full disk (/dev/full answers every write with ENOSPC, reached through the temporary's name):
// commit() names the target and the reason, and no temporary is left.
TEST(AtomicFile, AFullDiskIsReportedAndTheTemporaryRemoved) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  test::TempDir t("rundir");
  const std::string target = (t.path / "out.bin").string();
  fs::create_symlink("/dev/full", target + ".tmp-" + std::to_string(getpid()));
  for (size_t bytes : {size_t(10), size_t(1) << 20}) {  // within the buffer, and beyond it
    std::string what;
    {
      io::AtomicFile f(target);
      f.stream() << std::string(bytes, 'x');
      try {
        f.commit();
      } catch (const std::runtime_error& e) {
        what = e.what();
      }
    }
    EXPECT_EQ(what, "writing " + target + ": no space left on device");
    EXPECT_FALSE(fs::exists(target));
    EXPECT_TRUE(listing(t.path).empty()) << "the temporary is removed";
    fs::create_symlink("/dev/full", target + ".tmp-" + std::to_string(getpid()));
  }
  // Without commit (an exception on the way), the destructor neither throws nor leaves the temporary.
  try {
    io::AtomicFile f(target);
    f.stream() << std::string(1 << 20, 'y');
    throw std::logic_error("elsewhere");
  } catch (const std::logic_error&) {
  }
  EXPECT_TRUE(listing(t.path).empty());
}

// A figure's scratch files are in the signal handler's table: an interrupt removes them, and so
// does the end of their scope.
TEST(ScratchFile, RemovedByTheSignalPathAndByItsScope) {
  test::TempDir t("scratch");
  const fs::path a = t.path / ".fig.tmp-1-0.gp", b = t.path / ".fig.tmp-1-1.gp";
  {
    io::ScratchFile sa(a.string());
    std::ofstream(a) << "plot x\n";
    io::remove_pending_temporaries();
    EXPECT_FALSE(fs::exists(a));
  }
  {
    io::ScratchFile sb(b.string());
    std::ofstream(b) << "plot x\n";
  }
  EXPECT_FALSE(fs::exists(b));
}
