// PNG figures: the data goes to <name>.dat, a gnuplot script reading it is written to a temporary
// beside it, gnuplot renders to a temporary PNG that is renamed into place on success.
#include "sptrain/plots.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>

#include "sptrain/io.hpp"

namespace sptrain::plots {
namespace {

namespace fs = std::filesystem;

// Distinct colours (0xRRGGBB) for series, classes and states; cycled when there are more.
constexpr uint32_t kColors[] = {0x1f77b4, 0xd62728, 0x2ca02c, 0xff7f0e, 0x9467bd,
                                0x8c564b, 0xe377c2, 0x17becf, 0xbcbd22, 0x7f7f7f};
constexpr size_t kNumColors = sizeof(kColors) / sizeof(kColors[0]);

std::string color(size_t i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%06x", unsigned(kColors[i % kNumColors]));
  return buf;
}

// A gnuplot single-quoted string literal: only '' needs escaping inside; backslashes stay
// literal. Control characters (newlines) would end the command, so they become spaces.
std::string q(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "''";
    else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      out += ' ';
    else
      out += c;
  }
  return out + "'";
}

// Explicit tic labels are format strings to gnuplot: a literal '%' must be doubled.
std::string tic_label(const std::string& s) {
  std::string out;
  for (char c : s) {
    out += c;
    if (c == '%') out += '%';
  }
  return out;
}

// A POSIX shell single-quoted word.
std::string shq(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

// A number for the .dat and the script: NaN for anything non-finite.
std::string num(double v) {
  if (!std::isfinite(v)) return "NaN";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

// A number for a title or key: 3 significant digits.
std::string short_num(double v) {
  if (!std::isfinite(v)) return "NaN";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// A column name for a '#' header: no whitespace.
std::string column_name(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isspace(static_cast<unsigned char>(c)) ? '_' : c);
  return out.empty() ? "_" : out;
}

void check_name(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    throw std::invalid_argument("plots: bad figure name '" + name + "'");
}

std::string find_gnuplot(std::string* why) {
  const char* path = std::getenv("PATH");
  if (path == nullptr || *path == '\0') {
    if (why) *why = std::string("gnuplot not found: PATH is not set");
    return {};
  }
  std::string p = path;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    const std::string d = end > start ? p.substr(start, end - start) : std::string(".");
    std::string cand = d + "/gnuplot";
    struct stat st {};
    if (::stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(cand.c_str(), X_OK) == 0)
      return cand;
    start = end + 1;
  }
  if (why) *why = std::string("gnuplot not found on PATH");
  return {};
}

// Writes <dir>/<name>.dat atomically; creates dir if needed. Returns the path.
std::string write_dat(const std::string& dir, const std::string& name, const std::string& text) {
  check_name(name);
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::string path = (fs::path(dir) / (name + ".dat")).string();
  io::AtomicFile f(path);
  f.stream() << text;
  f.commit();
  return path;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::atomic<unsigned> g_counter{0};

// Renders `body` (gnuplot commands after the terminal and output are set) to <dir>/<name>.png.
bool render(const std::string& dir, const std::string& name, const std::string& body, int width,
            int height, std::string* why) {
  std::string gnuplot = find_gnuplot(why);
  if (gnuplot.empty()) return false;

  const std::string stem = (fs::path(dir) / ("." + name + ".tmp-" + std::to_string(::getpid()) +
                                             "-" + std::to_string(g_counter++)))
                               .string();
  const std::string script_path = stem + ".gp", err_path = stem + ".err", png_tmp = stem + ".png";
  const std::string png_path = (fs::path(dir) / (name + ".png")).string();
  // Removed on every exit path, and by the signal handler if the command is interrupted.
  const io::ScratchFile scratch[] = {io::ScratchFile(script_path), io::ScratchFile(err_path), io::ScratchFile(png_tmp)};

  std::ostringstream s;
  s << "set encoding utf8\n"
    << "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
    << "  set terminal pngcairo size " << width << "," << height
    << " noenhanced font 'Sans,10' background '#ffffff'\n"
    << "} else {\n"
    << "  set terminal png size " << width << "," << height << " noenhanced truecolor\n"
    << "}\n"
    << "set termoption noenhanced\n"
    << "set datafile missing 'NaN'\n"
    << "set output " << q(png_tmp) << "\n"
    << body << "\nunset output\n";
  {
    std::ofstream out(script_path, std::ios::binary | std::ios::trunc);
    out << s.str();
    out.close();
    if (!out) throw std::runtime_error("plots: cannot write gnuplot script " + script_path);
  }

  std::string cmd =
      shq(gnuplot) + " " + shq(script_path) + " </dev/null >" + shq(err_path) + " 2>&1";
  int rc = std::system(cmd.c_str());
  bool ok = rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
  struct stat st {};
  if (ok && (::stat(png_tmp.c_str(), &st) != 0 || st.st_size == 0)) ok = false;
  if (!ok) {
    std::string err = read_all(err_path);
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    std::string status = rc == -1          ? "could not be started"
                         : WIFEXITED(rc)   ? "exited with status " + std::to_string(WEXITSTATUS(rc))
                         : WIFSIGNALED(rc) ? "killed by signal " + std::to_string(WTERMSIG(rc))
                                           : "failed";
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 0) status = "produced no image";
    throw std::runtime_error("plots: gnuplot " + status + " rendering " + png_path +
                             (err.empty() ? std::string() : ":\n" + err));
  }
  if (std::rename(png_tmp.c_str(), png_path.c_str()) != 0)
    throw std::runtime_error("plots: cannot rename " + png_tmp + " to " + png_path);
  return true;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return !(lo <= hi); }
  // Makes the range non-empty and non-degenerate.
  void settle(double def_lo, double def_hi) {
    if (empty()) {
      lo = def_lo;
      hi = def_hi;
    }
    if (lo == hi) {
      double d = lo == 0 ? 0.5 : std::abs(lo) * 0.05;
      lo -= d;
      hi += d;
    }
  }
};

}  // namespace

