// Checkpoints: safetensors files (readable by Python's `safetensors` package) with sptrain metadata.
//
// Layout, all little-endian:
//   u64 N | N bytes of UTF-8 JSON header, padded with spaces so that 8 + N is a multiple of 8 | data
// The header maps each tensor name to {"dtype": "F32"|"F64"|"I32"|"I64"|"U8"|"I8", "shape": [...],
// "data_offsets": [begin, end]} (offsets into the data buffer; tensors are contiguous, in the order
// they were added, without gaps) plus "__metadata__", an object of string values. save() adds to it:
//   "format": "sptrain-checkpoint", "format_version": "1",
//   "checksum": 16 lowercase hex digits of the 64-bit FNV-1a hash (offset basis 0xcbf29ce484222325,
//               prime 0x100000001b3) of the canonical header followed by the whole data buffer.
// The canonical header is the header JSON without "__metadata__"."checksum", serialized compactly
// with keys sorted and non-ASCII characters left as UTF-8; in Python:
//   h = json.loads(header); del h["__metadata__"]["checksum"]
//   canon = json.dumps(h, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
// so a flipped bit anywhere in names, shapes, offsets, metadata or data is detected by load().
#pragma once
#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "sptrain/io.hpp"

namespace sptrain::ckpt {

inline constexpr int kFormatVersion = 1;
inline constexpr const char* kFormatName = "sptrain-checkpoint";

struct Tensor {
  std::string name;
  io::DType dtype = io::DType::F32;
  std::vector<int64_t> shape;
  std::vector<char> bytes;  // row-major, little-endian

  int64_t count() const;
  template <class T> std::vector<T> to_vector() const {
    if (dtype != io::dtype_of<T>()) throw std::logic_error("tensor '" + name + "': wrong element type requested");
    std::vector<T> v(bytes.size() / sizeof(T));
    if (!v.empty()) std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
    return v;
  }
};

struct Checkpoint {
  std::vector<Tensor> tensors;                  // order preserved through save and load
  std::map<std::string, std::string> metadata;  // user metadata; JSON documents are stored as strings
  std::string source;                           // the file it was loaded from (for messages)

  const Tensor* find(const std::string& name) const;
  // The tensor `name` as a vector of T; throws UsageError naming the file if it is missing or has
  // another dtype.
  template <class T> std::vector<T> get(const std::string& name) const {
    return require(name, io::dtype_of<T>()).template to_vector<T>();
  }
  const Tensor& require(const std::string& name, io::DType dtype) const;

  // Appends a tensor (copying the data). Throws std::invalid_argument if the name is taken or
  // reserved ("__metadata__", empty) or if the shape does not hold v.size() elements.
  template <class T> void add(std::string name, const std::vector<T>& v, std::vector<int64_t> shape) {
    add_raw(std::move(name), io::dtype_of<T>(), std::move(shape), v.data(), v.size() * sizeof(T));
  }
  void add_raw(std::string name, io::DType dtype, std::vector<int64_t> shape, const void* data, size_t nbytes);
};

// Writes atomically (io::AtomicFile: temporary, fsync, rename). Throws std::invalid_argument if the
// user metadata uses a reserved key ("format", "format_version", "checksum"), std::runtime_error on
// an I/O failure.
void save(const Checkpoint& c, const std::string& path);

// Reads and verifies a checkpoint written by save(). Throws UsageError naming the file and what is
// wrong: not a safetensors file, truncated, header JSON invalid, not an sptrain checkpoint or another
// format version, bad dtype/shape/offsets, size mismatch, checksum mismatch ("corrupted").
// The reserved keys are removed from `metadata`; `source` is set to path.
Checkpoint load(const std::string& path);
// The same checks on a checkpoint image in memory (for tests and fuzzing); `source` names it.
Checkpoint parse(std::string_view bytes, const std::string& source);

// Throws UsageError("checkpoint X: tensor 'name' has shape [..], the model expects [..]"), or
// "checkpoint X: has no tensor 'name'".
void expect_shape(const Checkpoint& c, const std::string& name, const std::vector<int64_t>& shape);

// Checks that tensor `name` is there as an F32 vector of exactly n elements, else throws
// UsageError("checkpoint X: tensor 'opt_v': 1234 floats, <needed_by> need 1000") (or names the
// missing tensor, its dtype or its shape).
void expect_floats(const Checkpoint& c, const std::string& name, int64_t n, const std::string& needed_by);
// Throws UsageError naming the tensor, the first non-finite element and its index if an F32/F64
// tensor holds a NaN or an infinity.
void expect_finite(const Checkpoint& c, const std::string& name);
// Throws UsageError naming the first tensor whose name is not in `names`.
void expect_only(const Checkpoint& c, const std::vector<std::string>& names);

// "F32", "F64", ...: the safetensors dtype names.
const char* dtype_name(io::DType t);

}  // namespace sptrain::ckpt
