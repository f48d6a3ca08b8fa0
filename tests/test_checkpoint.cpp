// Checkpoints (safetensors with sptrain metadata and checksum) and metrics logs (JSONL + CSV).
//   ninja test_checkpoint && bin/test_checkpoint
#include <gtest/gtest.h>

#include "temp_dir.hpp"
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sptrain/checkpoint.hpp"
#include "sptrain/error.hpp"
#include "sptrain/io.hpp"
#include "sptrain/metrics_log.hpp"
#include "sptrain/train.hpp"

using namespace sptrain;
namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

struct TempDir : test::TempDir {
  TempDir() : test::TempDir("ckpt") {}
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}
void spit(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

uint64_t fnv1a64(const std::string& s, uint64_t h = 0xcbf29ce484222325ull) {
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char((n >> (8 * i)) & 0xff);
  return s;
}

// A safetensors file written by hand: header JSON (checksum filled in over the canonical header and
// the data when the metadata asks for "checksum": "auto") followed by the data.
std::string handmade(json header, const std::string& data) {
  if (header.contains("__metadata__") && header["__metadata__"].value("checksum", "") == "auto") {
    json canon = header;
    canon["__metadata__"].erase("checksum");
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fnv1a64(data, fnv1a64(canon.dump())));
    header["__metadata__"]["checksum"] = hex;
  }
  std::string text = header.dump();
  return le64(text.size()) + text + data;
}

std::string load_error(const std::string& path) {
  try {
    ckpt::load(path);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(loaded without error)";
}

#define EXPECT_HAS(haystack, needle) EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

// Mixed dtypes, a zero-size tensor, metadata with a JSON document and non-ASCII text.
ckpt::Checkpoint sample() {
  ckpt::Checkpoint c;
  c.add("conv1.weight", std::vector<float>{1.5f, -2.0f, 3.25f, 4, 5, 6}, {2, 1, 3});
  c.add("adam.step", std::vector<int64_t>{123456789012345ll}, {});
  c.add("rng.counter", std::vector<int32_t>{-7, 8}, {2});
  c.add("mask", std::vector<uint8_t>{1, 0, 255}, {3});
  c.add("empty", std::vector<double>{}, {0, 4});
  c.add("sigma", std::vector<double>{0.1, 1e-300}, {2});
  c.add("signs", std::vector<int8_t>{-128, 127}, {2});
  c.metadata["config"] = R"({"model":"m1","epochs":30,"lr":0.001})";
  c.metadata["step"] = "4200";
  c.metadata["note"] = "σ estimate, Δt = 1";
  return c;
}

}  // namespace

TEST(Checkpoint, RoundTripKeepsTensorsOrderAndMetadata) {
  TempDir d;
  auto c = sample();
  ckpt::save(c, d.file("a.safetensors"));
  auto r = ckpt::load(d.file("a.safetensors"));
  EXPECT_EQ(r.source, d.file("a.safetensors"));
  EXPECT_EQ(r.metadata, c.metadata);  // reserved keys are verified and removed
  ASSERT_EQ(r.tensors.size(), c.tensors.size());
  for (size_t i = 0; i < c.tensors.size(); ++i) {
    EXPECT_EQ(r.tensors[i].name, c.tensors[i].name);
    EXPECT_EQ(r.tensors[i].dtype, c.tensors[i].dtype) << c.tensors[i].name;
    EXPECT_EQ(r.tensors[i].shape, c.tensors[i].shape) << c.tensors[i].name;
    EXPECT_EQ(r.tensors[i].bytes, c.tensors[i].bytes) << c.tensors[i].name;
  }
  EXPECT_EQ(r.get<float>("conv1.weight"), (std::vector<float>{1.5f, -2.0f, 3.25f, 4, 5, 6}));
  EXPECT_EQ(r.get<int64_t>("adam.step"), std::vector<int64_t>{123456789012345ll});
  EXPECT_EQ(r.get<double>("sigma"), (std::vector<double>{0.1, 1e-300}));
  EXPECT_EQ(r.get<int8_t>("signs"), (std::vector<int8_t>{-128, 127}));
  EXPECT_TRUE(r.get<double>("empty").empty());
  EXPECT_EQ(r.find("nope"), nullptr);
  try {
    r.get<double>("mask");
    ADD_FAILURE() << "no error for a dtype mismatch";
  } catch (const UsageError& e) {
    EXPECT_HAS(e.what(), "tensor 'mask' has dtype U8, expected F64");
  }
  // Saving what was loaded gives the same file.
  ckpt::save(r, d.file("b.safetensors"));
  EXPECT_EQ(slurp(d.file("a.safetensors")), slurp(d.file("b.safetensors")));
}