bool gnuplot_available(std::string* why) { return !find_gnuplot(why).empty(); }

bool learning_curves(const std::string& dir, const std::string& name,
                     const std::vector<Series>& curves, const std::string& xlabel,
                     const std::string& ylabel, bool logy, std::string* why) {
  for (const auto& c : curves)
    if (c.x.size() != c.y.size())
      throw std::invalid_argument("plots::learning_curves: series '" + c.label + "' has " +
                                  std::to_string(c.x.size()) + " x and " +
                                  std::to_string(c.y.size()) + " y values");
  std::ostringstream dat, plot;
  dat << "# learning curves: " << ylabel << " against " << xlabel << "\n"
      << "# one block per non-empty series, separated by two blank lines\n";
  bool any_valid = false;
  int block = 0;
  for (size_t i = 0; i < curves.size(); ++i) {
    const Series& c = curves[i];
    if (c.x.empty()) {
      dat << "# series '" << c.label << "': no points\n";
      continue;
    }
    if (block > 0) dat << "\n\n";
    dat << "# series " << block << ": " << c.label << "\n# x y\n";
    for (size_t j = 0; j < c.x.size(); ++j) {
      dat << num(c.x[j]) << " " << num(c.y[j]) << "\n";
      if (std::isfinite(c.x[j]) && std::isfinite(c.y[j]) && (!logy || c.y[j] > 0)) any_valid = true;
    }
    plot << (block > 0 ? ", \\\n  " : "plot ") << "DAT index " << block
         << " using 1:" << (logy ? "($2 > 0 ? $2 : NaN)" : "2")
         << " with linespoints lw 2 pt 7 ps 0.6 lc rgb '" << color(i) << "' title " << q(c.label);
    ++block;
  }
  const std::string dat_path = write_dat(dir, name, dat.str());

  std::ostringstream s;
  s << "DAT = " << q(dat_path) << "\n"
    << "set xlabel " << q(xlabel) << "\nset ylabel " << q(ylabel) << "\n"
    << "set grid\nset key top right box opaque\n";
  if (logy) s << "set logscale y\n";
  if (!any_valid) {
    s << "set xrange [0:1]\n"
      << (logy ? "set yrange [0.1:10]\n" : "set yrange [0:1]\n")
      << "set label 1 'no data' at graph 0.5, graph 0.5 center\nplot NaN notitle\n";
  } else {
    s << plot.str() << "\n";
  }
  return render(dir, name, s.str(), 900, 600, why);
}

