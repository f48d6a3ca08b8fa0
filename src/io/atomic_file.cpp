// Atomic output files: write a temporary beside the target, fsync, rename. Live temporaries are
// tracked so that an interrupt (SIGINT/SIGTERM handler in the CLI) can remove them. The stream
// writes through its own buffer to the file descriptor and remembers the first write error, so a
// full disk is reported by commit() with the target's name and errno, never by a stream exception.
#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <stdexcept>
#include <streambuf>

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

std::string io_error(const std::string& what, const std::string& path, int err) {
  std::string reason = std::strerror(err);
  if (!reason.empty()) reason[0] = char(std::tolower(static_cast<unsigned char>(reason[0])));
  return what + " " + path + ": " + reason;
}

// A write-only stream buffer over a file descriptor. After the first failed write it writes
// nothing more and keeps that errno.
class AtomicFile::Buf : public std::streambuf {
 public:
  explicit Buf(int fd) : fd_(fd) { setp(buf_, buf_ + sizeof buf_); }
  int error() const { return err_; }
  bool drain() {
    const bool ok = put(pbase(), size_t(pptr() - pbase()));
    setp(buf_, buf_ + sizeof buf_);
    return ok;
  }

 protected:
  int_type overflow(int_type c) override {
    if (!drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    if (n <= 0) return 0;  // an empty write may come with a null pointer (memcpy must not see it)
    if (n <= epptr() - pptr()) {
      std::memcpy(pptr(), s, size_t(n));
      pbump(int(n));
      return n;
    }
    if (!drain() || !put(s, size_t(n))) return 0;
    return n;
  }
  int sync() override { return drain() ? 0 : -1; }

 private:
  bool put(const char* s, size_t n) {
    while (err_ == 0 && n > 0) {
      const ssize_t w = ::write(fd_, s, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) err_ = errno;
      else if (w == 0) err_ = EIO;
      else {
        s += w;
        n -= size_t(w);
      }
    }
    return err_ == 0;
  }
  int fd_;
  int err_ = 0;
  char buf_[1 << 16];
};

void remove_pending_temporaries() noexcept {
  for (auto& slot : g_pending)
    if (slot[0] != '\0') unlink(slot);
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), out_(nullptr) {
  tmp_ = path_ + ".tmp-" + std::to_string(getpid());
  track(tmp_, true);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int err = errno;
    track(tmp_, false);
    throw std::runtime_error(io_error("cannot write", tmp_, err));
  }
  buf_ = std::make_unique<Buf>(fd_);
  out_.rdbuf(buf_.get());
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) {
    ::unlink(tmp_.c_str());
    track(tmp_, false);
  }
}

void AtomicFile::commit() {
  buf_->drain();
  if (buf_->error() != 0) throw std::runtime_error(io_error("writing", path_, buf_->error()));
  if (!out_) throw std::runtime_error("writing " + path_ + ": the data could not be formatted");
  if (::fsync(fd_) != 0) throw std::runtime_error(io_error("writing", path_, errno));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw std::runtime_error(io_error("writing", path_, errno));
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    throw std::runtime_error("cannot rename '" + tmp_ + "' to '" + path_ + "': " + std::strerror(errno));
  committed_ = true;
  track(tmp_, false);
}

ScratchFile::ScratchFile(std::string path) : path_(std::move(path)) { track(path_, true); }

ScratchFile::~ScratchFile() {
  ::unlink(path_.c_str());
  track(path_, false);
}

void write_file_atomic(const std::string& path, const std::string& text) {
  AtomicFile f(path);
  f.stream() << text;
  f.commit();
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
