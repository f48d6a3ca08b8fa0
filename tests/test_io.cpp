// NPY/NPZ writers and reader, atomic files.
#include <gtest/gtest.h>

#include "temp_dir.hpp"
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "sptrain/error.hpp"
#include "sptrain/io.hpp"

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