bool histogram_by_class(const std::string& dir, const std::string& name,
                        const std::vector<double>& predictions, const std::vector<int>& true_class,
                        const std::vector<std::string>& class_names, int bins,
                        const std::string& xlabel, std::string* why) {
  if (predictions.size() != true_class.size())
    throw std::invalid_argument("plots::histogram_by_class: " + std::to_string(predictions.size()) +
                                " predictions but " + std::to_string(true_class.size()) +
                                " true classes");
  if (bins < 1) throw std::invalid_argument("plots::histogram_by_class: bins must be >= 1");
  const size_t K = class_names.size();
  for (int c : true_class)
    if (c < 0 || size_t(c) >= K)
      throw std::invalid_argument("plots::histogram_by_class: class id " + std::to_string(c) +
                                  " outside [0, " + std::to_string(K) + ")");
  Range r;
  for (double v : predictions) r.add(v);
  r.settle(0.0, 1.0);
  const double width = (r.hi - r.lo) / bins;
  std::vector<std::vector<int64_t>> counts(K, std::vector<int64_t>(size_t(bins), 0));
  int64_t skipped = 0, max_count = 0;
  for (size_t i = 0; i < predictions.size(); ++i) {
    double v = predictions[i];
    if (!std::isfinite(v)) {
      ++skipped;
      continue;
    }
    auto b = int64_t(std::floor((v - r.lo) / width));
    b = std::clamp<int64_t>(b, 0, bins - 1);
    max_count = std::max(max_count, ++counts[size_t(true_class[i])][size_t(b)]);
  }
  std::ostringstream dat;
  dat << "# histogram of " << xlabel << " by true class; " << skipped << " non-finite skipped\n"
      << "# bin_lo bin_hi center";
  for (const auto& n : class_names) dat << " count_" << column_name(n);
  dat << "\n";
  for (int b = 0; b < bins; ++b) {
    double lo = r.lo + width * b, hi = (b == bins - 1) ? r.hi : r.lo + width * (b + 1);
    dat << num(lo) << " " << num(hi) << " " << num(0.5 * (lo + hi));
    for (size_t k = 0; k < K; ++k) dat << " " << counts[k][size_t(b)];
    dat << "\n";
  }
  const std::string dat_path = write_dat(dir, name, dat.str());

  std::ostringstream s;
  s << "DAT = " << q(dat_path) << "\n"
    << "set xlabel " << q(xlabel) << "\nset ylabel 'count'\n"
    << "set style fill transparent solid 0.35 border\n"
    << "set boxwidth " << num(width) << " absolute\n"
    << "set xrange [" << num(r.lo) << ":" << num(r.hi) << "]\n"
    << (max_count > 0 ? "set yrange [0:*]\n" : "set yrange [0:1]\n")
    << "set grid\nset key top right box opaque\n";
  if (K == 0) {
    s << "set label 1 'no classes' at graph 0.5, graph 0.5 center\nplot NaN notitle\n";
  } else {
    for (size_t k = 0; k < K; ++k)
      s << (k == 0 ? "plot " : ", \\\n  ") << "DAT using 3:" << (k + 4) << " with boxes lc rgb '"
        << color(k) << "' title " << q(class_names[k]);
    s << "\n";
  }
  return render(dir, name, s.str(), 900, 600, why);
}

