// NPY (format 1.0/2.0) writer and reader, NPZ writer (stored zip with zip64 records, as numpy's
// np.load reads it). Little-endian hosts only (x86-64, aarch64).
#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <sstream>

#include "sptrain/error.hpp"
#include "sptrain/io.hpp"

namespace sptrain::io {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: case DType::I32: return 4;
    case DType::F64: case DType::I64: return 8;
    case DType::U8: case DType::I8: return 1;
  }
  return 0;
}

const char* dtype_descr(DType t) {
  switch (t) {
    case DType::F32: return "<f4";
    case DType::F64: return "<f8";
    case DType::I32: return "<i4";
    case DType::I64: return "<i8";
    case DType::U8: return "|u1";
    case DType::I8: return "|i1";
  }
  return "";
}

std::string quote_untrusted(std::string_view s, size_t max_len) {
  static const char hex[] = "0123456789abcdef";
  std::string r;
  const size_t n = std::min(s.size(), max_len);
  r.reserve(n + 8);
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      r += char(c);
    } else {
      r += "\\x";
      r += hex[c >> 4];
      r += hex[c & 15];
    }
  }
  if (s.size() > max_len) r += "...";
  return r;
}

int64_t ArrayView::count() const {
  int64_t c = 1;
  for (auto s : shape) c *= s;
  return c;
}
int64_t Array::count() const {
  int64_t c = 1;
  for (auto s : shape) c *= s;
  return c;
}

namespace {

std::string npy_header(const ArrayView& a) {
  std::string dict = std::string("{'descr': '") + dtype_descr(a.dtype) + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < a.shape.size(); ++i) {
    dict += std::to_string(a.shape[i]);
    if (a.shape.size() == 1) dict += ",";
    else if (i + 1 < a.shape.size()) dict += ", ";
  }
  dict += "), }";
  // magic(6) + version(2) + len(2) + dict + padding + '\n' is a multiple of 64.
  size_t total = 10 + dict.size() + 1;
  size_t pad = (64 - total % 64) % 64;
  dict += std::string(pad, ' ') + "\n";
  std::string h = "\x93NUMPY";
  h += char(1);
  h += char(0);
  uint16_t len = uint16_t(dict.size());
  h += char(len & 0xff);
  h += char(len >> 8);
  return h + dict;
}

}  // namespace

uint32_t crc32(const void* data, size_t n, uint32_t crc) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

namespace {

template <class T>
void put(std::ostream& o, T v) {
  unsigned char b[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i) b[i] = (unsigned char)((uint64_t(v) >> (8 * i)) & 0xff);
  o.write(reinterpret_cast<const char*>(b), sizeof(T));
}

}  // namespace

void write_npy(std::ostream& out, const ArrayView& a) {
  std::string h = npy_header(a);
  out.write(h.data(), std::streamsize(h.size()));
  out.write(static_cast<const char*>(a.data), std::streamsize(a.bytes()));
}

void write_npz(std::ostream& out, const std::vector<ArrayView>& arrays) {
  struct Entry {
    std::string name;
    uint32_t crc;
    uint64_t size, offset;
  };
  std::vector<Entry> entries;
  uint64_t offset = 0;
  for (const auto& a : arrays) {
    const std::string h = npy_header(a);
    uint32_t crc = crc32(h.data(), h.size());
    crc = crc32(a.data, a.bytes(), crc);
    const uint64_t size = h.size() + a.bytes();
    const std::string name = a.name + ".npy";
    // Local file header with a zip64 extra field (sizes).
    put<uint32_t>(out, 0x04034b50);
    put<uint16_t>(out, 45);  // version needed: zip64
    put<uint16_t>(out, 0);   // flags
    put<uint16_t>(out, 0);   // stored
    put<uint16_t>(out, 0);   // time
    put<uint16_t>(out, 0x21);  // date 1980-01-01
    put<uint32_t>(out, crc);
    put<uint32_t>(out, 0xffffffffu);
    put<uint32_t>(out, 0xffffffffu);
    put<uint16_t>(out, uint16_t(name.size()));
    put<uint16_t>(out, 20);
    out.write(name.data(), std::streamsize(name.size()));
    put<uint16_t>(out, 0x0001);
    put<uint16_t>(out, 16);
    put<uint64_t>(out, size);
    put<uint64_t>(out, size);
    out.write(h.data(), std::streamsize(h.size()));
    out.write(static_cast<const char*>(a.data), std::streamsize(a.bytes()));
    entries.push_back({name, crc, size, offset});
    offset += 30 + name.size() + 20 + size;
  }
  const uint64_t cd_start = offset;
  uint64_t cd_size = 0;
  for (const auto& e : entries) {
    put<uint32_t>(out, 0x02014b50);
    put<uint16_t>(out, 45);
    put<uint16_t>(out, 45);
    put<uint16_t>(out, 0);
    put<uint16_t>(out, 0);
    put<uint16_t>(out, 0);
    put<uint16_t>(out, 0x21);
    put<uint32_t>(out, e.crc);
    put<uint32_t>(out, 0xffffffffu);
    put<uint32_t>(out, 0xffffffffu);
    put<uint16_t>(out, uint16_t(e.name.size()));
    put<uint16_t>(out, 28);  // extra length
    put<uint16_t>(out, 0);   // comment
    put<uint16_t>(out, 0);   // disk
    put<uint16_t>(out, 0);   // internal attributes
    put<uint32_t>(out, 0);   // external attributes
    put<uint32_t>(out, 0xffffffffu);
    out.write(e.name.data(), std::streamsize(e.name.size()));
    put<uint16_t>(out, 0x0001);
    put<uint16_t>(out, 24);
    put<uint64_t>(out, e.size);
    put<uint64_t>(out, e.size);
    put<uint64_t>(out, e.offset);
    cd_size += 46 + e.name.size() + 28;
  }
  const uint64_t z64_end = cd_start + cd_size;
  put<uint32_t>(out, 0x06064b50);  // zip64 end of central directory
  put<uint64_t>(out, 44);
  put<uint16_t>(out, 45);
  put<uint16_t>(out, 45);
  put<uint32_t>(out, 0);
  put<uint32_t>(out, 0);
  put<uint64_t>(out, entries.size());
  put<uint64_t>(out, entries.size());
  put<uint64_t>(out, cd_size);
  put<uint64_t>(out, cd_start);
  put<uint32_t>(out, 0x07064b50);  // zip64 locator
  put<uint32_t>(out, 0);
  put<uint64_t>(out, z64_end);
  put<uint32_t>(out, 1);
  put<uint32_t>(out, 0x06054b50);  // end of central directory
  put<uint16_t>(out, 0);
  put<uint16_t>(out, 0);
  put<uint16_t>(out, 0xffff);
  put<uint16_t>(out, 0xffff);
  put<uint32_t>(out, 0xffffffffu);
  put<uint32_t>(out, 0xffffffffu);
  put<uint16_t>(out, 0);
}

Array read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(path + ": cannot open");
  std::string buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_npy(buf.data(), buf.size(), path);
}

}  // namespace sptrain::io
