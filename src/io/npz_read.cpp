// NPY parsing from memory and an NPZ (zip) reader: central directory, zip64 records and extra
// fields, stored members only. Little-endian hosts only, like the writers in npy.cpp.
#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>

#include "sptrain/error.hpp"
#include "sptrain/trajectory_read.hpp"

namespace sptrain::io {

namespace {

// ---- NPY header ---------------------------------------------------------------------------------

struct NpyHeader {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  size_t data_offset = 0;
};

// The header is a Python dict literal, as numpy writes it and reads it (ast.literal_eval):
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }  padded with spaces, then '\n'.
// Parsed as that grammar exactly (strings without escapes, True/False, tuples of integers), with
// exactly the three keys, each once; anything else is an error naming the offset.
class HeaderParser {
 public:
  HeaderParser(const std::string& h, const std::string& what) : h_(h), what_(what) {}

  struct Value {
    enum Kind { Str, Bool, Tuple } kind = Str;
    std::string str;
    bool b = false;
    std::vector<int64_t> ints;
    size_t at = 0;
  };

  std::map<std::string, Value> dict() {
    std::map<std::string, Value> out;
    ws();
    expect('{');
    ws();
    while (peek() != '}') {
      const size_t key_at = p_;
      if (peek() != '\'' && peek() != '"') fail("expected a quoted key", key_at);
      const std::string key = str();
      ws();
      expect(':');
      ws();
      Value v = value();
      if (!out.emplace(key, std::move(v)).second) fail("key '" + quote_untrusted(key) + "' appears twice", key_at);
      ws();
      if (peek() == ',') {
        ++p_;
        ws();
      } else if (peek() != '}') {
        fail("expected ',' or '}'", p_);
      }
    }
    ++p_;
    ws();
    if (p_ != h_.size()) fail("text after the closing '}'", p_);
    return out;
  }

  [[noreturn]] void fail(const std::string& why, size_t at) const {
    throw UsageError(what_ + ": not a readable NPY file: header, offset " + std::to_string(at) + ": " + why);
  }

 private:
  char peek() const { return p_ < h_.size() ? h_[p_] : '\0'; }
  void ws() {
    while (p_ < h_.size() && (h_[p_] == ' ' || h_[p_] == '\t' || h_[p_] == '\n' || h_[p_] == '\r')) ++p_;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'", p_);
    ++p_;
  }
  std::string str() {
    const char q = h_[p_++];
    const size_t b = p_;
    while (p_ < h_.size() && h_[p_] != q) {
      if (h_[p_] == '\\' || h_[p_] == '\n') fail("escapes and line breaks in strings are not supported", p_);
      ++p_;
    }
    if (p_ >= h_.size()) fail("unterminated string", b - 1);
    return h_.substr(b, p_++ - b);
  }
  int64_t integer() {
    const size_t b = p_;
    int64_t v = 0;
    while (p_ < h_.size() && h_[p_] >= '0' && h_[p_] <= '9') {
      if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) fail("shape entry too large", b);
      v = v * 10 + (h_[p_++] - '0');
    }
    if (p_ == b) fail("expected a non-negative integer", b);
    if (peek() == 'L' || peek() == 'l') ++p_;  // Python 2 long literals in old files
    return v;
  }
  Value value() {
    Value v;
    v.at = p_;
    const char c = peek();
    if (c == '\'' || c == '"') {
      v.str = str();
    } else if (h_.compare(p_, 4, "True") == 0 || h_.compare(p_, 5, "False") == 0) {
      v.kind = Value::Bool;
      v.b = h_[p_] == 'T';
      p_ += v.b ? 4 : 5;
    } else if (c == '(') {
      v.kind = Value::Tuple;
      ++p_;
      ws();
      bool comma = false;
      while (peek() != ')') {
        v.ints.push_back(integer());
        ws();
        comma = peek() == ',';
        if (comma) {
          ++p_;
          ws();
        } else if (peek() != ')') {
          fail("expected ',' or ')' in a tuple", p_);
        }
      }
      if (v.ints.size() == 1 && !comma) fail("(n) is a number, not a tuple: write (n,)", v.at);
      ++p_;
    } else if (c == '[') {
      fail("structured dtypes are not supported (float32, float64, int32, int64, uint8, int8, bool)", p_);
    } else {
      fail("expected a string, True, False or a tuple", p_);
    }
    return v;
  }

