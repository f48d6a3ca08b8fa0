// read_trajectories and the NPZ reader: every input format read back, and each bad input's message.
#include <gtest/gtest.h>

#include "temp_dir.hpp"
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "sptrain/error.hpp"
#include "sptrain/io.hpp"
#include "sptrain/sim.hpp"
#include "sptrain/trajectory_io.hpp"
#include "sptrain/trajectory_read.hpp"
#include "usage_error.hpp"

using namespace sptrain;
using test::usage_error;
namespace fs = std::filesystem;

namespace {

struct TempDir : test::TempDir {
  TempDir() : test::TempDir("rd") {}
  std::string file(const std::string& name, const std::string& content) const {
    const std::string p = (path / name).string();
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

std::string read_error(const std::string& path, const ReadOptions& o = {}) {
  return usage_error([&] { read_trajectories(path, o); });
}

template <class T>
void write_npy_file(const std::string& path, const std::vector<T>& v, std::vector<int64_t> shape) {
  std::ofstream out(path, std::ios::binary);
  io::write_npy(out, io::view("a", v, std::move(shape)));
}

template <class T>
std::string npy_bytes(const std::vector<T>& v, std::vector<int64_t> shape) {
  std::ostringstream out;
  io::write_npy(out, io::view("a", v, std::move(shape)));
  return out.str();
}

uint32_t crc32(const std::string& s) {
  uint32_t c = 0xffffffffu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return ~c;
}

template <class T>
void put(std::string& s, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) s += char((uint64_t(v) >> (8 * i)) & 0xff);
}

// A classic zip (no zip64 records) with the given members and compression method.
void write_plain_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& members,
                     uint16_t method = 0) {
  std::string z, cd;
  for (const auto& [name, data] : members) {
    const uint32_t off = uint32_t(z.size()), crc = crc32(data);
    put<uint32_t>(z, 0x04034b50);
    put<uint16_t>(z, 20);
    put<uint16_t>(z, 0);
    put<uint16_t>(z, method);
    put<uint16_t>(z, 0);
    put<uint16_t>(z, 0x21);
    put<uint32_t>(z, crc);
    put<uint32_t>(z, uint32_t(data.size()));
    put<uint32_t>(z, uint32_t(data.size()));
    put<uint16_t>(z, uint16_t(name.size()));
    put<uint16_t>(z, 0);
    z += name + data;
    put<uint32_t>(cd, 0x02014b50);
    put<uint16_t>(cd, 20);
    put<uint16_t>(cd, 20);
    put<uint16_t>(cd, 0);
    put<uint16_t>(cd, method);
    put<uint16_t>(cd, 0);
    put<uint16_t>(cd, 0x21);
    put<uint32_t>(cd, crc);
    put<uint32_t>(cd, uint32_t(data.size()));
    put<uint32_t>(cd, uint32_t(data.size()));
    put<uint16_t>(cd, uint16_t(name.size()));
    put<uint16_t>(cd, 0);
    put<uint16_t>(cd, 0);
    put<uint16_t>(cd, 0);
    put<uint16_t>(cd, 0);
    put<uint32_t>(cd, 0);
    put<uint32_t>(cd, off);
    cd += name;
  }
  const uint32_t cd_off = uint32_t(z.size());
  z += cd;
  put<uint32_t>(z, 0x06054b50);
  put<uint16_t>(z, 0);
  put<uint16_t>(z, 0);
  put<uint16_t>(z, uint16_t(members.size()));
  put<uint16_t>(z, uint16_t(members.size()));
  put<uint32_t>(z, uint32_t(cd.size()));
  put<uint32_t>(z, cd_off);
  put<uint16_t>(z, 0);
  std::ofstream(path, std::ios::binary) << z;
}

TrajectoryBatch small_batch(int64_t first = 5) {
  const char* toml =
      "length = 12\ndims = 2\n[states]\nsigma = [1.0, 5.0]\n[switching]\nmodel = \"poisson\"\nrate = 0.3\n";
  TrajectoryBatch b;
  simulate(parse_spec(toml).params, 11, first, 6, Device::cpu(), b);
  return b;
}

}  // namespace

// ---- NPY / NPZ readers --------------------------------------------------------------------------

