// PNG figures through gnuplot: image validity, .dat contents, escaping, cleanup of temporaries,
// behaviour without gnuplot and with a failing gnuplot.
#include <gtest/gtest.h>

#include "temp_dir.hpp"
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "sptrain/plots.hpp"

using namespace sptrain;
namespace fs = std::filesystem;

namespace {

struct TempDir : test::TempDir {
  TempDir() : test::TempDir("plots") {}
  std::string str() const { return path.string(); }
};

// Sets PATH for the lifetime of the object, restores it afterwards.
struct ScopedPath {
  std::optional<std::string> saved;
  explicit ScopedPath(const std::string& value) {
    if (const char* p = std::getenv("PATH")) saved = p;
    setenv("PATH", value.c_str(), 1);
  }
  ~ScopedPath() {
    if (saved)
      setenv("PATH", saved->c_str(), 1);
    else
      unsetenv("PATH");
  }
};

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint32_t be32(const std::string& s, size_t at) {
  return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) |
         (uint32_t(uint8_t(s[at + 2])) << 8) | uint32_t(uint8_t(s[at + 3]));
}

// A PNG: signature, IHDR first with width and height > 100, IEND last.
void expect_valid_png(const fs::path& p) {
  ASSERT_TRUE(fs::exists(p)) << p;
  std::string b = read_bytes(p);
  ASSERT_GT(b.size(), 8u + 25u + 12u) << p;
  EXPECT_EQ(b.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << p;
  EXPECT_EQ(be32(b, 8), 13u);
  EXPECT_EQ(b.substr(12, 4), "IHDR");
  EXPECT_GT(be32(b, 16), 100u) << "width";
  EXPECT_GT(be32(b, 20), 100u) << "height";
  const std::string tail = b.substr(b.size() - 12);
  EXPECT_EQ(be32(tail, 0), 0u);
  EXPECT_EQ(tail.substr(4, 4), "IEND");
}

// Non-empty lines not starting with '#'.
std::vector<std::string> data_lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#') out.push_back(line);
  return out;
}

// Only <name>.png / <name>.dat files remain: no scripts, logs or partial images.
void expect_no_temporaries(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string f = e.path().filename().string();
    std::string ext = e.path().extension().string();
    EXPECT_TRUE((ext == ".png" || ext == ".dat") && f[0] != '.') << "left over: " << f;
  }
}

// Checks the outcome of one plotting call: the .dat always, the PNG when gnuplot exists.
void check_result(bool wrote, const std::string& why, const TempDir& d, const std::string& name,
                  size_t expected_lines) {
  const fs::path dat = d.path / (name + ".dat"), png = d.path / (name + ".png");
  ASSERT_TRUE(fs::exists(dat));
  EXPECT_EQ(data_lines(dat).size(), expected_lines);
  expect_no_temporaries(d.path);
  if (!plots::gnuplot_available()) {
    EXPECT_FALSE(wrote);
    EXPECT_FALSE(why.empty());
    EXPECT_FALSE(fs::exists(png));
    GTEST_SKIP() << "gnuplot not available: " << why;
  }
  EXPECT_TRUE(wrote);
  expect_valid_png(png);
}

std::vector<plots::Series> two_curves() {
  plots::Series loss{"loss", {}, {}}, val{"val_loss", {}, {}};
  for (int e = 1; e <= 10; ++e) {
    loss.x.push_back(e);
    loss.y.push_back(1.0 / e);
  }
  for (int e = 1; e <= 8; ++e) {
    val.x.push_back(e);
    val.y.push_back(1.2 / e + 0.05);
  }
  return {loss, val};
}

}  // namespace

TEST(Plots, LearningCurvesWritesPngAndDat) {
  TempDir d;
  std::string why;
  bool ok = plots::learning_curves(d.str(), "loss", two_curves(), "epoch", "loss", true, &why);
  check_result(ok, why, d, "loss", 18);
}

