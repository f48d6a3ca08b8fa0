// A run directory: what `train` writes (inputs, metrics, checkpoints, results) and what
// `train --resume` and `eval --run` read. It is marked by sptrain-run.json (format and version),
// and a writer holds an advisory lock (flock on sptrain-run.lock, which holds its PID) for as long
// as its RunDir lives, so two writers never share one directory.
#pragma once
#include <string>
#include <vector>

namespace sptrain {

// The inputs a run is made from, read into memory before anything in the run directory changes:
// the config file's text, the spec file's text and the --set overrides (KEY=VALUE).
struct RunInputs {
  std::string config_toml, spec_toml;
  std::vector<std::string> overrides;
  // Reads both files with the checks of every config and spec file (regular, at most 1 MiB).
  static RunInputs read(const std::string& config_path, const std::string& spec_path,
                        const std::vector<std::string>& overrides);
};

class RunDir {
 public:
  static constexpr const char* kMarker = "sptrain-run.json";
  static constexpr const char* kLock = "sptrain-run.lock";
  static constexpr int kFormatVersion = 1;

  // A new run in `path`, which may not exist yet, or be an empty directory. With `replace`, an
  // existing run directory (marked, or a run directory of an older version: config.toml and
  // config.json) is reused: the files a run writes are removed, other files are kept. A non-empty
  // directory that is not a run directory is refused even with `replace`. Writes the marker,
  // config.toml, spec.toml and overrides.txt (the overrides but data.spec, which spec.toml
  // replaces), each atomically. UsageError for every refusal, including "PATH: in use by process
  // PID" when another writer holds the lock.
  static RunDir create(const std::string& path, const RunInputs& inputs, bool replace);
  // An existing run directory, to resume: locked, and marked if it was not (an older version).
  static RunDir open(const std::string& path);
  // True if `path` is a directory with the marker, or one an older version wrote.
  static bool is_run_dir(const std::string& path);

  RunDir(RunDir&& o) noexcept;
  RunDir& operator=(RunDir&&) = delete;
  RunDir(const RunDir&) = delete;
  ~RunDir();  // releases the lock
  const std::string& path() const { return path_; }

 private:
  RunDir(std::string path, int lock_fd) : path_(std::move(path)), lock_fd_(lock_fd) {}
  std::string path_;
  int lock_fd_ = -1;
};

// Removes "<name>.tmp-<pid>" files in `dir` (not below it) whose process no longer exists: the
// temporaries of a writer that was killed (kill -9) before it could remove them. Returns the count.
int remove_stale_temporaries(const std::string& dir);

}  // namespace sptrain