TEST(Checkpoint, ByteLayoutIsPlainSafetensors) {
  TempDir d;
  auto c = sample();
  ckpt::save(c, d.file("a.safetensors"));
  std::string all = slurp(d.file("a.safetensors"));
  ASSERT_GE(all.size(), 8u);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t((unsigned char)all[i]) << (8 * i);
  ASSERT_LE(8 + n, all.size());
  EXPECT_EQ((8 + n) % 8, 0u) << "data must start 8-byte aligned";
  std::string text = all.substr(8, n);
  EXPECT_EQ(text.front(), '{');
  size_t close = text.rfind('}');
  EXPECT_LT(text.size() - close - 1, 8u) << "at most 7 padding bytes";
  EXPECT_EQ(text.find_first_not_of(' ', close + 1), std::string::npos) << "padding is spaces";
  json h = json::parse(text);
  // Tensors contiguous, in the order added, without gaps; bytes where the offsets say.
  std::string data = all.substr(8 + n);
  uint64_t pos = 0;
  for (auto& t : c.tensors) {
    ASSERT_TRUE(h.contains(t.name)) << t.name;
    auto& e = h[t.name];
    EXPECT_EQ(e["dtype"], ckpt::dtype_name(t.dtype));
    EXPECT_EQ(e["shape"].get<std::vector<int64_t>>(), t.shape);
    auto off = e["data_offsets"].get<std::vector<uint64_t>>();
    ASSERT_EQ(off.size(), 2u);
    EXPECT_EQ(off[0], pos) << t.name;
    EXPECT_EQ(off[1] - off[0], t.bytes.size()) << t.name;
    EXPECT_EQ(data.substr(off[0], off[1] - off[0]), std::string(t.bytes.begin(), t.bytes.end())) << t.name;
    pos = off[1];
  }
  EXPECT_EQ(pos, data.size()) << "no trailing bytes";
  EXPECT_EQ(h.size(), c.tensors.size() + 1);
  // Metadata: all strings; format, version, and the documented checksum.
  auto& m = h["__metadata__"];
  for (auto& [k, v] : m.items()) EXPECT_TRUE(v.is_string()) << k;
  EXPECT_EQ(m["format"], "sptrain-checkpoint");
  EXPECT_EQ(m["format_version"], "1");
  EXPECT_EQ(m["config"], c.metadata["config"]);
  std::string sum = m["checksum"];
  ASSERT_EQ(sum.size(), 16u);
  json canon = h;
  canon["__metadata__"].erase("checksum");
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fnv1a64(data, fnv1a64(canon.dump())));
  EXPECT_EQ(sum, hex);
}

TEST(Checkpoint, EveryFlippedBitIsDetected) {
  TempDir d;
  ckpt::Checkpoint c;
  c.add("w", std::vector<float>{1, 2, 3}, {3});
  c.add("n", std::vector<int32_t>{4}, {1});
  c.metadata["step"] = "7";
  ckpt::save(c, d.file("good.safetensors"));
  const std::string good = slurp(d.file("good.safetensors"));
  spit(d.file("bad.safetensors"), good);
  std::fstream f(d.file("bad.safetensors"), std::ios::in | std::ios::out | std::ios::binary);
  auto put = [&](size_t i, char c) {  // overwrite one byte in place
    f.seekp(std::streamoff(i));
    f.put(c);
    f.flush();
  };
  int accepted = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      put(i, char(good[i] ^ (1 << bit)));
      if (load_error(d.file("bad.safetensors")).find("bad.safetensors") == std::string::npos) {
        ++accepted;
        ADD_FAILURE() << "flip of bit " << bit << " of byte " << i << " not reported";
      }
    }
    put(i, good[i]);
  }
  ASSERT_TRUE(f.good());
  EXPECT_NO_THROW(ckpt::load(d.file("bad.safetensors"))) << "restored file loads again";
  EXPECT_EQ(accepted, 0) << "of " << good.size() * 8 << " flips";
}

TEST(Checkpoint, FlippedDataByteIsReportedAsChecksumMismatch) {
  TempDir d;
  ckpt::save(sample(), d.file("a.safetensors"));
  std::string all = slurp(d.file("a.safetensors"));
  all[all.size() - 3] ^= 0x10;  // inside the last tensor's data
  spit(d.file("a.safetensors"), all);
  std::string e = load_error(d.file("a.safetensors"));
  EXPECT_HAS(e, "checkpoint " + d.file("a.safetensors") + " is corrupted: checksum");
}

