// NPY parsing from memory and an NPZ (zip) reader: central directory, zip64 records and extra
// fields, stored members only. Little-endian hosts only, like the writers in npy.cpp.
#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <limits>

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

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

// The value text following 'key': in the header dict (up to the next top-level ',' or '}').
std::string dict_value(const std::string& h, const std::string& key, const std::string& what) {
  size_t p = h.find("'" + key + "'");
  if (p == std::string::npos) p = h.find("\"" + key + "\"");
  if (p == std::string::npos) throw UsageError(what + ": not a readable NPY file: header lacks '" + key + "'");
  p = h.find(':', p + key.size() + 2);
  if (p == std::string::npos) throw UsageError(what + ": not a readable NPY file: malformed header");
  ++p;
  int depth = 0;
  size_t q = p;
  for (; q < h.size(); ++q) {
    char c = h[q];
    if (c == '(' || c == '[') ++depth;
    else if (c == ')' || c == ']') --depth;
    else if ((c == ',' || c == '}') && depth == 0) break;
    if (depth < 0) break;
  }
  return trim(h.substr(p, q - p));
}

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
  if (hlen > n - start) throw bad("truncated header");
  const std::string h(data + start, hlen);
  NpyHeader out;
  out.data_offset = start + hlen;

  const std::string descr_v = dict_value(h, "descr", what);
  if (descr_v.empty() || (descr_v[0] != '\'' && descr_v[0] != '"'))
    throw bad("structured dtype " + descr_v + " is not supported (float32, float64, int32, int64, uint8, int8)");
  const std::string descr = descr_v.substr(1, descr_v.size() >= 2 ? descr_v.size() - 2 : 0);
  if (descr.find('O') != std::string::npos)
    throw UsageError(what + ": an object array (ragged trajectories?) cannot be read: save trajectories of "
                            "equal length as a float array of shape (N, L, D), or as CSV");
  if (descr.size() < 2) throw bad("unsupported dtype '" + descr + "'");
  const char order = descr[0];
  const std::string code = (order == '<' || order == '>' || order == '|' || order == '=') ? descr.substr(1) : descr;
  if (order == '>' && code != "u1" && code != "i1" && code != "b1")
    throw bad("big-endian dtype '" + descr + "' is not supported");
  if (code == "f4") out.dtype = DType::F32;
  else if (code == "f8") out.dtype = DType::F64;
  else if (code == "i4") out.dtype = DType::I32;
  else if (code == "i8") out.dtype = DType::I64;
  else if (code == "u1" || code == "b1") out.dtype = DType::U8;
  else if (code == "i1") out.dtype = DType::I8;
  else throw bad("unsupported dtype '" + descr + "' (float32, float64, int32, int64, uint8, int8, bool)");

  if (dict_value(h, "fortran_order", what) == "True") throw bad("Fortran order is not supported");

  const std::string shape_v = dict_value(h, "shape", what);
  if (shape_v.size() < 2 || shape_v.front() != '(' || shape_v.back() != ')') throw bad("malformed shape " + shape_v);
  const std::string inner = shape_v.substr(1, shape_v.size() - 2);
  size_t p = 0;
  while (p <= inner.size()) {
    size_t q = inner.find(',', p);
    if (q == std::string::npos) q = inner.size();
    std::string tok = trim(inner.substr(p, q - p));
    if (!tok.empty() && (tok.back() == 'L' || tok.back() == 'l')) tok.pop_back();
    if (!tok.empty()) {
      int64_t v = 0;
      for (char c : tok) {
        if (c < '0' || c > '9' || v > (std::numeric_limits<int64_t>::max() - 9) / 10) throw bad("malformed shape " + shape_v);
        v = v * 10 + (c - '0');
      }
      out.shape.push_back(v);
    }
    p = q + 1;
  }
  // Size check without overflow.
  const size_t avail = n - out.data_offset;
  size_t need = dtype_size(out.dtype);
  bool zero = false;
  for (int64_t s : out.shape) zero = zero || s == 0;
  if (!zero) {
    for (int64_t s : out.shape) {
      if (need > avail / size_t(s)) throw bad("data shorter than its shape says");
      need *= size_t(s);
    }
    if (need > avail) throw bad("data shorter than its shape says");
  }
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
            if (fp + 8 > len) fail("member '" + m.name + "': short zip64 extra field");
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
    if (m.flags & 1) fail("member '" + m.name + "' is encrypted");
    if (m.method != 0)
      throw UsageError(path_ + ": member '" + m.name + "' is compressed (zip method " + std::to_string(m.method) +
                       "); only stored members can be read: save with numpy.savez, not numpy.savez_compressed");
    if (m.csize != m.usize) fail("member '" + m.name + "': stored sizes disagree");
    const auto lh = read_at(m.offset, 30);
    if (le(lh.data(), 4) != 0x04034b50) fail("member '" + m.name + "': no local header at its offset");
    const uint64_t data_off = m.offset + 30 + le(lh.data() + 26, 2) + le(lh.data() + 28, 2);
    auto data = read_at(data_off, m.usize);
    if (crc32(data.data(), data.size()) != m.crc) fail("member '" + m.name + "': CRC mismatch (corrupt file)");
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
    const auto bytes = z.extract(m);
    out[key] = parse_npy(reinterpret_cast<const char*>(bytes.data()), bytes.size(),
                         path + ": member '" + m.name + "'");
  }
  return out;
}

}  // namespace sptrain::io