bool scatter_with_identity(const std::string& dir, const std::string& name,
                           const std::vector<double>& truth, const std::vector<double>& predicted,
                           const std::string& label, std::string* why) {
  if (truth.size() != predicted.size())
    throw std::invalid_argument("plots::scatter_with_identity: " + std::to_string(truth.size()) +
                                " true but " + std::to_string(predicted.size()) +
                                " predicted values");
  const size_t n = truth.size();
  const size_t k = n > kMaxScatterPoints ? (n + kMaxScatterPoints - 1) / kMaxScatterPoints : 1;
  Range r;
  std::ostringstream dat;
  dat << "# predicted against true " << label << "; " << n << " points";
  if (k > 1) dat << ", every " << k << "-th shown";
  dat << "\n# true predicted\n";
  size_t shown = 0;
  for (size_t i = 0; i < n; i += k) {
    dat << num(truth[i]) << " " << num(predicted[i]) << "\n";
    if (std::isfinite(truth[i]) && std::isfinite(predicted[i])) {
      r.add(truth[i]);
      r.add(predicted[i]);
    }
    ++shown;
  }
  const std::string dat_path = write_dat(dir, name, dat.str());
  r.settle(0.0, 1.0);
  const double pad = 0.03 * (r.hi - r.lo);
  const std::string lo = num(r.lo - pad), hi = num(r.hi + pad);

  std::string title = label + " (n = " + std::to_string(n);
  if (k > 1) title += ", " + std::to_string(shown) + " shown";
  title += ")";
  std::ostringstream s;
  s << "DAT = " << q(dat_path) << "\n"
    << "set title " << q(title) << "\n"
    << "set xlabel " << q("true " + label) << "\nset ylabel " << q("predicted " + label) << "\n"
    << "set size ratio -1\nset grid\nset key top left box opaque\n"
    << "set xrange [" << lo << ":" << hi << "]\nset yrange [" << lo << ":" << hi << "]\n"
    << "set samples 2\n";
  const double ps = shown > 5000 ? 0.25 : shown > 500 ? 0.45 : 0.7;
  if (shown > 0)
    s << "plot DAT using 1:2 with points pt 7 ps " << ps
      << " lc rgb '#801f77b4' title 'predictions', \\\n"
      << "  x with lines lw 2 dt 2 lc rgb '#d62728' title 'y = x'\n";
  else
    s << "plot x with lines lw 2 dt 2 lc rgb '#d62728' title 'y = x'\n";
  return render(dir, name, s.str(), 800, 800, why);
}

bool confusion_matrix(const std::string& dir, const std::string& name,
                      const std::vector<std::vector<int64_t>>& counts,
                      const std::vector<std::string>& class_names, std::string* why) {
  const size_t K = class_names.size();
  if (K == 0) throw std::invalid_argument("plots::confusion_matrix: no classes");
  if (counts.size() != K)
    throw std::invalid_argument("plots::confusion_matrix: " + std::to_string(counts.size()) +
                                " rows for " + std::to_string(K) + " classes");
  for (const auto& row : counts) {
    if (row.size() != K)
      throw std::invalid_argument("plots::confusion_matrix: a row has " +
                                  std::to_string(row.size()) + " columns for " + std::to_string(K) +
                                  " classes");
    for (int64_t c : row)
      if (c < 0) throw std::invalid_argument("plots::confusion_matrix: negative count");
  }
  std::ostringstream dat, block;
  dat << "# confusion matrix: rows = true class, columns = predicted class\n#";
  for (const auto& n : class_names) dat << " " << column_name(n);
  dat << "\n";
  block << "$CM << EOD\n";
  for (size_t i = 0; i < K; ++i) {
    int64_t total = 0;
    for (size_t j = 0; j < K; ++j) {
      total += counts[i][j];
      dat << (j ? " " : "") << counts[i][j];
    }
    dat << "\n";
    for (size_t j = 0; j < K; ++j) {
      double frac = total > 0 ? double(counts[i][j]) / double(total) : 0.0;
      block << j << " " << i << " " << num(frac) << " " << counts[i][j] << "\n";
    }
  }
  block << "EOD\n";
  write_dat(dir, name, dat.str());

  size_t longest = 0;
  std::string tics;
  for (size_t i = 0; i < K; ++i) {
    longest = std::max(longest, class_names[i].size());
    tics += (i ? ", " : "") + q(tic_label(class_names[i])) + " " + std::to_string(i);
  }
  const double half = double(K) - 0.5;
  std::ostringstream s;
  s << block.str() << "set xrange [-0.5:" << num(half) << "]\n"
    << "set yrange [" << num(half) << ":-0.5]\n"
    << "set xtics (" << tics << ") scale 0" << (longest > 6 ? " rotate by 30 right" : "") << "\n"
    << "set ytics (" << tics << ") scale 0\n"
    << "set xlabel 'predicted class'\nset ylabel 'true class'\n"
    << "set palette defined (0 '#f7fbff', 0.5 '#6baed6', 1 '#08306b')\n"
    << "set cbrange [0:1]\nset cblabel 'fraction of true class'\n"
    << "set size ratio 1\nunset key\n"
    << "plot $CM using 1:2:(0.5):(0.5):3 with boxxyerror fs solid 1.0 noborder lc palette, \\\n"
    << "  $CM using 1:2:($3 > 0.5 ? stringcolumn(4) : '') with labels tc rgb '#ffffff', \\\n"
    << "  $CM using 1:2:($3 > 0.5 ? '' : stringcolumn(4)) with labels tc rgb '#000000'\n";
  const int side = int(std::clamp<size_t>(250 + 70 * K, 600, 1600));
  return render(dir, name, s.str(), side + 120, side, why);
}