TEST(Checkpoint, ChangedMetadataCharacterIsReportedAsChecksumMismatch) {
  TempDir d;
  ckpt::save(sample(), d.file("a.safetensors"));
  std::string all = slurp(d.file("a.safetensors"));
  size_t at = all.find("\"4200\"");
  ASSERT_NE(at, std::string::npos);
  all[at + 1] = '5';  // still valid JSON: "5200"
  spit(d.file("a.safetensors"), all);
  EXPECT_HAS(load_error(d.file("a.safetensors")), "is corrupted: checksum");
  // A changed tensor name is caught as well, although the file is otherwise consistent.
  all = slurp(d.file("a.safetensors"));
  all[at + 1] = '4';
  at = all.find("\"mask\"");
  ASSERT_NE(at, std::string::npos);
  all[at + 1] = 'n';
  spit(d.file("a.safetensors"), all);
  EXPECT_HAS(load_error(d.file("a.safetensors")), "is corrupted: checksum");
}

TEST(Checkpoint, TruncatedFileIsRejected) {
  TempDir d;
  ckpt::save(sample(), d.file("a.safetensors"));
  const std::string all = slurp(d.file("a.safetensors"));
  spit(d.file("a.safetensors"), all.substr(0, all.size() - 5));  // inside the data
  std::string e = load_error(d.file("a.safetensors"));
  EXPECT_HAS(e, d.file("a.safetensors") + " is truncated");
  EXPECT_HAS(e, "run past the");
  spit(d.file("a.safetensors"), all.substr(0, 40));  // inside the header
  EXPECT_HAS(load_error(d.file("a.safetensors")), " is truncated: the header length says");
  spit(d.file("a.safetensors"), all.substr(0, 5));  // inside the length
  EXPECT_HAS(load_error(d.file("a.safetensors")), " is not a safetensors file: 5 bytes");
  spit(d.file("a.safetensors"), "");
  EXPECT_HAS(load_error(d.file("a.safetensors")), " is not a safetensors file");
  EXPECT_HAS(load_error(d.file("missing.safetensors")), "missing.safetensors: cannot open");
}

TEST(Checkpoint, BadHeaderLengthIsRejected) {
  TempDir d;
  ckpt::save(sample(), d.file("a.safetensors"));
  const std::string all = slurp(d.file("a.safetensors"));
  spit(d.file("a.safetensors"), le64(1ull << 40) + all.substr(8));
  EXPECT_HAS(load_error(d.file("a.safetensors")), "is not a safetensors file: header length 1099511627776");
  spit(d.file("a.safetensors"), le64(all.size()) + all.substr(8));  // one past the end
  EXPECT_HAS(load_error(d.file("a.safetensors")), "is truncated");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t((unsigned char)all[i]) << (8 * i);
  spit(d.file("a.safetensors"), le64(n - 8) + all.substr(8));  // cuts the JSON short
  EXPECT_HAS(load_error(d.file("a.safetensors")), "header JSON is invalid");
  spit(d.file("a.safetensors"), "PK\x03\x04 this is a zip file, not a checkpoint");
  EXPECT_HAS(load_error(d.file("a.safetensors")), "is not a safetensors file");
}

TEST(Checkpoint, WrongFormatOrVersionIsRejectedSayingWhich) {
  TempDir d;
  std::string data(12, '\0');
  json h = {{"__metadata__", {{"format", "sptrain-checkpoint"}, {"format_version", "2"}, {"checksum", "auto"}}},
            {"w", {{"dtype", "F32"}, {"shape", {3}}, {"data_offsets", {0, 12}}}}};
  spit(d.file("v2.safetensors"), handmade(h, data));
  std::string e = load_error(d.file("v2.safetensors"));
  EXPECT_HAS(e, "checkpoint " + d.file("v2.safetensors") + " has format_version '2'");
  EXPECT_HAS(e, "reads format_version 1");
  // The same file with version 1 loads: the hand-made layout is what load() expects.
  h["__metadata__"]["format_version"] = "1";
  spit(d.file("v1.safetensors"), handmade(h, data));
  EXPECT_EQ(ckpt::load(d.file("v1.safetensors")).get<float>("w"), (std::vector<float>{0, 0, 0}));
  h["__metadata__"]["format"] = "something-else";
  spit(d.file("other.safetensors"), handmade(h, data));
  EXPECT_HAS(load_error(d.file("other.safetensors")), "is not an sptrain checkpoint: __metadata__.format is 'something-else'");
  h.erase("__metadata__");
  spit(d.file("plain.safetensors"), handmade(h, data));
  EXPECT_HAS(load_error(d.file("plain.safetensors")), "is not an sptrain checkpoint: the header has no __metadata__");
}