TEST(Plots, LearningCurvesDatHoldsOneBlockPerSeries) {
  TempDir d;
  plots::learning_curves(d.str(), "lc", two_curves(), "epoch", "loss", false, nullptr);
  std::string text = read_bytes(d.path / "lc.dat");
  EXPECT_NE(text.find("# series 0: loss"), std::string::npos);
  EXPECT_NE(text.find("\n\n\n# series 1: val_loss"), std::string::npos);
  auto lines = data_lines(d.path / "lc.dat");
  ASSERT_EQ(lines.size(), 18u);
  EXPECT_EQ(lines[0], "1 1");
  EXPECT_EQ(lines[10], "1 1.25");
}

TEST(Plots, LearningCurvesWithoutPlottableDataStillRenders) {
  TempDir d;
  std::string why;
  std::vector<plots::Series> c = {{"empty", {}, {}}, {"zeros", {1, 2, 3}, {0, 0, -1}}};
  bool ok = plots::learning_curves(d.str(), "nodata", c, "epoch", "loss", true, &why);
  check_result(ok, why, d, "nodata", 3);
}

TEST(Plots, HistogramByClassWritesPngAndDat) {
  TempDir d;
  std::vector<double> pred;
  std::vector<int> cls;
  for (int i = 0; i < 900; ++i) {
    int c = i % 3;
    cls.push_back(c);
    pred.push_back(c + 0.3 * std::sin(0.37 * i));
  }
  pred.push_back(NAN);
  cls.push_back(0);
  std::string why;
  bool ok = plots::histogram_by_class(d.str(), "hist", pred, cls, {"free", "confined", "directed"},
                                      25, "predicted class score", &why);
  auto lines = data_lines(d.path / "hist.dat");
  ASSERT_EQ(lines.size(), 25u);
  int64_t per_class[3] = {0, 0, 0};
  for (const auto& l : lines) {
    std::istringstream in(l);
    double lo, hi, center;
    int64_t c0, c1, c2;
    ASSERT_TRUE(in >> lo >> hi >> center >> c0 >> c1 >> c2) << l;
    EXPECT_LT(lo, hi);
    per_class[0] += c0;
    per_class[1] += c1;
    per_class[2] += c2;
  }
  EXPECT_EQ(per_class[0], 300);  // the NaN is not counted
  EXPECT_EQ(per_class[1], 300);
  EXPECT_EQ(per_class[2], 300);
  check_result(ok, why, d, "hist", 25);
}

TEST(Plots, ScatterWithIdentityWritesPngAndDat) {
  TempDir d;
  std::vector<double> t, p;
  for (int i = 0; i < 500; ++i) {
    t.push_back(0.01 * i);
    p.push_back(0.01 * i + 0.1 * std::sin(double(i)));
  }
  std::string why;
  bool ok = plots::scatter_with_identity(d.str(), "scatter", t, p, "diffusion coefficient", &why);
  check_result(ok, why, d, "scatter", 500);
}

TEST(Plots, ScatterSubsamplesEveryKthPoint) {
  TempDir d;
  const size_t n = 50001;  // k = ceil(50001 / 20000) = 3 -> 16667 points
  std::vector<double> t(n), p(n);
  for (size_t i = 0; i < n; ++i) {
    t[i] = double(i);
    p[i] = double(i) + 0.5;
  }
  std::string why;
  bool ok = plots::scatter_with_identity(d.str(), "big", t, p, "alpha", &why);
  auto lines = data_lines(d.path / "big.dat");
  ASSERT_EQ(lines.size(), 16667u);
  EXPECT_LE(lines.size(), plots::kMaxScatterPoints);
  EXPECT_EQ(lines[0], "0 0.5");
  EXPECT_EQ(lines[1], "3 3.5");
  EXPECT_EQ(lines.back(), "49998 49998.5");
  check_result(ok, why, d, "big", 16667);
}

TEST(Plots, ConfusionMatrixWritesPngAndDat) {
  TempDir d;
  std::vector<std::vector<int64_t>> counts = {
      {950, 30, 20, 0}, {40, 800, 100, 60}, {5, 10, 70, 15}, {0, 0, 0, 0}};
  std::string why;
  bool ok = plots::confusion_matrix(d.str(), "confusion", counts,
                                    {"free", "confined", "directed", "anomalous_sub"}, &why);
  auto lines = data_lines(d.path / "confusion.dat");
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[1], "40 800 100 60");
  check_result(ok, why, d, "confusion", 4);
}