  const std::string& h_;
  const std::string& what_;
  size_t p_ = 0;
};

NpyHeader parse_npy_header(const char* data, size_t n, const std::string& what) {
  auto bad = [&](const std::string& why) { return UsageError(what + ": not a readable NPY file: " + why); };
  if (n < 10 || std::memcmp(data, "\x93NUMPY", 6) != 0) throw bad("missing NPY magic");
  const auto* u = reinterpret_cast<const unsigned char*>(data);
  size_t hlen = 0, start = 0;
  if (u[6] == 1) {
    hlen = size_t(u[8]) | (size_t(u[9]) << 8);
    start = 10;
  } else if (u[6] == 2 || u[6] == 3) {
    if (n < 12) throw bad("truncated header");
    hlen = size_t(u[8]) | (size_t(u[9]) << 8) | (size_t(u[10]) << 16) | (size_t(u[11]) << 24);
    start = 12;
  } else {
    throw bad("unsupported version " + std::to_string(int(u[6])));
  }
  if (hlen > n - start)
    throw bad("truncated header (" + std::to_string(hlen) + " bytes announced, " + std::to_string(n - start) +
              " in the file)");
  const std::string h(data + start, hlen);
  if (h.empty() || h.back() != '\n') throw bad("the header does not end with a newline");
  NpyHeader out;
  out.data_offset = start + hlen;

  HeaderParser parser(h, what);
  const auto d = parser.dict();
  for (const char* k : {"descr", "fortran_order", "shape"})
    if (!d.count(k)) throw bad(std::string("header lacks '") + k + "'");
  if (d.size() != 3)
    for (const auto& [k, v] : d)
      if (k != "descr" && k != "fortran_order" && k != "shape")
        parser.fail("unexpected key '" + quote_untrusted(k) + "' (only descr, fortran_order, shape)", v.at);

  const auto& dv = d.at("descr");
  if (dv.kind != HeaderParser::Value::Str) parser.fail("descr is not a string", dv.at);
  const std::string& descr = dv.str;
  if (descr.find('O') != std::string::npos)
    throw UsageError(what + ": an object array (ragged trajectories?) cannot be read: save trajectories of "
                            "equal length as a float array of shape (N, L, D), or as CSV");
  const std::string shown = quote_untrusted(descr);
  if (descr.size() < 2) throw bad("unsupported dtype '" + shown + "'");
  const char order = descr[0];
  const std::string code = (order == '<' || order == '>' || order == '|' || order == '=') ? descr.substr(1) : descr;
  if (order == '>' && code != "u1" && code != "i1" && code != "b1")
    throw bad("big-endian dtype '" + shown + "' is not supported");
  if (code == "f4") out.dtype = DType::F32;
  else if (code == "f8") out.dtype = DType::F64;
  else if (code == "i4") out.dtype = DType::I32;
  else if (code == "i8") out.dtype = DType::I64;
  else if (code == "u1" || code == "b1") out.dtype = DType::U8;
  else if (code == "i1") out.dtype = DType::I8;
  else throw bad("unsupported dtype '" + shown + "' (float32, float64, int32, int64, uint8, int8, bool)");

  const auto& fv = d.at("fortran_order");
  if (fv.kind != HeaderParser::Value::Bool) parser.fail("fortran_order is not True or False", fv.at);
  if (fv.b) throw bad("Fortran order is not supported");

  const auto& sv = d.at("shape");
  if (sv.kind != HeaderParser::Value::Tuple) parser.fail("shape is not a tuple of integers", sv.at);
  out.shape = sv.ints;

  // The data: exactly what the shape and dtype need (no overflow in the product).
  const size_t avail = n - out.data_offset;
  size_t need = dtype_size(out.dtype);
  bool overflow = false, zero = false;
  for (int64_t s : out.shape) zero = zero || s == 0;
  if (zero) need = 0;
  else
    for (int64_t s : out.shape) {
      if (need > std::numeric_limits<size_t>::max() / size_t(s) ||
          (need * size_t(s)) / dtype_size(out.dtype) > size_t(std::numeric_limits<int64_t>::max())) {
        overflow = true;
        break;
      }
      need *= size_t(s);
    }
  std::string shape_txt = "(";
  for (size_t i = 0; i < out.shape.size(); ++i) shape_txt += (i ? ", " : "") + std::to_string(out.shape[i]);
  shape_txt += out.shape.size() == 1 ? ",)" : ")";
  if (overflow || need > avail)
    throw bad("data shorter than its shape says: shape " + shape_txt + " of " + dtype_descr(out.dtype) + " needs " +
              (overflow ? std::string("more than 2^63") : std::to_string(need)) + " bytes, " +
              std::to_string(avail) + " follow the header");
  if (need < avail)
    throw bad(std::to_string(avail - need) + " bytes after the data that shape " + shape_txt + " of " +
              dtype_descr(out.dtype) + " holds (" + std::to_string(need) + " bytes)");
  return out;
}