TEST(Checkpoint, BadOffsetsAndSizesAreRejected) {
  TempDir d;
  auto meta = json{{"format", "sptrain-checkpoint"}, {"format_version", "1"}, {"checksum", "auto"}};
  auto entry = [](const char* dt, std::vector<int64_t> shape, uint64_t b, uint64_t e) {
    return json{{"dtype", dt}, {"shape", shape}, {"data_offsets", {b, e}}};
  };
  struct Case {
    const char* what;
    json header;
    size_t data;
    const char* message;
  } cases[] = {
      {"out of range", {{"__metadata__", meta}, {"a", entry("F32", {2}, 0, 8)}, {"b", entry("F32", {2}, 8, 16)}}, 12,
       "tensor 'b' data_offsets [8,16] run past the 12-byte data buffer"},
      {"overlap", {{"__metadata__", meta}, {"a", entry("F32", {2}, 0, 8)}, {"b", entry("F32", {2}, 4, 12)}}, 12,
       "tensor 'b' data_offsets [4, 12] overlap the previous tensor"},
      {"gap", {{"__metadata__", meta}, {"a", entry("F32", {1}, 0, 4)}, {"b", entry("F32", {1}, 8, 12)}}, 12,
       "gap in the data buffer before tensor 'b'"},
      {"size mismatch", {{"__metadata__", meta}, {"a", entry("F64", {2}, 0, 8)}}, 8,
       "tensor 'a': shape [2] x F64 needs 16 bytes but data_offsets [0,8] hold 8"},
      {"trailing bytes", {{"__metadata__", meta}, {"a", entry("F32", {1}, 0, 4)}}, 8,
       "4 trailing bytes after the last tensor"},
      {"dtype", {{"__metadata__", meta}, {"a", entry("BF16", {2}, 0, 4)}}, 4, "tensor 'a' has unsupported dtype \"BF16\""},
      {"negative shape", {{"__metadata__", meta}, {"a", entry("U8", {-1}, 0, 0)}}, 0,
       "shape [-1] is not a list of non-negative integers"},
      {"reversed offsets", {{"__metadata__", meta}, {"a", entry("U8", {0}, 4, 0)}}, 4, "end before they begin"},
  };
  for (auto& k : cases) {
    spit(d.file("x.safetensors"), handmade(k.header, std::string(k.data, '\1')));
    std::string e = load_error(d.file("x.safetensors"));
    EXPECT_HAS(e, "checkpoint " + d.file("x.safetensors")) << k.what;
    EXPECT_HAS(e, k.message) << k.what;
  }
  spit(d.file("x.safetensors"), le64(8) + "{\"a\":1,}");
  EXPECT_HAS(load_error(d.file("x.safetensors")), "header JSON is invalid");
  spit(d.file("x.safetensors"), le64(8) + "{\"__meta");
  EXPECT_HAS(load_error(d.file("x.safetensors")), "header JSON is invalid");
}

TEST(Checkpoint, ExpectShapeNamesFileTensorAndBothShapes) {
  TempDir d;
  ckpt::save(sample(), d.file("a.safetensors"));
  auto c = ckpt::load(d.file("a.safetensors"));
  EXPECT_NO_THROW(ckpt::expect_shape(c, "conv1.weight", {2, 1, 3}));
  try {
    ckpt::expect_shape(c, "conv1.weight", {2, 3});
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "checkpoint " + d.file("a.safetensors") +
                                         ": tensor 'conv1.weight' has shape [2, 1, 3], the model expects [2, 3]");
  }
  try {
    ckpt::expect_shape(c, "conv2.weight", {1});
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "checkpoint " + d.file("a.safetensors") + ": has no tensor 'conv2.weight'");
  }
}

TEST(Checkpoint, ProgrammingErrorsAreNotUsageErrors) {
  TempDir d;
  ckpt::Checkpoint c;
  EXPECT_THROW(c.add("w", std::vector<float>{1, 2, 3}, {2, 2}), std::invalid_argument);
  EXPECT_THROW(c.add("__metadata__", std::vector<float>{1}, {1}), std::invalid_argument);
  c.add("w", std::vector<float>{1}, {1});
  EXPECT_THROW(c.add("w", std::vector<float>{1}, {1}), std::invalid_argument);
  c.metadata["checksum"] = "0";
  EXPECT_THROW(ckpt::save(c, d.file("a.safetensors")), std::invalid_argument);
  EXPECT_FALSE(fs::exists(d.file("a.safetensors")));
}