TEST(ReadNpz, ReadsZip64ArchiveWrittenByWriteNpz) {
  TempDir d;
  std::vector<float> f = {1.5f, -2.0f, 3.25f, 4, 5, 6};
  std::vector<int64_t> i = {7, -8};
  std::vector<uint8_t> u = {1, 0, 1};
  const std::string p = d / "a.npz";
  {
    std::ofstream out(p, std::ios::binary);
    io::write_npz(out, {io::view("f", f, {2, 3}), io::view("i", i, {2}), io::view("u", u, {3})});
  }
  auto all = io::read_npz(p);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all["f"].dtype, io::DType::F32);
  EXPECT_EQ(all["f"].shape, (std::vector<int64_t>{2, 3}));
  for (size_t k = 0; k < f.size(); ++k) EXPECT_EQ(all["f"].as<float>()[k], f[k]);
  EXPECT_EQ(all["i"].dtype, io::DType::I64);
  EXPECT_EQ(all["i"].as<int64_t>()[1], -8);
  EXPECT_EQ(all["u"].shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(all["u"].as<uint8_t>()[2], 1);

  auto some = io::read_npz(p, {"i", "missing"});
  ASSERT_EQ(some.size(), 1u);
  EXPECT_EQ(some.count("i"), 1u);
}

TEST(ReadNpz, ReadsPlainZipAndRejectsCompressedOrCorruptMembers) {
  TempDir d;
  const std::string a = npy_bytes(std::vector<int32_t>{1, 2, 3}, {3});
  write_plain_zip(d / "plain.npz", {{"a.npy", a}, {"notes.txt", "hello"}});
  auto m = io::read_npz(d / "plain.npz");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m["a"].as<int32_t>()[2], 3);

  write_plain_zip(d / "deflated.npz", {{"a.npy", a}}, 8);
  std::string msg = usage_error([&] { io::read_npz(d / "deflated.npz"); });
  EXPECT_HAS(msg, "deflated.npz: member 'a.npy' is compressed");
  EXPECT_HAS(msg, "savez_compressed");

  std::string bytes;
  {
    std::ifstream in(d / "plain.npz", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[60] ^= 0x55;  // inside a.npy's header
  d.file("corrupt.npz", bytes);
  EXPECT_HAS(usage_error([&] { io::read_npz(d / "corrupt.npz"); }), "CRC mismatch");
  d.file("junk.npz", "this is not a zip archive at all, just text");
  EXPECT_HAS(usage_error([&] { io::read_npz(d / "junk.npz"); }), "junk.npz: not a readable NPZ archive");
}

TEST(ParseNpy, FromMemoryWithErrorsNamingTheSource) {
  const std::string b = npy_bytes(std::vector<double>{0.5, 1.5, 2.5, 3.5}, {2, 2});
  io::Array a = io::parse_npy(b.data(), b.size(), "mem");
  EXPECT_EQ(a.dtype, io::DType::F64);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(a.as<double>()[3], 3.5);
  EXPECT_HAS(usage_error([&] { io::parse_npy(b.data(), b.size() - 1, "mem"); }), "mem: not a readable NPY file");
  EXPECT_HAS(usage_error([&] { io::parse_npy("hello world", 11, "mem"); }), "missing NPY magic");
}

// ---- NPY (+ labels) as written by `sptrain simulate` --------------------------------------------

TEST(ReadTrajectories, SimulatedNpyWithLabels) {
  TempDir d;
  TrajectoryBatch b = small_batch();
  const int64_t L = b.params.length, D = b.params.dims, S = L - 1, C = b.params.max_switch_times;
  write_batch_npy(b, d / "sim.npy", "{}");
  TrajectorySet t = read_trajectories(d / "sim.npy");
  EXPECT_EQ(t.source, d / "sim.npy");
  EXPECT_EQ(t.dims, 2);
  ASSERT_EQ(t.size(), size_t(b.n));
  for (const char* l : {"sigma", "n_switches", "has_switch", "step_state", "switch_times"}) EXPECT_TRUE(t.has(l)) << l;
  EXPECT_FALSE(t.has("state_sigma"));
  int switched = 0;
  for (int64_t r = 0; r < b.n; ++r) {
    EXPECT_EQ(t.ids[r], b.first + r);
    ASSERT_EQ(t.length(r), L);
    for (int64_t j = 0; j < L; ++j) EXPECT_EQ(t.frames[r][j], j);
    for (int64_t k = 0; k < L * D; ++k) EXPECT_EQ(t.positions[r][k], b.positions[r * L * D + k]);
    EXPECT_EQ(t.sigma[r], b.traj_sigma[r]);
    EXPECT_EQ(t.n_switches[r], b.n_switches[r]);
    EXPECT_EQ(t.has_switch[r], b.n_switches[r] > 0);
    switched += b.n_switches[r] > 0;
    ASSERT_EQ(t.step_state[r].size(), size_t(S));
    for (int64_t j = 0; j < S; ++j) EXPECT_EQ(t.step_state[r][j], b.step_state[r * S + j]);
    std::vector<float> expect;
    for (int64_t c = 0; c < C; ++c)
      if (!std::isnan(b.switch_times[r * C + c])) expect.push_back(b.switch_times[r * C + c]);
    EXPECT_EQ(t.switch_times[r], expect);
  }
  EXPECT_GT(switched, 0);

  // The parameters each trajectory was made with are in the labels (float32, one per trajectory);
  // a labels file written before they were reads the same.
  const std::string lp = labels_path_for(d / "sim.npy");
  auto all = io::read_npz(lp);
  for (auto [name, v] : {std::pair{"localization", &b.localization}, {"exposure", &b.exposure}, {"rate_factor", &b.rate_factor}}) {
    ASSERT_TRUE(all.count(name)) << name;
    const io::Array& a = all.at(name);
    ASSERT_EQ(a.dtype, io::DType::F32) << name;
    ASSERT_EQ(a.shape, std::vector<int64_t>{b.n}) << name;
    EXPECT_EQ(std::vector<float>(a.as<float>(), a.as<float>() + b.n), *v) << name;
  }
  {
    std::vector<io::ArrayView> older;
    for (const auto& [name, a] : all)
      if (name != "localization" && name != "exposure" && name != "rate_factor")
        older.push_back({name, a.dtype, a.shape, a.bytes.data()});
    std::ofstream f(lp, std::ios::binary | std::ios::trunc);
    io::write_npz(f, older);
  }
  ASSERT_EQ(io::read_npz(lp).count("localization"), 0u);
  TrajectorySet o = read_trajectories(d / "sim.npy");
  EXPECT_EQ(o.ids, t.ids);
  EXPECT_EQ(o.sigma, t.sigma);
  EXPECT_EQ(o.n_switches, t.n_switches);
  EXPECT_EQ(o.step_state, t.step_state);
  EXPECT_EQ(o.switch_times, t.switch_times);

  // Pixel size scales positions and sigma.
  TrajectorySet s = read_trajectories(d / "sim.npy", {.pixel_size = 0.5});
  EXPECT_FLOAT_EQ(s.positions[1][3], b.positions[1 * L * D + 3] * 0.5f);
  EXPECT_FLOAT_EQ(s.sigma[2], b.traj_sigma[2] * 0.5f);

  // Without the labels file: positions only, ids 0..N-1.
  fs::remove(labels_path_for(d / "sim.npy"));
  TrajectorySet u = read_trajectories(d / "sim.npy");
  EXPECT_EQ(u.ids[3], 3);
  EXPECT_FALSE(u.has("sigma"));
  EXPECT_TRUE(u.sigma.empty() && u.step_state.empty() && u.switch_times.empty());
}

TEST(ReadTrajectories, TwoDimensionalFloat64NpyIsOneDimensional) {
  TempDir d;
  write_npy_file(d / "p.npy", std::vector<double>{0, 1, 2, 10, 11, 12.5}, {2, 3});
  TrajectorySet t = read_trajectories(d / "p.npy");
  EXPECT_EQ(t.dims, 1);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t.positions[1], (std::vector<float>{10, 11, 12.5f}));
  EXPECT_EQ(t.frames[0], (std::vector<int64_t>{0, 1, 2}));
}