bool example_trajectories(const std::string& dir, const std::string& name,
                          const std::vector<std::vector<double>>& positions,
                          const std::vector<std::vector<int>>& true_state,
                          const std::vector<std::vector<int>>& predicted_state, std::string* why) {
  if (true_state.size() != positions.size())
    throw std::invalid_argument("plots::example_trajectories: " + std::to_string(positions.size()) +
                                " examples but " + std::to_string(true_state.size()) +
                                " true-state sequences");
  const bool has_pred = !predicted_state.empty();
  if (has_pred && predicted_state.size() != positions.size())
    throw std::invalid_argument("plots::example_trajectories: " + std::to_string(positions.size()) +
                                " examples but " + std::to_string(predicted_state.size()) +
                                " predicted-state sequences");
  const size_t N = std::min(positions.size(), kMaxTrajectoryPanels);

  std::ostringstream dat;
  dat << "# example trajectories: one block per example, separated by two blank lines\n"
      << "# example frame position true_state predicted_state\n";
  std::vector<size_t> lengths(N);
  std::set<int> states;
  for (size_t e = 0; e < N; ++e) {
    const auto& pos = positions[e];
    const auto& ts = true_state[e];
    static const std::vector<int> none;
    const auto& ps = has_pred ? predicted_state[e] : none;
    size_t len = std::max({pos.size(), ts.size(), ps.size(), size_t(1)});
    lengths[e] = len;
    if (e > 0) dat << "\n\n";
    for (size_t f = 0; f < len; ++f) {
      int t = f < ts.size() ? ts[f] : -1, p = f < ps.size() ? ps[f] : -1;
      if (t >= 0) states.insert(t);
      if (p >= 0) states.insert(p);
      dat << e << " " << f << " " << num(f < pos.size() ? pos[f] : NAN) << " " << (t >= 0 ? t : -1)
          << " " << (p >= 0 ? p : -1) << "\n";
    }
  }
  const std::string dat_path = write_dat(dir, name, dat.str());

  std::ostringstream s;
  s << "DAT = " << q(dat_path) << "\n";
  if (N == 0) {
    s << "unset border\nunset tics\nunset key\n"
      << "set label 1 'no examples' at graph 0.5, graph 0.5 center\n"
      << "plot [0:1][0:1] NaN notitle\n";
    return render(dir, name, s.str(), 1000, 300, why);
  }
  // The state bands as runs of equal state: "example band x0 x1 colour" (band 0 true, 1 predicted).
  s << "$SEG << EOD\n";
  for (size_t e = 0; e < N; ++e) {
    for (int band = 0; band < (has_pred ? 2 : 1); ++band) {
      const auto& st = band == 0 ? true_state[e] : predicted_state[e];
      size_t i = 0;
      while (i < st.size()) {
        size_t j = i + 1;
        while (j < st.size() && st[j] == st[i]) ++j;
        if (st[i] >= 0)
          s << e << " " << band << " " << i << " " << j << " "
            << kColors[size_t(st[i]) % kNumColors] << "\n";
        i = j;
      }
    }
  }
  s << "EOD\n"
    << "set lmargin at screen 0.09\nset rmargin at screen 0.84\n"
    << "set grid xtics\nset ylabel 'position'\n"
    << "set key outside right top\n"
    << "set multiplot layout " << N << ",1\n";
  for (size_t e = 0; e < N; ++e) {
    Range r;
    for (double v : positions[e]) r.add(v);
    r.settle(0.0, 1.0);
    const double span = r.hi - r.lo;
    const double hh = 0.075 * span;
    const double yt = r.lo - 0.2 * span, yp = r.lo - 0.38 * span;
    const double bottom = (has_pred ? yp : yt) - 0.1 * span;
    // Numeric tics only over the trajectory's own range, so they never collide with band names.
    double step = std::pow(10.0, std::floor(std::log10(span / 4)));
    for (double m : {2.0, 5.0, 10.0})
      if (span / step > 5) step = std::pow(10.0, std::floor(std::log10(span / 4))) * m;
    const double first = std::ceil(r.lo / step) * step;
    auto band = [&](int b, double y) {
      s << ", \\\n  $SEG using (($1 == " << e << " && $2 == " << b << ") ? ($3 + $4) / 2 : NaN):("
        << num(y) << "):3:4:(" << num(y - hh) << "):(" << num(y + hh)
        << "):5 with boxxyerror fs solid 1.0 noborder lc rgb variable notitle";
    };
    s << "set title " << q("example " + std::to_string(e)) << " offset 0,-0.6\n"
      << "set xrange [0:" << lengths[e] << "]\n"
      << "set yrange [" << num(bottom) << ":" << num(r.hi + 0.06 * span) << "]\n"
      << "unset ytics\nset ytics " << num(first) << ", " << num(step) << "\n"
      << "set ytics add ('true' " << num(yt);
    if (has_pred) s << ", 'predicted' " << num(yp);
    s << ")\n"
      << "set xlabel " << (e + 1 == N ? "'frame'" : "''") << "\n"
      << (e == 0 ? "set key on\n" : "set key off\n") << "plot DAT index " << e
      << " using 2:3 with lines lw 1.5 lc rgb '#000000' title 'position'";
    band(0, yt);
    if (has_pred) band(1, yp);
    if (e == 0)
      for (int st : states)
        s << ", \\\n  NaN with boxes fs solid 1.0 noborder lc rgb '" << color(size_t(st))
          << "' title " << q("state " + std::to_string(st));
    s << "\n";
  }
  s << "unset multiplot\n";
  return render(dir, name, s.str(), 1100, int(60 + 215 * N), why);
}