// ---- zip ----------------------------------------------------------------------------------------

uint64_t le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct Member {
  std::string name;
  uint16_t flags = 0, method = 0;
  uint32_t crc = 0;
  uint64_t csize = 0, usize = 0, offset = 0;
};

class ZipFile {
 public:
  explicit ZipFile(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) throw UsageError(path + ": cannot open");
    in_.seekg(0, std::ios::end);
    size_ = uint64_t(in_.tellg());
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw UsageError(path_ + ": not a readable NPZ archive: " + why);
  }

  std::vector<unsigned char> read_at(uint64_t off, uint64_t n) {
    if (off > size_ || n > size_ - off) fail("truncated (a record points past the end of the file)");
    std::vector<unsigned char> b(n);
    in_.clear();
    in_.seekg(std::streamoff(off));
    if (n && !in_.read(reinterpret_cast<char*>(b.data()), std::streamsize(n))) fail("read error");
    return b;
  }

  std::vector<Member> directory() {
    if (size_ < 22) fail("too short for a zip archive");
    const uint64_t tail_n = std::min<uint64_t>(size_, 22 + 0xffff);
    const uint64_t tail_off = size_ - tail_n;
    const auto tail = read_at(tail_off, tail_n);
    int64_t e = -1;
    for (int64_t i = int64_t(tail_n) - 22; i >= 0; --i)
      if (le(&tail[size_t(i)], 4) == 0x06054b50) {
        e = i;
        break;
      }
    if (e < 0) fail("no end-of-central-directory record");
    const unsigned char* r = &tail[size_t(e)];
    uint64_t entries = le(r + 10, 2), cd_size = le(r + 12, 4), cd_off = le(r + 16, 4);
    const uint64_t eocd_abs = tail_off + uint64_t(e);
    // A zip64 locator right before the end record: take counts and offsets from the zip64 record.
    if (eocd_abs >= 20) {
      const auto loc = read_at(eocd_abs - 20, 20);
      if (le(loc.data(), 4) == 0x07064b50) {
        const uint64_t z_off = le(loc.data() + 8, 8);
        const auto z = read_at(z_off, 56);
        if (le(z.data(), 4) != 0x06064b50) fail("zip64 locator does not point at a zip64 end record");
        entries = le(z.data() + 32, 8);
        cd_size = le(z.data() + 40, 8);
        cd_off = le(z.data() + 48, 8);
      } else if (entries == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
        fail("zip64 end record missing");
      }
    }
    const auto cd = read_at(cd_off, cd_size);
    std::vector<Member> out;
    size_t p = 0;
    for (uint64_t k = 0; k < entries; ++k) {
      if (p + 46 > cd.size() || le(&cd[p], 4) != 0x02014b50) fail("malformed central directory");
      const unsigned char* c = &cd[p];
      Member m;
      m.flags = uint16_t(le(c + 8, 2));
      m.method = uint16_t(le(c + 10, 2));
      m.crc = uint32_t(le(c + 16, 4));
      m.csize = le(c + 20, 4);
      m.usize = le(c + 24, 4);
      const size_t name_n = size_t(le(c + 28, 2)), extra_n = size_t(le(c + 30, 2)), comment_n = size_t(le(c + 32, 2));
      m.offset = le(c + 42, 4);
      if (p + 46 + name_n + extra_n + comment_n > cd.size()) fail("malformed central directory");
      m.name.assign(reinterpret_cast<const char*>(c + 46), name_n);
      // Zip64 extended information: the saturated fields, in order usize, csize, offset.
      const unsigned char* x = c + 46 + name_n;
      size_t xp = 0;
      while (xp + 4 <= extra_n) {
        const uint64_t id = le(x + xp, 2), len = le(x + xp + 2, 2);
        if (xp + 4 + len > extra_n) break;
        if (id == 0x0001) {
          const unsigned char* f = x + xp + 4;
          uint64_t fp = 0;
          auto take = [&](uint64_t& field) {
            if (field != 0xffffffffu) return;
            if (fp + 8 > len) fail("member '" + quote_untrusted(m.name) + "': short zip64 extra field");
            field = le(f + fp, 8);
            fp += 8;
          };
          take(m.usize);
          take(m.csize);
          take(m.offset);
        }
        xp += 4 + size_t(len);
      }
      out.push_back(std::move(m));
      p += 46 + name_n + extra_n + comment_n;
    }
    return out;
  }

  std::vector<unsigned char> extract(const Member& m) {
    if (m.flags & 1) fail("member '" + quote_untrusted(m.name) + "' is encrypted");
    if (m.method != 0)
      throw UsageError(path_ + ": member '" + quote_untrusted(m.name) + "' is compressed (zip method " + std::to_string(m.method) +
                       "); only stored members can be read: save with numpy.savez, not numpy.savez_compressed");
    if (m.csize != m.usize) fail("member '" + quote_untrusted(m.name) + "': stored sizes disagree");
    const auto lh = read_at(m.offset, 30);
    if (le(lh.data(), 4) != 0x04034b50) fail("member '" + quote_untrusted(m.name) + "': no local header at its offset");
    const uint64_t data_off = m.offset + 30 + le(lh.data() + 26, 2) + le(lh.data() + 28, 2);
    auto data = read_at(data_off, m.usize);
    if (crc32(data.data(), data.size()) != m.crc) fail("member '" + quote_untrusted(m.name) + "': CRC mismatch (corrupt file)");
    return data;
  }

 private:
  std::string path_;
  std::ifstream in_;
  uint64_t size_ = 0;
};

}  // namespace

Array parse_npy(const char* data, size_t n, const std::string& what) {
  const NpyHeader h = parse_npy_header(data, n, what);
  Array a;
  a.dtype = h.dtype;
  a.shape = h.shape;
  a.bytes.assign(data + h.data_offset, data + h.data_offset + size_t(a.count()) * dtype_size(a.dtype));
  return a;
}

std::map<std::string, Array> read_npz(const std::string& path, const std::vector<std::string>& only) {
  ZipFile z(path);
  std::map<std::string, Array> out;
  for (const Member& m : z.directory()) {
    if (m.name.size() < 4 || m.name.compare(m.name.size() - 4, 4, ".npy") != 0) continue;
    const std::string key = m.name.substr(0, m.name.size() - 4);
    if (!only.empty() && std::find(only.begin(), only.end(), key) == only.end()) continue;
    if (out.count(key)) z.fail("member '" + quote_untrusted(m.name) + "' appears twice");
    const auto bytes = z.extract(m);
    out[key] = parse_npy(reinterpret_cast<const char*>(bytes.data()), bytes.size(),
                         path + ": member '" + quote_untrusted(m.name) + "'");
  }
  return out;
}

}  // namespace sptrain::io
