// Atomic output files: write a temporary beside the target, fsync, rename. Live temporaries are
// tracked so that an interrupt (SIGINT/SIGTERM handler in the CLI) can remove them.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>

#include "sptrain/error.hpp"
#include "sptrain/io.hpp"

namespace sptrain::io {
namespace {

// Fixed-size table of pending temporary names, readable from a signal handler.
constexpr int kSlots = 64;
char g_pending[kSlots][4096];
std::mutex g_mutex;

void track(const std::string& tmp, bool add) {
  std::lock_guard<std::mutex> lock(g_mutex);
  for (auto& slot : g_pending) {
    if (add && slot[0] == '\0' && tmp.size() < sizeof(slot)) {
      std::memcpy(slot, tmp.c_str(), tmp.size() + 1);
      return;
    }
    if (!add && tmp == slot) {
      slot[0] = '\0';
      return;
    }
  }
}

}  // namespace

void remove_pending_temporaries() noexcept {
  for (auto& slot : g_pending)
    if (slot[0] != '\0') unlink(slot);
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  tmp_ = path_ + ".tmp-" + std::to_string(getpid());
  track(tmp_, true);
  out_.open(tmp_, std::ios::binary | std::ios::trunc);
  if (!out_) {
    track(tmp_, false);
    throw std::runtime_error("cannot write '" + tmp_ + "': " + std::strerror(errno));
  }
  out_.exceptions(std::ios::badbit);
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    out_.close();
    std::remove(tmp_.c_str());
    track(tmp_, false);
  }
}

void AtomicFile::commit() {
  out_.flush();
  if (!out_) throw std::runtime_error("writing '" + tmp_ + "' failed (disk full?)");
  out_.close();
  int fd = open(tmp_.c_str(), O_RDONLY);
  if (fd < 0 || fsync(fd) != 0) {
    if (fd >= 0) close(fd);
    throw std::runtime_error("fsync of '" + tmp_ + "' failed: " + std::strerror(errno));
  }
  close(fd);
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    throw std::runtime_error("cannot rename '" + tmp_ + "' to '" + path_ + "': " + std::strerror(errno));
  committed_ = true;
  track(tmp_, false);
}

void check_output_path(const std::string& path, bool force) {
  namespace fs = std::filesystem;
  fs::path p(path);
  if (fs::exists(p) && !force) throw UsageError(path + ": exists (use --force to overwrite)");
  if (fs::is_directory(p)) throw UsageError(path + ": is a directory");
  fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::is_directory(dir)) throw UsageError(path + ": directory '" + dir.string() + "' does not exist");
}

}  // namespace sptrain::io