bool tracks_by_state(const std::string& dir, const std::string& name, const std::vector<StateTrack>& tracks,
                     const std::vector<std::string>& state_names, const std::string& xlabel,
                     const std::string& ylabel, const std::string& title, std::string* why) {
  for (const auto& t : tracks)
    if (t.x.size() != t.y.size() || (!t.x.empty() && t.state.size() + 1 != t.x.size()))
      throw std::invalid_argument("plots::tracks_by_state: a track needs one state per segment");
  std::ostringstream dat;
  dat << "# x-y tracks, one line per segment coloured by state\n# track x y x_next y_next state\n";
  Range rx, ry;
  size_t segments = 0;
  for (size_t i = 0; i < tracks.size(); ++i) {
    const auto& t = tracks[i];
    for (size_t s = 0; s + 1 < t.x.size(); ++s) {
      dat << i << " " << num(t.x[s]) << " " << num(t.y[s]) << " " << num(t.x[s + 1]) << " " << num(t.y[s + 1])
          << " " << t.state[s] << "\n";
      rx.add(t.x[s]), rx.add(t.x[s + 1]), ry.add(t.y[s]), ry.add(t.y[s + 1]);
      ++segments;
    }
  }
  const std::string dat_path = write_dat(dir, name, dat.str());
  rx.settle(0, 1), ry.settle(0, 1);
  std::ostringstream s;
  s << "DAT = " << q(dat_path) << "\nset title " << q(title) << "\nset xlabel " << q(xlabel) << "\nset ylabel "
    << q(ylabel) << "\nset size ratio -1\nset grid\nset key outside right top\n";
  if (segments == 0) {
    s << "set label 1 'no tracks' at graph 0.5, graph 0.5 center\nplot [0:1][0:1] NaN notitle\n";
  } else {
    s << "col(k) = k < 0 ? 0xaaaaaa : (";  // k is read as a float: int() before %
    for (size_t k = 0; k < kNumColors; ++k) s << "int(k) % " << kNumColors << " == " << k << " ? " << kColors[k] << " : ";
    s << "0)\nplot DAT using 2:3:($4-$2):($5-$3):(col($6)) with vectors nohead lw 1.2 lc rgb variable notitle";
    for (size_t k = 0; k < state_names.size(); ++k)
      s << ", \\\n  NaN with lines lw 3 lc rgb '" << color(k) << "' title " << q(state_names[k]);
    s << "\n";
  }
  return render(dir, name, s.str(), 1000, 800, why);
}