TEST(Checkpoint, UncommittedWriteLeavesNothingAndKeepsTheOldFile) {
  TempDir d;
  {
    io::AtomicFile f(d.file("new.safetensors"));
    f.stream() << "partial";
  }
  EXPECT_TRUE(fs::is_empty(d.path)) << "neither the file nor its temporary remains";
  ckpt::save(sample(), d.file("a.safetensors"));
  const std::string before = slurp(d.file("a.safetensors"));
  try {
    io::AtomicFile f(d.file("a.safetensors"));
    f.stream() << "half a checkpoint";
    throw std::runtime_error("interrupted");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(slurp(d.file("a.safetensors")), before);
  EXPECT_NO_THROW(ckpt::load(d.file("a.safetensors")));
  EXPECT_EQ(std::distance(fs::directory_iterator(d.path), fs::directory_iterator{}), 1);
}

TEST(Checkpoint, OpensInPythonSafetensors) {
  std::string python;
  for (const char* p : {"python3", "/usr/bin/python3"}) {
    std::string cmd = std::string(p) + " -c 'import safetensors, numpy' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) {
      python = p;
      break;
    }
  }
  if (python.empty()) GTEST_SKIP() << "no python3 with the safetensors and numpy packages";
  TempDir d;
  ckpt::save(sample(), d.file("a.safetensors"));
  // Python reads every tensor and the metadata, and recomputes the documented checksum.
  std::ofstream(d.file("check.py")) << R"PY(
import json, struct, sys
import numpy as np
from safetensors import safe_open
path = sys.argv[1]
with safe_open(path, framework="numpy") as f:
    meta = f.metadata()
    t = {k: f.get_tensor(k) for k in f.keys()}
assert meta["format"] == "sptrain-checkpoint" and meta["format_version"] == "1", meta
assert json.loads(meta["config"])["epochs"] == 30
assert meta["note"] == "\u03c3 estimate, \u0394t = 1", meta["note"]
assert t["conv1.weight"].dtype == np.float32 and t["conv1.weight"].shape == (2, 1, 3)
assert t["conv1.weight"].ravel().tolist() == [1.5, -2.0, 3.25, 4, 5, 6]
assert t["adam.step"].dtype == np.int64 and t["adam.step"].shape == () and int(t["adam.step"]) == 123456789012345
assert t["rng.counter"].dtype == np.int32 and t["rng.counter"].tolist() == [-7, 8]
assert t["mask"].dtype == np.uint8 and t["mask"].tolist() == [1, 0, 255]
assert t["empty"].dtype == np.float64 and t["empty"].shape == (0, 4)
assert t["sigma"].tolist() == [0.1, 1e-300]
assert t["signs"].dtype == np.int8 and t["signs"].tolist() == [-128, 127]
raw = open(path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
recorded = h["__metadata__"].pop("checksum")
x = 0xcbf29ce484222325
for b in json.dumps(h, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + raw[8 + n:]:
    x = ((x ^ b) * 0x100000001b3) & 0xffffffffffffffff
assert "%016x" % x == recorded, ("%016x" % x, recorded)
print("python ok")
)PY";
  std::string cmd = python + " " + d.file("check.py") + " " + d.file("a.safetensors");
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

// ---- metrics logs ----

TEST(MetricsLog, ThreeRecordsGiveJsonLinesAndCsv) {
  TempDir d;
  {
    MetricsLog log(d.path.string(), false);
    log.write({{"epoch", 1}, {"loss", 0.5}, {"lr", 1e-3}, {"phase", "warm, up"}});
    log.write({{"epoch", 2}, {"loss", double(0.1f)}, {"lr", 0.0005}, {"phase", "say \"hi\""}});
    log.write({{"epoch", 3}, {"loss", 1.0 / 3.0}, {"lr", nullptr}});  // no phase: empty cell
    EXPECT_THROW(log.write({{"epoch", 4}, {"extra", 1}}), std::logic_error);
    EXPECT_THROW(log.write(ordered_json::array({1, 2})), std::logic_error);
    EXPECT_EQ(log.columns(), (std::vector<std::string>{"epoch", "loss", "lr", "phase"}));
  }
  EXPECT_EQ(slurp(d.file("metrics.csv")),
            "epoch,loss,lr,phase\n"
            "1,0.5,0.001,\"warm, up\"\n"
            "2,0.100000001,0.0005,\"say \"\"hi\"\"\"\n"
            "3,0.333333333,,\n");
  std::string jl = slurp(d.file("metrics.jsonl"));
  EXPECT_EQ(jl.substr(0, jl.find('\n')), R"({"epoch":1,"loss":0.5,"lr":0.001,"phase":"warm, up"})");
  auto recs = read_metrics(d.path.string());
  ASSERT_EQ(recs.size(), 3u);  // the rejected record wrote nothing
  EXPECT_EQ(recs[1]["loss"].get<double>(), double(0.1f));  // JSON keeps full double precision
  EXPECT_EQ(recs[2]["epoch"], 3);
  EXPECT_FALSE(recs[2].contains("phase"));
}

TEST(MetricsLog, AppendTakesTheCsvHeaderFromTheFile) {
  TempDir d;
  {
    MetricsLog log(d.path.string(), false);
    log.write({{"epoch", 1}, {"val_loss", 0.75}, {"loss", 0.5}});
  }
  {
    MetricsLog log(d.path.string(), true);
    EXPECT_EQ(log.columns(), (std::vector<std::string>{"epoch", "val_loss", "loss"}));
    log.write({{"loss", 0.25}, {"epoch", 2}});  // other key order, a missing key
    EXPECT_THROW(log.write({{"epoch", 3}, {"time_s", 1.0}}), std::logic_error);
  }
  EXPECT_EQ(slurp(d.file("metrics.csv")), "epoch,val_loss,loss\n1,0.75,0.5\n2,,0.25\n");
  EXPECT_EQ(read_metrics(d.path.string()).size(), 2u);
  // A fresh (non-append) log starts over.
  {
    MetricsLog log(d.path.string(), false);
    log.write({{"epoch", 1}, {"a", true}});
  }
  EXPECT_EQ(slurp(d.file("metrics.csv")), "epoch,a\n1,true\n");
  EXPECT_EQ(read_metrics(d.path.string()).size(), 1u);
}

TEST(MetricsLog, TornLastLineIsIgnoredAndCutOnAppend) {
  TempDir d;
  {
    MetricsLog log(d.path.string(), false);
    log.write({{"epoch", 1}, {"loss", 0.5}});
    log.write({{"epoch", 2}, {"loss", 0.4}});
  }
  // A crash in the middle of the third write.
  std::ofstream(d.file("metrics.jsonl"), std::ios::app) << R"({"epoch":3,"lo)";
  std::ofstream(d.file("metrics.csv"), std::ios::app) << "3,0.";
  auto recs = read_metrics(d.path.string());
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[1]["epoch"], 2);
  {
    MetricsLog log(d.path.string(), true);
    log.write({{"epoch", 3}, {"loss", 0.3}});
  }
  EXPECT_EQ(slurp(d.file("metrics.csv")), "epoch,loss\n1,0.5\n2,0.4\n3,0.3\n");
  recs = read_metrics(d.path.string());
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[2]["loss"], 0.3);
  // A damaged line that is not the last one is an error naming the file and line.
  std::string jl = slurp(d.file("metrics.jsonl"));
  jl[jl.find('\n') + 2] = '#';
  spit(d.file("metrics.jsonl"), jl);
  try {
    read_metrics(d.path.string());
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_HAS(e.what(), "metrics.jsonl:2: not a JSON line");
  }
  EXPECT_THROW(read_metrics(d.file("nowhere")), UsageError);
}

