// NPY/NPZ writers and reader, atomic files.
#include <gtest/gtest.h>

#include "temp_dir.hpp"
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "sptrain/error.hpp"
#include "sptrain/io.hpp"
#include "usage_error.hpp"

using namespace sptrain;
namespace fs = std::filesystem;

namespace {
struct TempDir : test::TempDir {
  TempDir() : test::TempDir("io") {}
};
}  // namespace

TEST(Npy, RoundTripKeepsShapeTypeAndBytes) {
  TempDir d;
  std::vector<float> f = {1.5f, -2.0f, 3.25f, 4, 5, 6};
  std::vector<uint8_t> u = {7, 8, 9};
  {
    io::AtomicFile a((d.path / "f.npy").string());
    io::write_npy(a.stream(), io::view("f", f, {2, 3}));
    a.commit();
    io::AtomicFile b((d.path / "u.npy").string());
    io::write_npy(b.stream(), io::view("u", u, {3}));
    b.commit();
  }
  auto a = io::read_npy((d.path / "f.npy").string());
  EXPECT_EQ(a.dtype, io::DType::F32);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(std::vector<float>(a.as<float>(), a.as<float>() + 6), f);
  auto b = io::read_npy((d.path / "u.npy").string());
  EXPECT_EQ(b.shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(b.as<uint8_t>()[2], 9);
  // The header is padded so that data starts at a multiple of 64 bytes.
  std::ifstream in(d.path / "f.npy", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ((all.size() - 24) % 64, 0u);
}

TEST(Npy, RejectsMalformedFilesNamingThem) {
  TempDir d;
  std::ofstream(d.path / "bad.npy") << "not an array";
  try {
    io::read_npy((d.path / "bad.npy").string());
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.npy"), std::string::npos);
  }
  std::vector<float> f(10, 1.0f);
  std::ostringstream os;
  io::write_npy(os, io::view("f", f, {10}));
  std::string s = os.str();
  std::ofstream(d.path / "short.npy", std::ios::binary) << s.substr(0, s.size() - 8);
  EXPECT_THROW(io::read_npy((d.path / "short.npy").string()), UsageError);
}

TEST(Npz, LayoutIsAZip64Archive) {
  std::vector<int32_t> a = {1, 2, 3};
  std::vector<float> b = {0.5f};
  std::ostringstream os;
  io::write_npz(os, {io::view("a", a, {3}), io::view("b", b, {1})});
  std::string z = os.str();
  EXPECT_EQ(z.substr(0, 4), std::string("PK\x03\x04", 4));
  EXPECT_NE(z.find("a.npy"), std::string::npos);
  EXPECT_NE(z.find("b.npy"), std::string::npos);
  EXPECT_EQ(z.substr(z.size() - 22, 4), std::string("PK\x05\x06", 4));  // end of central directory
  EXPECT_NE(z.find(std::string("PK\x06\x06", 4)), std::string::npos);   // zip64 end record
}

TEST(AtomicFile, UncommittedWriteLeavesNothing) {
  TempDir d;
  const auto target = (d.path / "out.npy").string();
  {
    io::AtomicFile f(target);
    f.stream() << "partial";
  }
  EXPECT_FALSE(fs::exists(target));
  EXPECT_TRUE(fs::is_empty(d.path));
  std::ofstream(target) << "old";
  {
    io::AtomicFile f(target);
    f.stream() << "new";
    // destroyed without commit: the old content stays
  }
  std::ifstream in(target);
  std::string s;
  in >> s;
  EXPECT_EQ(s, "old");
}

TEST(AtomicFile, OutputPathChecks) {
  TempDir d;
  const auto target = (d.path / "x.csv").string();
  EXPECT_NO_THROW(io::check_output_path(target, false));
  std::ofstream(target) << "x";
  EXPECT_THROW(io::check_output_path(target, false), UsageError);
  EXPECT_NO_THROW(io::check_output_path(target, true));
  EXPECT_THROW(io::check_output_path((d.path / "missing" / "x.npy").string(), true), UsageError);
}

namespace {
// An NPY v1 image with a hand-written header dict (padded with spaces; `newline` ends it) and data.
std::string raw_npy(const std::string& dict, const std::string& data, bool newline = true) {
  std::string h = dict;
  const size_t total = 10 + h.size() + 1;
  h += std::string((64 - total % 64) % 64, ' ');
  h += newline ? '\n' : ' ';
  std::string s = "\x93NUMPY";
  s += char(1);
  s += char(0);
  s += char(h.size() & 0xff);
  s += char(h.size() >> 8);
  return s + h + data;
}
std::string parse_error(const std::string& bytes) {
  try {
    io::parse_npy(bytes.data(), bytes.size(), "mem.npy");
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(parsed)";
}
}  // namespace

TEST(Npy, HeaderIsParsedAsAPythonDictLiteral) {
  const std::string f8(16, '\0');  // two float64 zeros
  // Accepted: numpy's own layout, double quotes, no trailing comma, a Python 2 long, other key order.
  for (const char* dict : {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
                           "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (2,)}",
                           "{'shape': (2L,), 'fortran_order': False, 'descr': '<f8'}",
                           "{'descr':'<f8','fortran_order':False,'shape':(1, 2)}"}) {
    const std::string b = raw_npy(dict, f8);
    EXPECT_NO_THROW(io::parse_npy(b.data(), b.size(), "mem")) << dict;
  }
  EXPECT_HAS(parse_error(raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'shape': (1,)}", f8)),
             "key 'shape' appears twice");
  EXPECT_HAS(parse_error(raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}", f8, false)),
             "does not end with a newline");
  EXPECT_HAS(parse_error(raw_npy("{'descr': '<f8', 'fortran_order': 0, 'shape': (2,)}", f8)),
             "expected a string, True, False or a tuple");
  EXPECT_HAS(parse_error(raw_npy("{'descr': '<f8', 'fortran_order': True, 'shape': (2,)}", f8)),
             "Fortran order is not supported");
  EXPECT_HAS(parse_error(raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2)}", f8)),
             "(n) is a number, not a tuple");
  EXPECT_HAS(parse_error(raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (-2,)}", f8)),
             "expected a non-negative integer");
  EXPECT_HAS(parse_error(raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'x': 'y'}", f8)),
             "unexpected key 'x'");
  EXPECT_HAS(parse_error(raw_npy("{'descr': '<f8', 'fortran_order': False}", f8)), "header lacks 'shape'");
  EXPECT_HAS(parse_error(raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} junk", f8)),
             "text after the closing '}'");
  EXPECT_HAS(parse_error(raw_npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", f8)),
             "structured dtypes are not supported");
  EXPECT_HAS(parse_error(raw_npy("{'descr': '<c16', 'fortran_order': False, 'shape': (2,)}", f8)),
             "unsupported dtype '<c16'");
  // The data must be exactly what shape and dtype say: no read past the end, no ignored tail.
  EXPECT_HAS(parse_error(raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}", f8)),
             "shape (3,) of <f8 needs 24 bytes, 16 follow the header");
  EXPECT_HAS(parse_error(raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,)}", f8)),
             "8 bytes after the data");
  EXPECT_HAS(parse_error(raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16)}", f8)),
             "needs more than 2^63 bytes");
  // Untrusted bytes in the header are escaped in the message.
  const std::string msg = parse_error(raw_npy("{'descr': '\x1b[2J', 'fortran_order': False, 'shape': (2,)}", f8));
  EXPECT_HAS(msg, "'\\x1b[2J'");
  EXPECT_EQ(msg.find('\x1b'), std::string::npos);
}

TEST(QuoteUntrusted, EscapesNonPrintableBytesAndCapsTheLength) {
  EXPECT_EQ(io::quote_untrusted("plain text 1.5"), "plain text 1.5");
  EXPECT_EQ(io::quote_untrusted(std::string("a\x1b[31m\x07\n\x7f\xff\0z", 12)), "a\\x1b[31m\\x07\\x0a\\x7f\\xff\\x00z");
  EXPECT_EQ(io::quote_untrusted(std::string(100, 'x'), 10), std::string(10, 'x') + "...");
}