TEST(Plots, ExampleTrajectoriesShowsAtMostSixPanels) {
  TempDir d;
  std::vector<std::vector<double>> pos;
  std::vector<std::vector<int>> ts, ps;
  for (int e = 0; e < 8; ++e) {
    std::vector<double> x(60);
    std::vector<int> t(59), p(59);
    double v = 0;
    for (int f = 0; f < 60; ++f) {
      v += std::sin(0.3 * f + e) * (f < 30 ? 1.0 : 0.2);
      x[size_t(f)] = v;
    }
    for (int s = 0; s < 59; ++s) {
      t[size_t(s)] = s < 30 ? 0 : 1;
      p[size_t(s)] = s < 27 + e ? 0 : (s % 17 == 0 ? 2 : 1);
    }
    pos.push_back(x);
    ts.push_back(t);
    ps.push_back(p);
  }
  std::string why;
  bool ok = plots::example_trajectories(d.str(), "examples", pos, ts, ps, &why);
  auto lines = data_lines(d.path / "examples.dat");
  ASSERT_EQ(lines.size(), 6u * 60u);
  EXPECT_EQ(lines[59].substr(0, 5), "0 59 ");
  EXPECT_EQ(lines[59].substr(lines[59].size() - 6), " -1 -1");  // no step after the last frame
  check_result(ok, why, d, "examples", 360);
}

TEST(Plots, ExampleTrajectoriesWithoutPredictions) {
  TempDir d;
  std::vector<std::vector<double>> pos = {{0, 1, 2, 3, 2, 1}, {5, 5, 5, 5}};
  std::vector<std::vector<int>> ts = {{0, 0, 1, 1, 0}, {2, 2, 2}};
  std::string why;
  bool ok = plots::example_trajectories(d.str(), "two", pos, ts, {}, &why);
  check_result(ok, why, d, "two", 10);
}

TEST(Plots, QuotesBackslashesAndUnderscoresInTextAreSafe) {
  TempDir d;
  const std::string nasty = "it's a \"quoted\" \\label\\ with_under_scores {x}^2 @$ %d\nnewline";
  std::vector<plots::Series> c = two_curves();
  c[0].label = nasty;
  std::string why;
  bool ok1 = plots::learning_curves(d.str(), "weird_name_1", c, nasty, nasty, false, &why);
  bool ok2 = plots::histogram_by_class(d.str(), "weird_name_2", {0.1, 0.9, 0.5}, {0, 1, 1},
                                       {nasty, "b'\"c"}, 5, nasty, &why);
  bool ok3 = plots::scatter_with_identity(d.str(), "weird_name_3", {1, 2}, {1, 2.5}, nasty, &why);
  bool ok4 =
      plots::confusion_matrix(d.str(), "weird_name_4", {{1, 2}, {3, 4}}, {nasty, "x_y"}, &why);
  expect_no_temporaries(d.path);
  if (!plots::gnuplot_available()) GTEST_SKIP() << "gnuplot not available";
  EXPECT_TRUE(ok1 && ok2 && ok3 && ok4);
  for (int i = 1; i <= 4; ++i)
    expect_valid_png(d.path / ("weird_name_" + std::to_string(i) + ".png"));
}

