// Checkpoint writer and verifying reader (safetensors with an FNV-1a 64 checksum); the layout is
// described in include/sptrain/checkpoint.hpp. Little-endian hosts only (x86-64, aarch64).
#include "sptrain/checkpoint.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "sptrain/error.hpp"

namespace sptrain::ckpt {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// safetensors refuses headers above 100 MB; a larger length means the file is something else.
constexpr uint64_t kMaxHeader = 100'000'000;

struct Fnv1a64 {
  uint64_t h = 0xcbf29ce484222325ull;
  void update(const void* data, size_t n) {
    auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  }
};

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) r += ", ";
    r += std::to_string(s[i]);
  }
  return r + "]";
}

bool reserved_key(const std::string& k) { return k == "format" || k == "format_version" || k == "checksum"; }

bool parse_dtype(const std::string& s, io::DType& t) {
  static const std::pair<const char*, io::DType> names[] = {{"F32", io::DType::F32}, {"F64", io::DType::F64},
                                                            {"I32", io::DType::I32}, {"I64", io::DType::I64},
                                                            {"U8", io::DType::U8},   {"I8", io::DType::I8}};
  for (auto& [n, d] : names)
    if (s == n) {
      t = d;
      return true;
    }
  return false;
}

// Element count of a shape, or -1 if it overflows int64.
int64_t checked_count(const std::vector<int64_t>& shape) {
  int64_t c = 1;
  for (auto s : shape) {
    if (s < 0) return -1;
    if (s != 0 && c > std::numeric_limits<int64_t>::max() / s) return -1;
    c *= s;
  }
  return c;
}

// The checksum input: the header without __metadata__.checksum, keys sorted, compact.
std::string canonical_header(const json& header) {
  json c = header;
  c["__metadata__"].erase("checksum");
  return c.dump();
}

struct Entry {
  std::string name;
  io::DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

}  // namespace

const char* dtype_name(io::DType t) {
  switch (t) {
    case io::DType::F32: return "F32";
    case io::DType::F64: return "F64";
    case io::DType::I32: return "I32";
    case io::DType::I64: return "I64";
    case io::DType::U8: return "U8";
    case io::DType::I8: return "I8";
  }
  return "?";
}

int64_t Tensor::count() const { return checked_count(shape); }