TEST(ReadTrajectories, NpyErrors) {
  TempDir d;
  write_npy_file(d / "flat.npy", std::vector<float>{1, 2, 3}, {3});
  EXPECT_HAS(read_error(d / "flat.npy"), "flat.npy: positions have shape (3,); expected (N, L) or (N, L, D)");
  write_npy_file(d / "four.npy", std::vector<float>(16, 1.0f), {2, 2, 2, 2});
  EXPECT_HAS(read_error(d / "four.npy"), "four.npy: positions have shape (2, 2, 2, 2)");
  write_npy_file(d / "d4.npy", std::vector<float>(16, 1.0f), {2, 2, 4});
  EXPECT_HAS(read_error(d / "d4.npy"), "D must be 1, 2 or 3");
  write_npy_file(d / "ints.npy", std::vector<int32_t>{1, 2, 3, 4}, {2, 2});
  EXPECT_HAS(read_error(d / "ints.npy"), "ints.npy: positions must be float32 or float64");
  write_npy_file(d / "short.npy", std::vector<float>{1, 2}, {2, 1});
  EXPECT_HAS(read_error(d / "short.npy"), "short.npy: trajectories have 1 position, fewer than 2");
  write_npy_file(d / "nan.npy", std::vector<float>{1, 2, NAN, 4}, {2, 2});
  EXPECT_HAS(read_error(d / "nan.npy"), "nan.npy: trajectory 1, position 0: non-finite value nan");
  write_npy_file(d / "empty.npy", std::vector<float>{}, {0, 5, 2});
  EXPECT_HAS(read_error(d / "empty.npy"), "empty.npy: no trajectories");
  // An object array, as numpy writes a ragged list of trajectories.
  std::string obj = npy_bytes(std::vector<float>{}, {0});
  const size_t q = obj.find("<f4");
  obj.replace(q, 3, "|O ");
  d.file("ragged.npy", obj);
  EXPECT_HAS(read_error(d / "ragged.npy"), "ragged.npy: an object array (ragged trajectories?)");
  d.file("bad.npy", "not numpy");
  EXPECT_HAS(read_error(d / "bad.npy"), "bad.npy: not a readable NPY file");
  d.file("labels.npz", "PK\x03\x04");
  EXPECT_HAS(read_error(d / "labels.npz"), "labels.npz: is an NPZ archive");
  EXPECT_HAS(read_error(d / "nothing.csv"), "nothing.csv: no such file");
}