TEST(Plots, WithoutGnuplotOnPathOnlyDatIsWritten) {
  TempDir d;
  fs::create_directories(d.path / "emptybin");
  fs::path out = d.path / "out";
  std::string why;
  {
    ScopedPath guard((d.path / "emptybin").string());
    EXPECT_FALSE(plots::gnuplot_available(&why));
    EXPECT_NE(why.find("gnuplot"), std::string::npos) << why;

    why.clear();
    EXPECT_FALSE(
        plots::learning_curves(out.string(), "a", two_curves(), "epoch", "loss", false, &why));
    EXPECT_FALSE(why.empty());
    why.clear();
    EXPECT_FALSE(plots::histogram_by_class(out.string(), "b", {0.1, 0.2}, {0, 1}, {"x", "y"}, 4,
                                           "score", &why));
    EXPECT_FALSE(why.empty());
    why.clear();
    EXPECT_FALSE(plots::scatter_with_identity(out.string(), "c", {1, 2, 3}, {1, 2, 3}, "v", &why));
    EXPECT_FALSE(why.empty());
    why.clear();
    EXPECT_FALSE(plots::confusion_matrix(out.string(), "e", {{1, 0}, {0, 1}}, {"x", "y"}, &why));
    EXPECT_FALSE(why.empty());
    why.clear();
    EXPECT_FALSE(plots::example_trajectories(out.string(), "f", {{0, 1, 2}}, {{0, 1}}, {}, &why));
    EXPECT_FALSE(why.empty());
    EXPECT_FALSE(plots::learning_curves(out.string(), "g", two_curves(), "epoch", "loss", false,
                                        nullptr));  // why may be null
  }
  EXPECT_EQ(data_lines(out / "a.dat").size(), 18u);
  EXPECT_EQ(data_lines(out / "b.dat").size(), 4u);
  EXPECT_EQ(data_lines(out / "c.dat").size(), 3u);
  EXPECT_EQ(data_lines(out / "e.dat").size(), 2u);
  EXPECT_EQ(data_lines(out / "f.dat").size(), 3u);
  EXPECT_TRUE(fs::exists(out / "g.dat"));
  for (const char* n : {"a", "b", "c", "e", "f", "g"})
    EXPECT_FALSE(fs::exists(out / (std::string(n) + ".png")));
  expect_no_temporaries(out);
}

TEST(Plots, FailingGnuplotThrowsWithItsStderr) {
  TempDir d;
  fs::path bin = d.path / "bin";
  fs::create_directories(bin);
  {
    std::ofstream f(bin / "gnuplot");
    f << "#!/bin/sh\necho 'line 7: simulated gnuplot failure' >&2\nexit 1\n";
  }
  chmod((bin / "gnuplot").c_str(), 0755);
  fs::path out = d.path / "out";
  {
    ScopedPath guard(bin.string());
    EXPECT_TRUE(plots::gnuplot_available());
    try {
      plots::learning_curves(out.string(), "loss", two_curves(), "epoch", "loss", false, nullptr);
      ADD_FAILURE() << "expected std::runtime_error";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("simulated gnuplot failure"), std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(data_lines(out / "loss.dat").size(), 18u);
  EXPECT_FALSE(fs::exists(out / "loss.png"));
  expect_no_temporaries(out);
}

TEST(Plots, InconsistentInputsThrow) {
  TempDir d;
  std::vector<plots::Series> bad = {{"x", {1, 2}, {1}}};
  EXPECT_THROW(plots::learning_curves(d.str(), "a", bad, "x", "y", false, nullptr),
               std::invalid_argument);
  EXPECT_THROW(plots::histogram_by_class(d.str(), "b", {0.1}, {2}, {"x", "y"}, 4, "s", nullptr),
               std::invalid_argument);
  EXPECT_THROW(plots::histogram_by_class(d.str(), "b", {0.1}, {0}, {"x"}, 0, "s", nullptr),
               std::invalid_argument);
  EXPECT_THROW(plots::scatter_with_identity(d.str(), "c", {1, 2}, {1}, "v", nullptr),
               std::invalid_argument);
  EXPECT_THROW(plots::confusion_matrix(d.str(), "e", {{1, 2}}, {"x", "y"}, nullptr),
               std::invalid_argument);
  EXPECT_THROW(plots::example_trajectories(d.str(), "f", {{0, 1}}, {}, {}, nullptr),
               std::invalid_argument);
  EXPECT_THROW(plots::scatter_with_identity(d.str(), "sub/dir", {1}, {1}, "v", nullptr),
               std::invalid_argument);
  EXPECT_THROW(plots::scatter_with_identity(d.str(), "", {1}, {1}, "v", nullptr),
               std::invalid_argument);
}