TEST(MetricsLog, TruncateKeepsEpochsUpToTheCheckpoint) {
  TempDir d;
  {
    MetricsLog log(d.path.string(), false);
    for (int e = 1; e <= 5; ++e) log.write({{"epoch", e}, {"loss", 1.0 / e}, {"note", e == 2 ? "a,b" : ""}});
  }
  const std::string csv = slurp(d.file("metrics.csv")), jl = slurp(d.file("metrics.jsonl"));
  auto prefix_lines = [](const std::string& s, int n) {
    size_t pos = 0;
    for (int i = 0; i < n; ++i) pos = s.find('\n', pos) + 1;
    return s.substr(0, pos);
  };
  truncate_metrics(d.path.string(), 3);
  EXPECT_EQ(slurp(d.file("metrics.jsonl")), prefix_lines(jl, 3));
  EXPECT_EQ(slurp(d.file("metrics.csv")), prefix_lines(csv, 4));  // header + 3 rows, unchanged text
  auto recs = read_metrics(d.path.string());
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs.back()["epoch"], 3);
  // Training resumes at epoch 4.
  {
    MetricsLog log(d.path.string(), true);
    log.write({{"epoch", 4}, {"loss", 0.2}, {"note", ""}});
  }
  recs = read_metrics(d.path.string());
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs.back()["loss"], 0.2);
  truncate_metrics(d.path.string(), 0);
  EXPECT_TRUE(read_metrics(d.path.string()).empty());
  EXPECT_EQ(slurp(d.file("metrics.csv")), "epoch,loss,note\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(d.path), fs::directory_iterator{}), 2) << "no temporaries left";
}