const Tensor* Checkpoint::find(const std::string& name) const {
  for (auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const Tensor& Checkpoint::require(const std::string& name, io::DType dtype) const {
  std::string where = "checkpoint " + (source.empty() ? std::string("(not saved)") : source);
  const Tensor* t = find(name);
  if (!t) throw UsageError(where + ": has no tensor '" + name + "'");
  if (t->dtype != dtype)
    throw UsageError(where + ": tensor '" + name + "' has dtype " + dtype_name(t->dtype) + ", expected " +
                     dtype_name(dtype));
  return *t;
}

void Checkpoint::add_raw(std::string name, io::DType dtype, std::vector<int64_t> shape, const void* data,
                         size_t nbytes) {
  if (name.empty() || name == "__metadata__")
    throw std::invalid_argument("checkpoint tensor name '" + name + "' is reserved");
  if (find(name)) throw std::invalid_argument("checkpoint already has a tensor '" + name + "'");
  int64_t n = checked_count(shape);
  if (n < 0 || size_t(n) * io::dtype_size(dtype) != nbytes)
    throw std::invalid_argument("checkpoint tensor '" + name + "': shape " + shape_str(shape) + " does not hold " +
                                std::to_string(nbytes / io::dtype_size(dtype)) + " elements");
  Tensor t{std::move(name), dtype, std::move(shape), std::vector<char>(nbytes)};
  if (nbytes) std::memcpy(t.bytes.data(), data, nbytes);
  tensors.push_back(std::move(t));
}

void save(const Checkpoint& c, const std::string& path) {
  ordered_json meta = ordered_json::object();
  meta["format"] = kFormatName;
  meta["format_version"] = std::to_string(kFormatVersion);
  for (auto& [k, v] : c.metadata) {
    if (reserved_key(k)) throw std::invalid_argument("checkpoint metadata key '" + k + "' is reserved");
    meta[k] = v;
  }
  ordered_json header = ordered_json::object();
  header["__metadata__"] = meta;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (auto& t : c.tensors) {
    if (t.name.empty() || t.name == "__metadata__" || !names.insert(t.name).second)
      throw std::invalid_argument("checkpoint tensor name '" + t.name + "' is reserved or repeated");
    int64_t n = checked_count(t.shape);
    if (n < 0 || size_t(n) * io::dtype_size(t.dtype) != t.bytes.size())
      throw std::invalid_argument("checkpoint tensor '" + t.name + "': shape " + shape_str(t.shape) +
                                  " does not match its " + std::to_string(t.bytes.size()) + " bytes");
    header[t.name] = {{"dtype", dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }

  Fnv1a64 fnv;
  std::string canon = canonical_header(json::parse(header.dump()));
  fnv.update(canon.data(), canon.size());
  for (auto& t : c.tensors) fnv.update(t.bytes.data(), t.bytes.size());
  header["__metadata__"]["checksum"] = hex64(fnv.h);

  std::string text = header.dump();
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');  // data starts 8-byte aligned
  uint64_t n = text.size();
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = char((n >> (8 * i)) & 0xff);

  io::AtomicFile f(path);
  auto& out = f.stream();
  out.write(len, 8);
  out.write(text.data(), std::streamsize(text.size()));
  for (auto& t : c.tensors) out.write(t.bytes.data(), std::streamsize(t.bytes.size()));
  f.commit();
}

Checkpoint load(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    throw UsageError("checkpoint " + path + ": not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("checkpoint " + path + ": cannot open");
  in.seekg(0, std::ios::end);
  const std::streamoff end = in.tellg();
  if (end < 0) throw UsageError("checkpoint " + path + ": cannot read (not a regular file?)");
  std::string bytes(size_t(end), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), std::streamsize(bytes.size()))) throw UsageError("checkpoint " + path + ": read error");
  return parse(bytes, path);
}

Checkpoint parse(std::string_view bytes, const std::string& path) {
  const std::string who = "checkpoint " + path;
  const uint64_t size = bytes.size();

  if (size < 8)
    throw UsageError(who + " is not a safetensors file: " + std::to_string(size) +
                     " bytes, too short for the 8-byte header length");
  const auto* len = reinterpret_cast<const unsigned char*>(bytes.data());
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(len[i]) << (8 * i);
  if (n < 2 || n > kMaxHeader)
    throw UsageError(who + " is not a safetensors file: header length " + std::to_string(n) +
                     " is not plausible");
  if (n > size - 8)
    throw UsageError(who + " is truncated: the header length says " + std::to_string(n) +
                     " bytes but only " + std::to_string(size - 8) + " follow");
  const std::string text(bytes.substr(8, n));
  if (text[0] != '{') throw UsageError(who + " is not a safetensors file: the header does not start with '{'");
  // The JSON parser would stop at a NUL byte and ignore what follows; safetensors rejects it.
  if (text.find('\0') != std::string::npos)
    throw UsageError(who + ": header JSON is invalid: NUL byte at header offset " + std::to_string(text.find('\0')));

  json header;
  try {
    header = json::parse(text);
  } catch (const json::parse_error& e) {
    throw UsageError(who + ": header JSON is invalid: " + io::quote_untrusted(e.what(), 200));
  }
  if (!header.is_object()) throw UsageError(who + ": header JSON is not an object");

  // Format and version first: a later version may lay out anything else differently.
  auto mit = header.find("__metadata__");
  if (mit == header.end() || !mit->is_object())
    throw UsageError(who + " is not an sptrain checkpoint: the header has no __metadata__ object");
  Checkpoint c;
  c.source = path;
  for (auto& [k, v] : mit->items()) {
    if (!v.is_string()) throw UsageError(who + ": __metadata__ value '" + io::quote_untrusted(k) + "' is not a string");
    c.metadata[k] = v.get<std::string>();
  }
  auto meta_value = [&](const char* key) {
    auto it = c.metadata.find(key);
    if (it == c.metadata.end())
      throw UsageError(who + " is not an sptrain checkpoint: __metadata__ has no \"" + key + "\"");
    return it->second;
  };
  if (std::string f = meta_value("format"); f != kFormatName)
    throw UsageError(who + " is not an sptrain checkpoint: __metadata__.format is '" + io::quote_untrusted(f) + "', expected '" +
                     kFormatName + "'");
  if (std::string v = meta_value("format_version"); v != std::to_string(kFormatVersion))
    throw UsageError(who + " has format_version '" + io::quote_untrusted(v) + "'; this sptrain reads format_version " +
                     std::to_string(kFormatVersion));
  const std::string recorded = meta_value("checksum");

  // Tensor entries.
  const uint64_t data_size = size - 8 - n;
  std::vector<Entry> entries;
  for (auto& [name, v] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string t = who + ": tensor '" + io::quote_untrusted(name) + "'";
    if (!v.is_object()) throw UsageError(t + " is not an object");
    auto d = v.find("dtype"), s = v.find("shape"), o = v.find("data_offsets");
    if (d == v.end() || s == v.end() || o == v.end() || v.size() != 3)
      throw UsageError(t + " must have exactly \"dtype\", \"shape\" and \"data_offsets\"");
    Entry e;
    e.name = name;
    if (!d->is_string() || !parse_dtype(d->get<std::string>(), e.dtype))
      throw UsageError(t + " has unsupported dtype " + io::quote_untrusted(d->dump()) + " (F32, F64, I32, I64, U8, I8)");
    if (!s->is_array()) throw UsageError(t + ": shape is not an array");
    for (auto& x : *s) {
      if (!x.is_number_unsigned() || x.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
        throw UsageError(t + ": shape " + io::quote_untrusted(s->dump()) + " is not a list of non-negative integers");
      e.shape.push_back(x.get<int64_t>());
    }
    if (!o->is_array() || o->size() != 2 || !(*o)[0].is_number_unsigned() || !(*o)[1].is_number_unsigned())
      throw UsageError(t + ": data_offsets " + io::quote_untrusted(o->dump()) + " is not a pair of non-negative integers");
    e.begin = (*o)[0].get<uint64_t>();
    e.end = (*o)[1].get<uint64_t>();
    if (e.begin > e.end) throw UsageError(t + ": data_offsets " + io::quote_untrusted(o->dump()) + " end before they begin");
    if (e.end > data_size)
      throw UsageError(who + " is truncated or damaged: tensor '" + io::quote_untrusted(name) + "' data_offsets " + io::quote_untrusted(o->dump()) +
                       " run past the " + std::to_string(data_size) + "-byte data buffer");
    int64_t count = checked_count(e.shape);
    uint64_t need = count < 0 ? 0 : uint64_t(count) * io::dtype_size(e.dtype);
    if (count < 0 || need / io::dtype_size(e.dtype) != uint64_t(count) || need != e.end - e.begin)
      throw UsageError(t + ": shape " + shape_str(e.shape) + " x " + dtype_name(e.dtype) + " needs " +
                       std::to_string(need) + " bytes but data_offsets " + io::quote_untrusted(o->dump()) + " hold " +
                       std::to_string(e.end - e.begin));
    entries.push_back(std::move(e));
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  uint64_t pos = 0;
  for (auto& e : entries) {
    if (e.begin < pos)
      throw UsageError(who + ": tensor '" + io::quote_untrusted(e.name) + "' data_offsets [" + std::to_string(e.begin) + ", " +
                       std::to_string(e.end) + "] overlap the previous tensor (which ends at " +
                       std::to_string(pos) + ")");
    if (e.begin > pos)
      throw UsageError(who + ": gap in the data buffer before tensor '" + io::quote_untrusted(e.name) + "' (bytes " +
                       std::to_string(pos) + " to " + std::to_string(e.begin) + " belong to no tensor)");
    pos = e.end;
  }
  if (pos != data_size)
    throw UsageError(who + ": " + std::to_string(data_size - pos) + " trailing bytes after the last tensor");

  // Data, hashed as it is read.
  Fnv1a64 fnv;
  std::string canon = canonical_header(header);
  fnv.update(canon.data(), canon.size());
  for (auto& e : entries) {
    const char* p = bytes.data() + 8 + n + e.begin;
    Tensor t{e.name, e.dtype, e.shape, std::vector<char>(p, p + (e.end - e.begin))};
    fnv.update(t.bytes.data(), t.bytes.size());
    c.tensors.push_back(std::move(t));
  }
  if (hex64(fnv.h) != recorded)
    throw UsageError(who + " is corrupted: checksum of the contents is " + hex64(fnv.h) +
                     " but the file records " + io::quote_untrusted(recorded));
  for (auto k : {"format", "format_version", "checksum"}) c.metadata.erase(k);
  return c;
}

namespace {
std::string who_of(const Checkpoint& c) {
  return "checkpoint " + (c.source.empty() ? std::string("(not saved)") : c.source);
}
}  // namespace

void expect_floats(const Checkpoint& c, const std::string& name, int64_t n, const std::string& needed_by) {
  const std::string who = who_of(c);
  const Tensor* t = c.find(name);
  if (!t) throw UsageError(who + ": has no tensor '" + name + "' (" + needed_by + " need it)");
  if (t->dtype != io::DType::F32)
    throw UsageError(who + ": tensor '" + name + "' has dtype " + dtype_name(t->dtype) + ", " + needed_by +
                     " need F32");
  if (t->shape.size() != 1)
    throw UsageError(who + ": tensor '" + name + "' has shape " + shape_str(t->shape) + ", " + needed_by +
                     " need a vector [" + std::to_string(n) + "]");
  if (t->shape[0] != n)
    throw UsageError(who + ": tensor '" + name + "': " + std::to_string(t->shape[0]) + " floats, " + needed_by +
                     " need " + std::to_string(n));
}

void expect_finite(const Checkpoint& c, const std::string& name) {
  const Tensor* t = c.find(name);
  if (!t) throw UsageError(who_of(c) + ": has no tensor '" + name + "'");
  auto scan = [&](auto tag) {
    using T = decltype(tag);
    const size_t n = t->bytes.size() / sizeof(T);
    for (size_t i = 0; i < n; ++i) {
      T v;
      std::memcpy(&v, t->bytes.data() + i * sizeof(T), sizeof(T));
      if (!std::isfinite(v))
        throw UsageError(who_of(c) + ": tensor '" + name + "' holds " + (std::isnan(v) ? "NaN" : "an infinity") +
                         " at element " + std::to_string(i) + " (of " + std::to_string(n) +
                         "): the run diverged or the file was altered");
    }
  };
  if (t->dtype == io::DType::F32) scan(float{});
  else if (t->dtype == io::DType::F64) scan(double{});
}

void expect_only(const Checkpoint& c, const std::vector<std::string>& names) {
  for (const Tensor& t : c.tensors)
    if (std::find(names.begin(), names.end(), t.name) == names.end()) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      throw UsageError(who_of(c) + ": tensor '" + io::quote_untrusted(t.name) +
                       "' is not one sptrain writes (" + list + ")");
    }
}

void expect_shape(const Checkpoint& c, const std::string& name, const std::vector<int64_t>& shape) {
  std::string who = "checkpoint " + (c.source.empty() ? std::string("(not saved)") : c.source);
  const Tensor* t = c.find(name);
  if (!t) throw UsageError(who + ": has no tensor '" + name + "'");
  if (t->shape != shape)
    throw UsageError(who + ": tensor '" + name + "' has shape " + shape_str(t->shape) + ", the model expects " +
                     shape_str(shape));
}

}  // namespace sptrain::ckpt
