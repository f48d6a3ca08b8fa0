// Run directories: the marker, the writer's lock, the inputs written atomically, replacing a run
// without touching anything that is not the run's own, and the temporaries of killed writers.
#include "sptrain/run_dir.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "data/toml_config.hpp"
#include "sptrain/error.hpp"
#include "sptrain/io.hpp"

namespace sptrain {
namespace {

namespace fs = std::filesystem;

// The files a run writes: what replacing a run removes.
const char* const kRunFiles[] = {"config.toml",  "spec.toml",       "overrides.txt",    "config.json", "metrics.jsonl",
                                 "metrics.csv", "last.safetensors", "best.safetensors", "results.json"};

void write_atomic(const fs::path& path, const std::string& text) { io::write_file_atomic(path.string(), text); }

// Whether the directory holds nothing but a lock file (which a concurrent writer may have made).
bool empty_but_lock(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != RunDir::kLock) return false;
  return true;
}

// The marker's format version, 0 without a marker; UsageError for one that is not ours.
int marker_version(const fs::path& dir) {
  const fs::path m = dir / RunDir::kMarker;
  if (!fs::exists(m)) return 0;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(cfg::read_file(m.string(), "run directory marker"));
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(m.string() + ": not a run directory marker: " + e.what());
  }
  if (!j.is_object() || j.value("format", "") != "sptrain-run" || !j.contains("version") ||
      !j["version"].is_number_integer() || j["version"].get<int>() < 1)
    throw UsageError(m.string() + ": not a run directory marker (expected {\"format\": \"sptrain-run\", \"version\": N})");
  const int v = j["version"].get<int>();
  if (v > RunDir::kFormatVersion)
    throw UsageError(dir.string() + ": run directory format version " + std::to_string(v) +
                     " is newer than this sptrain reads (" + std::to_string(RunDir::kFormatVersion) + ")");
  return v;
}

// A run directory an older version wrote: no marker, but the inputs and the trainer's config.json.
bool legacy_run_dir(const fs::path& dir) { return fs::exists(dir / "config.toml") && fs::exists(dir / "config.json"); }

void write_marker(const fs::path& dir) {
  write_atomic(dir / RunDir::kMarker,
               nlohmann::json{{"format", "sptrain-run"}, {"version", RunDir::kFormatVersion}}.dump() + "\n");
}

// Takes the directory's lock (UsageError naming the holder's PID if another process has it) and
// writes this process's PID into the lock file.
int take_lock(const std::string& path) {
  const std::string lock = (fs::path(path) / RunDir::kLock).string();
  const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw UsageError(io::io_error("cannot open", lock, errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    if (err != EWOULDBLOCK) throw UsageError(io::io_error("cannot lock", lock, err));
    std::string pid = n > 0 ? std::string(buf, size_t(n)) : std::string("?");
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    throw UsageError(path + ": in use by process " + (pid.empty() ? std::string("?") : pid));
  }
  const std::string me = std::to_string(getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) != ssize_t(me.size())) {
    const int err = errno;
    ::close(fd);
    throw std::runtime_error(io::io_error("writing", lock, err));
  }
  return fd;
}

// Holds a lock until release() or destruction (for the steps before a RunDir owns it).
struct LockGuard {
  int fd;
  ~LockGuard() {
    if (fd >= 0) ::close(fd);
  }
  int release() {
    const int f = fd;
    fd = -1;
    return f;
  }
};

}  // namespace

RunInputs RunInputs::read(const std::string& config_path, const std::string& spec_path,
                          const std::vector<std::string>& overrides) {
  return {cfg::read_file(config_path, "config"), cfg::read_file(spec_path, "spec"), overrides};
}

bool RunDir::is_run_dir(const std::string& path) {
  const fs::path p(path);
  return fs::is_directory(p) && (marker_version(p) > 0 || legacy_run_dir(p));
}

RunDir RunDir::create(const std::string& path, const RunInputs& inputs, bool replace) {
  const fs::path p(path);
  auto refuse_foreign = [&] {
    throw UsageError(path + ": not empty and not a run directory (no " + std::string(kMarker) +
                     "); nothing was changed: give a new or empty directory");
  };
  auto refuse_existing = [&] {
    throw UsageError(path + ": exists and is a run directory (use --force to replace it, or --resume to continue it)");
  };
  if (fs::exists(p) && !fs::is_directory(p)) throw UsageError(path + ": exists and is not a directory");
  // Checked before the lock file is made, so a foreign directory is left exactly as it was.
  if (fs::is_directory(p) && !empty_but_lock(p)) {
    if (!is_run_dir(path)) refuse_foreign();
    if (!replace) refuse_existing();
  }
  fs::create_directories(p);
  LockGuard lock{take_lock(path)};
  // Again under the lock: another writer may have filled the directory in between.
  if (!empty_but_lock(p)) {
    if (!is_run_dir(path)) refuse_foreign();
    if (!replace) refuse_existing();
    for (const char* f : kRunFiles) fs::remove(p / f);
    remove_stale_temporaries(path);
  }
  write_marker(p);
  write_atomic(p / "config.toml", inputs.config_toml);
  write_atomic(p / "spec.toml", inputs.spec_toml);
  std::string ov;
  for (const auto& s : inputs.overrides)
    if (s.rfind("data.spec=", 0) != 0) ov += s + "\n";
  write_atomic(p / "overrides.txt", ov);
  return RunDir(path, lock.release());
}

RunDir RunDir::open(const std::string& path) {
  const fs::path p(path);
  if (!fs::is_directory(p)) throw UsageError(path + ": no such run directory");
  if (!is_run_dir(path)) throw UsageError(path + ": not a run directory (no " + std::string(kMarker) + ")");
  LockGuard lock{take_lock(path)};
  if (marker_version(p) == 0) write_marker(p);
  remove_stale_temporaries(path);
  return RunDir(path, lock.release());
}

RunDir::RunDir(RunDir&& o) noexcept : path_(std::move(o.path_)), lock_fd_(o.lock_fd_) { o.lock_fd_ = -1; }

RunDir::~RunDir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

int remove_stale_temporaries(const std::string& dir) {
  int removed = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const size_t at = name.rfind(".tmp-");
    if (at == std::string::npos || at + 5 >= name.size()) continue;
    // "<file>.tmp-PID" (an AtomicFile) or ".<figure>.tmp-PID-N.<ext>" (a figure's scratch files).
    const std::string rest = name.substr(at + 5);
    const std::string digits = rest.substr(0, rest.find_first_not_of("0123456789"));
    const bool figure = digits.size() < rest.size() && rest[digits.size()] == '-' && name[0] == '.';
    if (digits.empty() || digits.size() > 9 || (digits.size() < rest.size() && !figure)) continue;
    const pid_t pid = pid_t(std::stol(digits));
    if (pid <= 0 || pid == getpid()) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to signal): not stale
    std::error_code rm;
    if (fs::remove(e.path(), rm)) ++removed;
  }
  return removed;
}

}  // namespace sptrain