bool log_histogram(const std::string& dir, const std::string& name, const std::vector<double>& values, int bins,
                   const std::vector<Mark>& marks, const std::string& xlabel, const std::string& title,
                   std::string* why) {
  if (bins < 1) throw std::invalid_argument("plots::log_histogram: bins must be >= 1");
  Range r;
  for (double v : values)
    if (v > 0) r.add(std::log10(v));
  for (const auto& m : marks)
    if (m.x > 0) r.add(std::log10(m.x));
  r.settle(-1, 1);
  const double lo = r.lo - 0.02 * (r.hi - r.lo), hi = r.hi + 0.02 * (r.hi - r.lo), w = (hi - lo) / bins;
  std::vector<int64_t> count(size_t(bins), 0);
  int64_t skipped = 0;
  for (double v : values) {
    if (!(v > 0) || !std::isfinite(v)) {
      ++skipped;
      continue;
    }
    const auto b = std::clamp<int64_t>(int64_t(std::floor((std::log10(v) - lo) / w)), 0, bins - 1);
    ++count[size_t(b)];
  }
  std::ostringstream dat;
  dat << "# histogram of " << xlabel << " on log-spaced bins; " << skipped << " non-positive or non-finite skipped\n"
      << "# bin_lo bin_hi center count\n";
  for (int b = 0; b < bins; ++b)
    dat << num(std::pow(10, lo + w * b)) << " " << num(std::pow(10, lo + w * (b + 1))) << " "
        << num(std::pow(10, lo + w * (b + 0.5))) << " " << count[size_t(b)] << "\n";
  for (const auto& m : marks) dat << "# mark " << num(m.x) << " " << m.label << "\n";
  const std::string dat_path = write_dat(dir, name, dat.str());
  std::ostringstream s;
  s << "DAT = " << q(dat_path) << "\nset title " << q(title) << "\nset xlabel " << q(xlabel)
    << "\nset ylabel 'tracks'\nset logscale x\nset xrange [" << num(std::pow(10, lo)) << ":" << num(std::pow(10, hi))
    << "]\nset yrange [0:*]\nset grid\nset key top right box opaque\nset style fill solid 0.5 border\n";
  for (size_t k = 0; k < marks.size(); ++k)
    if (marks[k].x > 0 && std::isfinite(marks[k].x))
      s << "set arrow " << k + 1 << " from " << num(marks[k].x) << ", graph 0 to " << num(marks[k].x)
        << ", graph 1 nohead lw 2 dt 2 lc rgb '" << color(k + 1) << "'\n";
  s << "plot DAT using 3:4:($2-$1) with boxes lc rgb '#1f77b4' title 'tracks'";
  for (size_t k = 0; k < marks.size(); ++k)
    s << ", \\\n  NaN with lines lw 2 dt 2 lc rgb '" << color(k + 1) << "' title " << q(marks[k].label + " " + short_num(marks[k].x));
  s << "\n";
  return render(dir, name, s.str(), 900, 600, why);
}