// ---- resume and eval check every tensor and the trainer state before using them ----------------

namespace {

struct RunDir : test::TempDir {
  RunDir() : test::TempDir("ckpt-resume") {
    std::ofstream(path / "spec.toml") << "length = 50\n[states]\nsigma = [1.0]\n[features]\nkind = \"positions\"\n";
    std::ofstream(path / "c.toml") << "[data]\nspec = \"spec.toml\"\nlabel = \"sigma\"\nval_size = 32\ntest_size = 32\n"
                                      "[model]\nzoo = \"model1\"\n[train]\nbatch = 16\nsteps_per_epoch = 2\nepochs = 3\n"
                                      "loss = \"mape\"\nlr = 1e-3\n";
  }
  std::string run() const { return (path / "run").string(); }
  std::string last() const { return run() + "/last.safetensors"; }
};

TrainOptions quiet_run(const std::string& dir) {
  TrainOptions o;
  o.run_dir = dir;
  o.progress = false;
  return o;
}

// Trains one epoch of the three, then lets `edit` change last.safetensors (rewritten with a valid
// checksum) and resumes: returns the UsageError's message, or "" if the resume went through.
template <class Edit>
std::string resume_after(const RunDir& d, Edit edit) {
  auto cfg = load_train_config((d.path / "c.toml").string());
  TrainOptions o = quiet_run(d.run());
  o.max_epochs = 1;
  train(cfg, Device::cpu(), o);
  ckpt::Checkpoint c = ckpt::load(d.last());
  edit(c);
  ckpt::save(c, d.last());
  o.resume = true;
  o.max_epochs = -1;
  try {
    train(cfg, Device::cpu(), o);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

void replace(ckpt::Checkpoint& c, const std::string& name, const std::vector<float>& v) {
  for (auto& t : c.tensors)
    if (t.name == name) {
      t.shape = {int64_t(v.size())};
      t.bytes.assign(reinterpret_cast<const char*>(v.data()), reinterpret_cast<const char*>(v.data() + v.size()));
    }
}

void set_trainer(ckpt::Checkpoint& c, const std::string& field, const json& value) {
  json j = json::parse(c.metadata.at("trainer"));
  j[field] = value;
  c.metadata["trainer"] = j.dump();
}

}  // namespace

TEST(Resume, UntouchedCheckpointResumes) {
  RunDir d;
  EXPECT_EQ(resume_after(d, [](ckpt::Checkpoint&) {}), "");
}

TEST(Resume, LargerOrSmallerAdamMomentIsRefusedNamingIt) {
  for (int64_t extra : {int64_t(1000), int64_t(-1)}) {
    RunDir d;
    int64_t P = 0;
    const std::string msg = resume_after(d, [&](ckpt::Checkpoint& c) {
      P = c.find("params")->count();
      replace(c, "opt_v", std::vector<float>(size_t(P + extra), 0.5f));
    });
    EXPECT_HAS(msg, "tensor 'opt_v': " + std::to_string(P + extra) + " floats, the model and optimizer need " +
                        std::to_string(P));
    EXPECT_HAS(msg, d.last());
  }
}

TEST(Resume, MissingFirstMomentOrWrongShapeOrDtypeOrUnknownTensorIsRefused) {
  {
    RunDir d;
    auto msg = resume_after(d, [](ckpt::Checkpoint& c) {
      c.tensors.erase(std::find_if(c.tensors.begin(), c.tensors.end(), [](auto& t) { return t.name == "opt_m"; }));
    });
    EXPECT_HAS(msg, "has no tensor 'opt_m'");
  }
  {
    RunDir d;
    auto msg = resume_after(d, [](ckpt::Checkpoint& c) {
      for (auto& t : c.tensors)
        if (t.name == "params") t.shape = {1, t.shape[0]};
    });
    EXPECT_HAS(msg, "tensor 'params' has shape [1, ");
  }
  {
    RunDir d;
    auto msg = resume_after(d, [](ckpt::Checkpoint& c) {
      for (auto& t : c.tensors)
        if (t.name == "opt_m") t.dtype = io::DType::I32;
    });
    EXPECT_HAS(msg, "tensor 'opt_m' has dtype I32");
  }
  {
    RunDir d;
    auto msg = resume_after(d, [](ckpt::Checkpoint& c) { c.add("opt_\x1b[31mx", std::vector<float>{1}, {1}); });
    EXPECT_HAS(msg, "tensor 'opt_\\x1b[31mx' is not one sptrain writes");
    EXPECT_EQ(msg.find('\x1b'), std::string::npos);
  }
}

TEST(Resume, NonFiniteTensorsAreRefusedNamingTheTensor) {
  RunDir d;
  auto msg = resume_after(d, [](ckpt::Checkpoint& c) {
    auto v = c.get<float>("opt_m");
    v[3] = NAN;
    replace(c, "opt_m", v);
  });
  EXPECT_HAS(msg, "tensor 'opt_m' holds NaN at element 3");
}

TEST(Resume, TrainerStateIsRangeChecked) {
  const std::vector<std::pair<std::string, json>> bad = {
      {"epoch", -1}, {"epoch", INT64_MAX}, {"step", 3}, {"step", "2"}, {"es_wait", -4}, {"best_ckpt", "x"},
      {"stopped", 1}, {"target_step", 99}, {"lr", -1.0}, {"noise", json::array({1, 2})}};
  for (const auto& fv : bad) {  // plain variables: lambdas below capture them
    const std::string& field = fv.first;
    const json& value = fv.second;
    RunDir d;
    auto msg = resume_after(d, [&](ckpt::Checkpoint& c) { set_trainer(c, field, value); });
    EXPECT_HAS(msg, "metadata 'trainer', field '" + field + "'");
    EXPECT_HAS(msg, d.last());
  }
  RunDir d;
  auto msg = resume_after(d, [](ckpt::Checkpoint& c) { c.metadata["trainer"] = "{\"epoch\": "; });
  EXPECT_HAS(msg, "metadata 'trainer' is not valid JSON");
  RunDir d2;
  msg = resume_after(d2, [](ckpt::Checkpoint& c) {
    json j = json::parse(c.metadata.at("trainer"));
    j.erase("es_best");
    c.metadata["trainer"] = j.dump();
  });
  EXPECT_HAS(msg, "field 'es_best': missing");
}

TEST(Checkpoint, ExpectFloatsAndFiniteNameTheTensor) {
  ckpt::Checkpoint c;
  c.source = "x.safetensors";
  c.add("w", std::vector<float>{1, INFINITY, 3}, {3});
  c.add("d", std::vector<double>{1, 2}, {2});
  EXPECT_NO_THROW(ckpt::expect_floats(c, "w", 3, "the model"));
  try {
    ckpt::expect_floats(c, "w", 4, "the model");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "checkpoint x.safetensors: tensor 'w': 3 floats, the model need 4");
  }
  EXPECT_THROW(ckpt::expect_floats(c, "d", 2, "the model"), UsageError);
  try {
    ckpt::expect_finite(c, "w");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_HAS(std::string(e.what()), "tensor 'w' holds an infinity at element 1");
  }
  EXPECT_NO_THROW(ckpt::expect_finite(c, "d"));
}

TEST(Checkpoint, HeaderContentInMessagesIsEscaped) {
  TempDir d;
  json h = {{"__metadata__", {{"format", "evil\x1b]0;title\x07"}, {"format_version", "1"}, {"checksum", "0"}}}};
  spit(d.file("e.safetensors"), handmade(h, ""));
  try {
    ckpt::load(d.file("e.safetensors"));
    FAIL();
  } catch (const UsageError& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.find('\x1b'), std::string::npos) << m;
    EXPECT_EQ(m.find('\x07'), std::string::npos) << m;
    EXPECT_HAS(m, "evil\\x1b]0;title\\x07");
  }
}

TEST(Checkpoint, ParseFromMemoryMatchesLoad) {
  TempDir d;
  ckpt::save(sample(), d.file("s.safetensors"));
  const std::string bytes = slurp(d.file("s.safetensors"));
  ckpt::Checkpoint a = ckpt::load(d.file("s.safetensors")), b = ckpt::parse(bytes, "mem");
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(a.tensors[i].name, b.tensors[i].name);
    EXPECT_EQ(a.tensors[i].bytes, b.tensors[i].bytes);
  }
  EXPECT_EQ(a.metadata, b.metadata);
  EXPECT_EQ(b.source, "mem");
  EXPECT_HAS(load_error(d.path.string()), "checkpoint " + d.path.string());
  try {
    ckpt::parse(bytes.substr(0, bytes.size() - 3), "mem");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_HAS(std::string(e.what()), "checkpoint mem");
  }
}
