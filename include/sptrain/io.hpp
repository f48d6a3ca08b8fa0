// File formats: NPY arrays, NPZ bundles (uncompressed zip, zip64), and atomic writes.
#pragma once
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace sptrain::io {

enum class DType { F32, F64, I32, I64, U8, I8 };
size_t dtype_size(DType t);
const char* dtype_descr(DType t);  // NPY descr, e.g. "<f4"

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::I32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::I64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::U8; }
template <> constexpr DType dtype_of<int8_t>() { return DType::I8; }

// A named, typed, shaped view of contiguous row-major data (not owned).
struct ArrayView {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;
  int64_t count() const;
  size_t bytes() const { return size_t(count()) * dtype_size(dtype); }
};
template <class T>
ArrayView view(std::string name, const std::vector<T>& v, std::vector<int64_t> shape) {
  return {std::move(name), dtype_of<T>(), std::move(shape), v.data()};
}

// An owned array read from a file.
struct Array {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<char> bytes;
  int64_t count() const;
  template <class T> const T* as() const { return reinterpret_cast<const T*>(bytes.data()); }
};

void write_npy(std::ostream& out, const ArrayView& a);
Array read_npy(const std::string& path);  // throws UsageError naming the file for a malformed one
void write_npz(std::ostream& out, const std::vector<ArrayView>& arrays);  // members "<name>.npy"
// An NPY image in memory (from a file or an NPZ member); `what` names it in errors.
Array parse_npy(const char* data, size_t n, const std::string& what);
// The members "<name>.npy" of an NPZ archive (stored, zip or zip64), by name without ".npy";
// `only` restricts to those names. Throws UsageError naming the file for a bad archive.
std::map<std::string, Array> read_npz(const std::string& path, const std::vector<std::string>& only = {});
// File content made safe for an error message: printable ASCII is kept, every other byte
// (control characters such as ESC, DEL, bytes >= 0x80) becomes \xNN, and input beyond max_len
// bytes is cut and marked with "..." so a message cannot carry terminal escape sequences or a
// whole file. Every reader puts bytes of its input into messages only through this.
std::string quote_untrusted(std::string_view s, size_t max_len = 64);
// CRC-32 (zip's polynomial) of n bytes, continuing from `crc` (0 to start).
uint32_t crc32(const void* data, size_t n, uint32_t crc = 0);

// A file written to "<path>.tmp-<pid>" and renamed onto path by commit() after fsync, so readers
// never see a torn file. Without commit() (an exception, an interrupt) the temporary is removed.
// The stream never throws; a failed write (a full disk) makes commit() throw std::runtime_error
// "writing <path>: no space left on device" (the errno of the first failed write).
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();
  std::ostream& stream() { return out_; }
  void commit();  // flush, fsync, rename; throws on any I/O failure
  const std::string& path() const { return path_; }

 private:
  class Buf;
  std::string path_, tmp_;
  int fd_ = -1;
  std::unique_ptr<Buf> buf_;
  std::ostream out_;
  bool committed_ = false;
};

// Writes `text` to `path` through an AtomicFile (the whole file or nothing).
void write_file_atomic(const std::string& path, const std::string& text);

// "<what> <path>: <strerror(err), lower case>", e.g. "writing a.npy: no space left on device".
std::string io_error(const std::string& what, const std::string& path, int err);

// Throws UsageError if `path` exists and !force, or if its directory does not exist.
void check_output_path(const std::string& path, bool force);

// Removes temporary files of every live AtomicFile and ScratchFile (for signal handlers;
// async-signal-safe).
void remove_pending_temporaries() noexcept;

// A scratch file that exists only while this object lives: registered with the signal handler's
// table (an interrupt removes it) and unlinked by the destructor.
class ScratchFile {
 public:
  explicit ScratchFile(std::string path);
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  ~ScratchFile();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace sptrain::io