bool dwell_times(const std::string& dir, const std::string& name, const std::vector<std::vector<double>>& dwell,
                 const std::vector<double>& rate, const std::vector<std::string>& state_names,
                 const std::string& xlabel, const std::string& title, std::string* why) {
  if (dwell.size() != rate.size() || dwell.size() != state_names.size())
    throw std::invalid_argument("plots::dwell_times: one dwell list, rate and name per state");
  const int bins = 20;
  std::ostringstream dat, plot;
  Range dens;  // log10 of the positive densities: the y range
  dat << "# dwell-time densities per state, one block per state\n# bin_lo bin_hi center density count\n";
  bool any = false;
  for (size_t k = 0; k < dwell.size(); ++k) {
    double top = 0;
    for (double v : dwell[k])
      if (std::isfinite(v)) top = std::max(top, v);
    const double w = top > 0 ? top / bins : 1;
    std::vector<int64_t> c(bins, 0);
    int64_t n = 0;
    for (double v : dwell[k])
      if (std::isfinite(v) && v >= 0) ++c[size_t(std::clamp<int64_t>(int64_t(v / w), 0, bins - 1))], ++n;
    if (k > 0) dat << "\n\n";
    dat << "# state " << k << ": " << n << " dwells, fitted exit rate " << num(rate[k]) << "\n";
    for (int b = 0; b < bins; ++b) {
      const double dv = n > 0 ? double(c[size_t(b)]) / (double(n) * w) : 0.0;
      if (dv > 0) dens.add(std::log10(dv));
      dat << num(w * b) << " " << num(w * (b + 1)) << " " << num(w * (b + 0.5)) << " " << num(dv) << " "
          << c[size_t(b)] << "\n";
    }
    any = any || n > 0;
    plot << (k ? ", \\\n  " : "plot ") << "DAT index " << k << " using 3:($4 > 0 ? $4 : NaN) with histeps lw 2 lc rgb '" << color(k)
         << "' title " << q(state_names[k] + ", " + std::to_string(n) + " dwells");
    if (std::isfinite(rate[k]) && rate[k] > 0)
      plot << ", \\\n  " << num(rate[k]) << " * exp(-" << num(rate[k]) << " * x) with lines lw 2 dt 2 lc rgb '"
           << color(k) << "' title " << q("fitted exponential, rate " + short_num(rate[k]));
  }
  const std::string dat_path = write_dat(dir, name, dat.str());
  std::ostringstream s;
  s << "DAT = " << q(dat_path) << "\nset title " << q(title) << "\nset xlabel " << q(xlabel)
    << "\nset ylabel 'density (log scale)'\nset logscale y\nset grid\nset key top right box opaque\nset xrange [0:*]\n";
  dens.settle(0, 1);
  s << "set yrange [" << num(std::pow(10, dens.lo - 1)) << ":" << num(std::pow(10, dens.hi + 1)) << "]\n";
  if (!any || dwell.empty())
    s << "unset logscale y\nset label 1 'no complete dwells (no switches inside tracks)' at graph 0.5, graph 0.5 center\n"
      << "plot [0:1][0:1] NaN notitle\n";
  else
    s << plot.str() << "\n";
  return render(dir, name, s.str(), 900, 600, why);
}

bool loglog_curves(const std::string& dir, const std::string& name, const std::vector<Series>& thin,
                   const std::vector<Series>& bold, const std::string& xlabel, const std::string& ylabel,
                   const std::string& title, std::string* why) {
  std::ostringstream dat, plot;
  dat << "# " << ylabel << " against " << xlabel << ": one block per curve (" << thin.size() << " thin, then "
      << bold.size() << " bold)\n";
  int block = 0;
  bool any = false;
  auto add = [&](const Series& c, bool is_bold, size_t k) {
    if (c.x.size() != c.y.size())
      throw std::invalid_argument("plots::loglog_curves: series '" + c.label + "' has mismatched x and y");
    if (block > 0) dat << "\n\n";
    dat << "# " << c.label << "\n";
    for (size_t i = 0; i < c.x.size(); ++i) {
      dat << num(c.x[i]) << " " << num(c.y[i]) << "\n";
      any = any || (c.x[i] > 0 && c.y[i] > 0 && std::isfinite(c.x[i]) && std::isfinite(c.y[i]));
    }
    if (c.x.empty()) dat << "NaN NaN\n";
    if (is_bold || k < 200)
      plot << (plot.tellp() > 0 ? ", \\\n  " : "plot ") << "DAT index " << block
           << " using ($1 > 0 ? $1 : NaN):($2 > 0 ? $2 : NaN) with linespoints "
           << (is_bold ? "lw 3 pt 7 ps 0.8 lc rgb '" + color(k) + "' title " + q(c.label)
                       : std::string("lw 1 pt 7 ps 0.3 lc rgb '#c0c0c0' notitle"));
    ++block;
  };
  for (size_t k = 0; k < thin.size(); ++k) add(thin[k], false, k);
  for (size_t k = 0; k < bold.size(); ++k) add(bold[k], true, k);
  const std::string dat_path = write_dat(dir, name, dat.str());
  std::ostringstream s;
  s << "DAT = " << q(dat_path) << "\nset title " << q(title) << "\nset xlabel " << q(xlabel) << "\nset ylabel "
    << q(ylabel) << "\nset logscale xy\nset grid\nset key top left box opaque\n";
  if (!any)
    s << "set label 1 'no data' at graph 0.5, graph 0.5 center\nplot [1:10][1:10] NaN notitle\n";
  else
    s << plot.str() << "\n";
  return render(dir, name, s.str(), 900, 600, why);
}

}  // namespace sptrain::plots