TEST(ReadTrajectories, LabelArraysThatDisagreeWithPositions) {
  TempDir d;
  write_npy_file(d / "x.npy", std::vector<float>(3 * 4 * 2, 1.0f), {3, 4, 2});
  auto labels = [&](const std::vector<io::ArrayView>& a) {
    std::ofstream out(d / "x.labels.npz", std::ios::binary);
    io::write_npz(out, a);
  };
  std::vector<float> sigma2 = {1, 2};
  labels({io::view("sigma", sigma2, {2})});
  EXPECT_HAS(read_error(d / "x.npy"), "x.labels.npz: 'sigma' has 2 rows, but " + (d / "x.npy") + " has 3 trajectories");
  std::vector<uint8_t> st(3 * 4, 0);
  labels({io::view("step_state", st, {3, 4})});
  EXPECT_HAS(read_error(d / "x.npy"), "x.labels.npz: 'step_state' has 4 steps per trajectory");
  std::vector<float> nsw = {0, 1, 2};
  labels({io::view("n_switches", nsw, {3})});
  EXPECT_HAS(read_error(d / "x.npy"), "'n_switches' must be an integer array");
  std::vector<float> st2(3 * 3, 0.0f);
  std::vector<int64_t> idx = {4, 5, 6};
  labels({io::view("switch_times", st2, {3, 3}), io::view("index", idx, {3})});
  TrajectorySet t = read_trajectories(d / "x.npy");
  EXPECT_EQ(t.ids, (std::vector<int64_t>{4, 5, 6}));
  EXPECT_TRUE(t.has("switch_times"));
  EXPECT_FALSE(t.has("sigma"));
}

// ---- tables -------------------------------------------------------------------------------------

TEST(ReadTrajectories, SimulatedCsvMatchesTheBatch) {
  TempDir d;
  TrajectoryBatch b = small_batch(20);
  const int64_t L = b.params.length, D = b.params.dims, S = L - 1;
  write_batch_csv(b, d / "sim.csv");
  TrajectorySet t = read_trajectories(d / "sim.csv");
  EXPECT_EQ(t.dims, 2);
  ASSERT_EQ(t.size(), size_t(b.n));
  EXPECT_TRUE(t.has("sigma") && t.has("n_switches") && t.has("has_switch") && t.has("step_state"));
  EXPECT_FALSE(t.has("switch_times"));
  for (int64_t r = 0; r < b.n; ++r) {
    EXPECT_EQ(t.ids[r], 20 + r);
    ASSERT_EQ(t.length(r), L);
    for (int64_t k = 0; k < L * D; ++k) EXPECT_EQ(t.positions[r][k], b.positions[r * L * D + k]);
    EXPECT_EQ(t.sigma[r], b.traj_sigma[r]);
    EXPECT_EQ(t.n_switches[r], b.n_switches[r]);
    EXPECT_EQ(t.has_switch[r], b.n_switches[r] > 0);
    ASSERT_EQ(t.step_state[r].size(), size_t(S));
    for (int64_t j = 0; j < S; ++j) EXPECT_EQ(t.step_state[r][j], b.step_state[r * S + j]);
  }
}

TEST(ReadTrajectories, TrackpyCsvAnyColumnOrderUnsortedRows) {
  TempDir d;
  // pandas writes an unnamed index column; rows of two particles interleaved and out of order.
  const std::string p = d.file("tp.csv",
                               ",y,x,mass,frame,particle\n"
                               "0,10.5,1.0,100,1,7\n"
                               "1,20.0,2.0,100,0,3\n"
                               "2,10.0,0.5,90,0,7\n"
                               "3,21.0,3.0,80,1,3\n"
                               "4,11.0,1.5,85,2,7\n");
  TrajectorySet t = read_trajectories(p);
  EXPECT_EQ(t.dims, 2);
  EXPECT_EQ(t.ids, (std::vector<int64_t>{3, 7}));
  EXPECT_EQ(t.frames[1], (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(t.positions[0], (std::vector<float>{2.0f, 20.0f, 3.0f, 21.0f}));
  EXPECT_EQ(t.positions[1], (std::vector<float>{0.5f, 10.0f, 1.0f, 10.5f, 1.5f, 11.0f}));
  EXPECT_FALSE(t.has("sigma") || t.has("step_state"));
  TrajectorySet s = read_trajectories(p, {.pixel_size = 2.0});
  EXPECT_EQ(s.positions[1][5], 22.0f);
}

TEST(ReadTrajectories, SpotOnAndAndiAndThreeDimensionalTables) {
  TempDir d;
  TrajectorySet s = read_trajectories(d.file("spoton.csv",
                                             "trajectory,frame,t,x,y\n"
                                             "0,5,0.05,1,2\n0,6,0.06,3,4\n0,7,0.07,5,6\n"
                                             "1,1,0.01,7,8\n1,2,0.02,9,10\n"));
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s.frames[0], (std::vector<int64_t>{5, 6, 7}));
  EXPECT_EQ(s.positions[1], (std::vector<float>{7, 8, 9, 10}));

  TrajectorySet a = read_trajectories(d.file("andi.csv",
                                             "traj_idx,frame,x,y\n"
                                             "0.0,0.0,1.5,2.5\n0.0,1.0,1.6,2.4\n2.0,0.0,0,0\n2.0,1.0,1e-3,-2E2\n"));
  EXPECT_EQ(a.ids, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(a.positions[1][3], -200.0f);

  TrajectorySet z = read_trajectories(d.file("tp3.tsv", "particle\tframe\tx\ty\tz\n1\t0\t1\t2\t3\n1\t1\t4\t5\t6\n"));
  EXPECT_EQ(z.dims, 3);
  EXPECT_EQ(z.positions[0], (std::vector<float>{1, 2, 3, 4, 5, 6}));

  TrajectorySet w = read_trajectories(d.file("ws.txt", "  particle  frame   x\n 4 0 1.0\n4 1\t2.0\n\n4 2 3.0\n"));
  EXPECT_EQ(w.dims, 1);
  EXPECT_EQ(w.positions[0], (std::vector<float>{1, 2, 3}));
}

TEST(ReadTrajectories, TrackMateSpotsCsvWithUnitRows) {
  TempDir d;
  const std::string p = d.file(
      "spots.csv",
      "LABEL,ID,TRACK_ID,QUALITY,POSITION_X,POSITION_Y,POSITION_Z,POSITION_T,FRAME\r\n"
      "Label,Spot ID,Track ID,Quality,X,Y,Z,T,Frame\r\n"
      "Label,Spot ID,Track ID,Quality,X,Y,Z,T,Frame\r\n"
      ",,,(quality),(micron),(micron),(micron),(sec),\r\n"
      "\"ID10\",10,0,1.0,0.5,0.25,0,0.1,1\r\n"
      "\"ID9\",9,0,1.0,0.4,0.20,0,0.0,0\r\n"
      "\"ID11\",11,None,1.0,9,9,0,0.0,0\r\n"
      "\"ID12\",12,3,1.0,2.0,3.0,1,0.0,4\r\n"
      "\"ID13\",13,3,1.0,2.5,3.5,1,0.1,5\r\n");
  TrajectorySet t = read_trajectories(p);
  EXPECT_EQ(t.dims, 3);
  EXPECT_EQ(t.ids, (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(t.positions[0], (std::vector<float>{0.4f, 0.2f, 0, 0.5f, 0.25f, 0}));
  EXPECT_EQ(t.frames[1], (std::vector<int64_t>{4, 5}));
}

TEST(ReadTrajectories, LocalizationsWithoutTrackIdsNeedLinking) {
  TempDir d;
  const std::string hint = "has no track ids: link localizations into trajectories first (e.g. trackpy.link)";
  EXPECT_HAS(read_error(d.file("locs.txt", "  1.0 2.5 3.5\n  2.0 2.6 3.4\n")), hint);
  const std::string m = read_error(d.file("locs.csv", "frame,x,y\n0,1,2\n"));
  EXPECT_HAS(m, "locs.csv: no column for track id (expected one of particle, TRACK_ID, trajectory, traj_idx)");
  EXPECT_HAS(m, hint);

  // A real recording's localizations (frame, x, y per row), where SPTRAIN_REAL_DATA names one.
  const char* env = std::getenv("SPTRAIN_REAL_DATA");
  const std::string real = env ? env : "";
  if (real.empty() || !fs::exists(real)) GTEST_SKIP() << "SPTRAIN_REAL_DATA names no localization file";
  const std::string r = read_error(real);
  EXPECT_HAS(r, real + ": ");
  EXPECT_HAS(r, hint);
}

TEST(ReadTrajectories, TableErrorsNameFileLineAndColumn) {
  TempDir d;
  EXPECT_HAS(read_error(d.file("empty.csv", "")), "empty.csv: empty file");
  EXPECT_HAS(read_error(d.file("blank.csv", "\n  \n")), "blank.csv: empty file");
  EXPECT_HAS(read_error(d.file("hdr.csv", "particle,frame,x,y\n")), "hdr.csv: no data rows after the header");
  EXPECT_HAS(read_error(d.file("nox.csv", "particle,frame,y\n0,0,1\n")),
             "nox.csv: no column for x (expected one of x, POSITION_X)");
  EXPECT_HAS(read_error(d.file("noframe.csv", "particle,x,y\n0,0,1\n")),
             "noframe.csv: no column for frame (expected one of frame, FRAME)");
  EXPECT_HAS(read_error(d.file("noy.csv", "particle,frame,x,z\n0,0,1,2\n")), "noy.csv: no column for y");

  const std::string head = "particle,frame,x,y\n";
  EXPECT_HAS(read_error(d.file("abc.csv", head + "0,0,1,2\n0,1,1,abc\n")), "abc.csv:3: column 'y': 'abc' is not a number");
  EXPECT_HAS(read_error(d.file("nan.csv", head + "0,0,nan,2\n")), "nan.csv:2: column 'x': 'nan' is not a finite number");
  EXPECT_HAS(read_error(d.file("inf.csv", head + "0,0,1,2\n0,1,1,-inf\n")),
             "inf.csv:3: column 'y': '-inf' is not a finite number");
  EXPECT_HAS(read_error(d.file("emptyv.csv", head + "0,0,,2\n")), "emptyv.csv:2: column 'x' is empty");
  EXPECT_HAS(read_error(d.file("frac.csv", head + "0,0.5,1,2\n")), "frac.csv:2: column 'frame': '0.5' is not an integer");
  EXPECT_HAS(read_error(d.file("fields.csv", head + "0,0,1,2\n0,1,1\n")),
             "fields.csv:3: 3 fields, but the header has 4 columns");
  EXPECT_HAS(read_error(d.file("dup.csv", head + "4,0,1,2\n4,1,1,2\n4,1,1,3\n")),
             "dup.csv:4: track 4 has frame 1 twice (also line 3)");

  const std::string gap = d.file("gap.csv", head + "4,9,1,2\n4,10,1,2\n\n4,12,1,3\n4,13,1,3\n");
  EXPECT_HAS(read_error(gap), "gap.csv:5: track 4 skips from frame 10 to 12");
  TrajectorySet g = read_trajectories(gap, {.allow_gaps = true});
  EXPECT_EQ(g.frames[0], (std::vector<int64_t>{9, 10, 12, 13}));

  const std::string shrt = d.file("short.csv", head + "1,0,1,2\n1,1,1,2\n7,3,1,2\n");
  EXPECT_HAS(read_error(shrt), "short.csv:4: track 7 has 1 position, fewer than 2");
  EXPECT_HAS(read_error(shrt, {.min_length = 3}), "short.csv:2: track 1 has 2 positions, fewer than 3");
  EXPECT_EQ(read_trajectories(shrt, {.min_length = 1}).size(), 2u);

  // sptrain's label columns: constant per track, a state on every frame but the last.
  const std::string lab = "particle,frame,x,state,sigma,n_switches,has_switch\n";
  EXPECT_HAS(read_error(d.file("sig.csv", lab + "0,0,1,0,1.5,0,0\n0,1,2,,1.25,0,0\n")),
             "sig.csv:3: column 'sigma': track 0 has 1.25 here but 1.5 on line 2");
  EXPECT_HAS(read_error(d.file("state.csv", lab + "0,0,1,,1.5,0,0\n0,1,2,,1.5,0,0\n")),
             "state.csv:2: column 'state' is empty, but only the last frame of track 0 may lack a state");
  TrajectorySet ok = read_trajectories(d.file("ok.csv", lab + "0,1,2,1,1.5,1,1\n0,0,1,0,1.5,1,1\n0,2,3,,1.5,1,1\n"));
  EXPECT_EQ(ok.step_state[0], (std::vector<int>{0, 1}));
  EXPECT_EQ(ok.n_switches[0], 1);
  EXPECT_EQ(ok.has_switch[0], 1);
  EXPECT_EQ(ok.sigma[0], 1.5f);

  d.file("t.xml", "<?xml version=\"1.0\"?><TrackMate/>");
  EXPECT_HAS(read_error(d / "t.xml"), "t.xml: no <Model> in this TrackMate file");
  EXPECT_HAS(usage_error([&] { read_trajectories(d / "ok.csv", {.pixel_size = -1}); }), "pixel size");
}

// ---- every label and position value is checked where it is read ----------------------------------

TEST(ReadTrajectories, NpzLabelValuesAreRangeChecked) {
  TempDir d;
  write_npy_file(d / "x.npy", std::vector<float>(3 * 4, 1.0f), {3, 4});
  auto labels = [&](const std::vector<io::ArrayView>& a) {
    std::ofstream out(d / "x.labels.npz", std::ios::binary);
    io::write_npz(out, a);
  };
  std::vector<float> nan_sigma = {1, NAN, 2}, neg_sigma = {1, 2, -0.5f}, zero_sigma = {0, 1, 1};
  labels({io::view("sigma", nan_sigma, {3})});
  EXPECT_HAS(read_error(d / "x.npy"), "x.labels.npz: 'sigma', trajectory 1 (id 1): sigma label nan is not a finite positive");
  labels({io::view("sigma", neg_sigma, {3})});
  EXPECT_HAS(read_error(d / "x.npy"), "trajectory 2 (id 2): sigma label -0.5 is not a finite positive");
  labels({io::view("sigma", zero_sigma, {3})});
  EXPECT_HAS(read_error(d / "x.npy"), "sigma label 0 is not a finite positive");
  std::vector<int64_t> big = {0, 3000000000ll, 1}, neg = {0, -1, 1};
  labels({io::view("n_switches", big, {3})});
  EXPECT_HAS(read_error(d / "x.npy"), "'n_switches', trajectory 1 (id 1): 3000000000 is outside [0, 2147483647]");
  labels({io::view("n_switches", neg, {3})});
  EXPECT_HAS(read_error(d / "x.npy"), "'n_switches', trajectory 1 (id 1): -1 is outside");
  // step_state as int32: 257 was read as state 1 (modulo 256); now out of range.
  std::vector<int32_t> st(3 * 3, 0);
  st[4] = 257;
  labels({io::view("step_state", st, {3, 3})});
  EXPECT_HAS(read_error(d / "x.npy"), "'step_state', trajectory 1 (id 1): 257 is outside [0, 255]");
  std::vector<uint8_t> hs = {0, 1, 0};
  std::vector<int32_t> ns = {0, 0, 0};
  labels({io::view("n_switches", ns, {3}), io::view("has_switch", hs, {3})});
  EXPECT_HAS(read_error(d / "x.npy"), "'has_switch', trajectory 1 (id 1): 1 but n_switches is 0");
  std::vector<float> times = {NAN, NAN, 5.0f, NAN, 1.5f, NAN};
  labels({io::view("switch_times", times, {3, 2})});
  EXPECT_HAS(read_error(d / "x.npy"), "'switch_times', trajectory 1 (id 1): 5 is not a time in [0, 3]");
  std::vector<int32_t> sig_int = {1, 1, 1};
  labels({io::view("sigma", sig_int, {3})});
  EXPECT_HAS(read_error(d / "x.npy"), "'sigma' must be float32 or float64");
  // Valid int32 states and int64 ids (beyond 2^53, exact) are accepted.
  std::vector<int32_t> st_ok(3 * 3, 2);
  std::vector<int64_t> ids = {(1ll << 53) + 1, 7, 8};
  labels({io::view("step_state", st_ok, {3, 3}), io::view("index", ids, {3})});
  TrajectorySet t = read_trajectories(d / "x.npy");
  EXPECT_EQ(t.step_state[2], (std::vector<int>{2, 2, 2}));
  EXPECT_EQ(t.ids[0], (1ll << 53) + 1);
}

TEST(ReadTrajectories, PositionsMustBeFiniteInFloat32) {
  TempDir d;
  write_npy_file(d / "big.npy", std::vector<double>{1, 2, 1e300, 4}, {2, 2});
  EXPECT_HAS(read_error(d / "big.npy"), "big.npy: trajectory 1, position 0: value 1e+300 does not fit in float32");
  const std::string head = "particle,frame,x,y\n";
  EXPECT_HAS(read_error(d.file("big.csv", head + "0,0,1,2\n0,1,1e300,2\n")),
             "big.csv:3: column 'x': value 1e+300 does not fit in float32");
  // Finite before scaling, infinite after.
  EXPECT_HAS(read_error(d.file("px.csv", head + "0,0,1,2\n0,1,3e38,2\n"), {.pixel_size = 10}),
             "px.csv:3: column 'x': value 3e+38 x pixel size does not fit in float32");
}

TEST(ReadTrajectories, CsvIntegerLabelsAreCheckedBeforeNarrowing) {
  TempDir d;
  const std::string lab = "particle,frame,x,sigma,n_switches\n";
  EXPECT_HAS(read_error(d.file("wrap.csv", lab + "0,0,1,1,3e9\n0,1,2,1,3e9\n")),
             "wrap.csv:2: column 'n_switches': '3e9' is not a switch count (0..2147483647)");
  EXPECT_HAS(read_error(d.file("neg.csv", lab + "0,0,1,1,-1\n0,1,2,1,-1\n")),
             "neg.csv:2: column 'n_switches': '-1' is not a switch count");
  EXPECT_HAS(read_error(d.file("sig0.csv", lab + "0,0,1,0,1\n0,1,2,0,1\n")),
             "sig0.csv:2: column 'sigma': sigma label 0 is not a finite positive number");
  EXPECT_HAS(read_error(d.file("hs.csv", "particle,frame,x,n_switches,has_switch\n0,0,1,2,0\n0,1,2,2,0\n")),
             "hs.csv:2: column 'has_switch' is 0 but n_switches is 2");
  TrajectorySet t = read_trajectories(d.file("ok.csv", lab + "3,0,1,1,2147483647\n3,1,2,1,2147483647\n"));
  EXPECT_EQ(t.n_switches[0], 2147483647);
  EXPECT_EQ(t.first_line, (std::vector<int64_t>{2}));
}

TEST(ReadTrajectories, AColumnNamedTwiceIsRefused) {
  TempDir d;
  EXPECT_HAS(read_error(d.file("twice.csv", "# tracks\nparticle,frame,x,X\n0,0,1,5\n0,1,2,6\n")),
             "twice.csv:2: column 'X' appears twice (columns 3 and 4)");
  // Unnamed columns (trailing commas) are not names and may repeat.
  TrajectorySet t = read_trajectories(d.file("trailing.csv", "particle,frame,x,,\n0,0,1,,\n0,1,2,,\n"));
  EXPECT_EQ(t.ids.size(), 1u);
}

TEST(ReadTrajectories, FileContentInMessagesIsEscaped) {
  TempDir d;
  const std::string msg = read_error(d.file("esc.csv", "particle,frame,x\n\x1b]0;t\x07,0,1\n"));
  EXPECT_HAS(msg, "esc.csv:2: column 'particle': '\\x1b]0;t\\x07' is not a number");
  EXPECT_EQ(msg.find('\x1b'), std::string::npos) << msg;
  const std::string m2 = read_error(d.file("esc2.csv", "particle,frame,x\n0,0,\x1b[2J\n"));
  EXPECT_HAS(m2, "esc2.csv:2: column 'x': '\\x1b[2J' is not a number");
  EXPECT_EQ(m2.find('\x1b'), std::string::npos) << m2;
}

TEST(ParseTrajectories, InMemoryBytesReadLikeTheFile) {
  TempDir d;
  const std::string csv = "particle,frame,x,y,sigma\n1,0,1,2,0.5\n1,1,1.5,2.5,0.5\n0,0,3,4,2\n0,1,3.5,4.5,2\n";
  const TrajectorySet f = read_trajectories(d.file("t.csv", csv));
  const TrajectorySet m = parse_trajectories(csv, "mem.csv");
  EXPECT_EQ(m.ids, f.ids);
  EXPECT_EQ(m.positions, f.positions);
  EXPECT_EQ(m.sigma, f.sigma);
  EXPECT_EQ(m.source, "mem.csv");
  const std::string npy = npy_bytes(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(parse_trajectories(npy, "mem.npy").positions[1], (std::vector<float>{4, 5, 6}));
  EXPECT_HAS(usage_error([&] { parse_trajectories(csv.substr(0, 40) + "\x01", "mem.csv"); }), "mem.csv:");
}
