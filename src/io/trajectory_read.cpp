// read_trajectories: NPY (+ labels NPZ) written by `sptrain simulate`, tables of tracks with a
// header (sptrain's CSV, trackpy, Spot-On, AnDi 2024, TrackMate spots with its unit rows), comma,
// tab or whitespace separated, and AnDi 2020 challenge files; TrackMate XML is in trackmate_xml.cpp.
// The units, min_length and frame-interval steps every format shares are at the end of this file.
#include "sptrain/trajectory_read.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include "io/trajectory_read_impl.hpp"
#include "sptrain/error.hpp"
#include "sptrain/trajectory_io.hpp"

namespace sptrain {

namespace read_detail {

std::string plural(int64_t n, const char* word) { return std::to_string(n) + " " + word + (n == 1 ? "" : "s"); }

std::string fmt_num(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string fmt_g(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace read_detail

using read_detail::fmt_num;
using read_detail::plural;
using read_detail::position32;
using read_detail::LengthUnit;
using read_detail::Scale;

bool TrajectorySet::has(const std::string& label) const {
  if (label == "sigma") return !sigma.empty();
  if (label == "n_switches") return !n_switches.empty();
  if (label == "has_switch") return !has_switch.empty();
  if (label == "step_state") return !step_state.empty();
  if (label == "switch_times") return !switch_times.empty();
  return false;
}

namespace {

namespace fs = std::filesystem;

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = char(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

bool ends_with_ci(const std::string& path, const std::string& ext) {
  return path.size() >= ext.size() && lower(std::string_view(path).substr(path.size() - ext.size())) == ext;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + (s.size() == 1 ? ",)" : ")");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw UsageError(path + ": read error");
  return std::move(ss).str();
}

// ---- NPY ----------------------------------------------------------------------------------------

double elem(const io::Array& a, int64_t i) {
  switch (a.dtype) {
    case io::DType::F32: return a.as<float>()[i];
    case io::DType::F64: return a.as<double>()[i];
    case io::DType::I32: return a.as<int32_t>()[i];
    case io::DType::I64: return double(a.as<int64_t>()[i]);
    case io::DType::U8: return a.as<uint8_t>()[i];
    case io::DType::I8: return a.as<int8_t>()[i];
  }
  return 0;
}

bool is_float(io::DType t) { return t == io::DType::F32 || t == io::DType::F64; }

// Element i of an integer array, exact for int64 (no detour through double).
int64_t ielem(const io::Array& a, int64_t i) {
  switch (a.dtype) {
    case io::DType::I32: return a.as<int32_t>()[i];
    case io::DType::I64: return a.as<int64_t>()[i];
    case io::DType::U8: return a.as<uint8_t>()[i];
    case io::DType::I8: return a.as<int8_t>()[i];
    default: return 0;  // float arrays are refused before
  }
}

// A sigma label: finite and positive (metrics divide by it).
float sigma_label(double v, const Scale& scale, const std::string& where) {
  const float f = float(v * scale.factor);
  if (!(v > 0) || !std::isfinite(f))
    throw UsageError(where + ": sigma label " + fmt_num(v) + " is not a finite positive number");
  return f;
}

// Positions from an NPY image; labels from the NPZ beside `path` when with_labels and it exists.
TrajectorySet read_npy_set(std::string_view bytes, const std::string& path, const ReadOptions& opts,
                           bool with_labels) {
  io::Array a = io::parse_npy(bytes.data(), bytes.size(), path);
  if (!is_float(a.dtype))
    throw UsageError(path + ": positions must be float32 or float64, not " + io::dtype_descr(a.dtype));
  if (a.shape.size() != 2 && a.shape.size() != 3)
    throw UsageError(path + ": positions have shape " + shape_str(a.shape) +
                     "; expected (N, L) or (N, L, D): one row per trajectory, all of equal length");
  const int64_t N = a.shape[0], L = a.shape[1], D = a.shape.size() == 3 ? a.shape[2] : 1;
  if (D < 1 || D > 3) throw UsageError(path + ": positions have shape " + shape_str(a.shape) + "; D must be 1, 2 or 3");
  if (N == 0 || L == 0) throw UsageError(path + ": no trajectories (shape " + shape_str(a.shape) + ")");
  if (L < opts.min_length && !opts.drop_short)
    throw UsageError(path + ": trajectories have " + plural(L, "position") + ", fewer than " +
                     std::to_string(opts.min_length));

  TrajectorySet t;
  t.source = path;
  const Scale scale = read_detail::position_scale(opts, nullptr, path, t.space_unit);
  t.dims = int(D);
  t.positions.resize(size_t(N));
  t.frames.resize(size_t(N));
  t.ids.resize(size_t(N));
  for (int64_t r = 0; r < N; ++r) {
    auto& p = t.positions[size_t(r)];
    p.resize(size_t(L * D));
    for (int64_t k = 0; k < L * D; ++k)
      p[size_t(k)] = position32(elem(a, r * L * D + k), scale,
                                path + ": trajectory " + std::to_string(r) + ", position " + std::to_string(k / D));
    auto& f = t.frames[size_t(r)];
    f.resize(size_t(L));
    for (int64_t j = 0; j < L; ++j) f[size_t(j)] = j;
    t.ids[size_t(r)] = r;
  }
  a = io::Array{};

  const std::string lp = labels_path_for(path);
  std::error_code ec;
  if (!with_labels || !fs::is_regular_file(lp, ec)) return t;
  auto labels = io::read_npz(lp, {"index", "sigma", "n_switches", "has_switch", "step_state", "switch_times"});
  auto check = [&](const std::string& name, const io::Array& x, size_t ndim, bool integral) {
    if (x.shape.size() != ndim)
      throw UsageError(lp + ": '" + name + "' has shape " + shape_str(x.shape) + ", expected " +
                       (ndim == 1 ? "(N,)" : "(N, columns)") + " with N = " + std::to_string(N));
    if (x.shape[0] != N)
      throw UsageError(lp + ": '" + name + "' has " + plural(x.shape[0], "row") + ", but " + path + " has " +
                       std::to_string(N) + (N == 1 ? " trajectory" : " trajectories"));
    if (integral && is_float(x.dtype))
      throw UsageError(lp + ": '" + name + "' must be an integer array, not " + io::dtype_descr(x.dtype));
  };
  // Each label array: its shape against the positions, its dtype, every value in range.
  auto at = [&](const std::string& name, int64_t r) {
    return lp + ": '" + name + "', trajectory " + std::to_string(r) + " (id " + std::to_string(t.ids[size_t(r)]) + ")";
  };
  auto ranged = [&](const std::string& name, const io::Array& x, int64_t i, int64_t r, int64_t lo, int64_t hi) {
    const int64_t v = ielem(x, i);
    if (v < lo || v > hi)
      throw UsageError(at(name, r) + ": " + std::to_string(v) + " is outside [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "]");
    return v;
  };
  if (auto it = labels.find("index"); it != labels.end()) {
    check("index", it->second, 1, true);
    for (int64_t r = 0; r < N; ++r) t.ids[size_t(r)] = ielem(it->second, r);
  }
  if (auto it = labels.find("sigma"); it != labels.end()) {
    check("sigma", it->second, 1, false);
    if (!is_float(it->second.dtype))
      throw UsageError(lp + ": 'sigma' must be float32 or float64, not " + io::dtype_descr(it->second.dtype));
    t.sigma.resize(size_t(N));
    for (int64_t r = 0; r < N; ++r) t.sigma[size_t(r)] = sigma_label(elem(it->second, r), scale, at("sigma", r));
  }
  if (auto it = labels.find("n_switches"); it != labels.end()) {
    check("n_switches", it->second, 1, true);
    t.n_switches.resize(size_t(N));
    for (int64_t r = 0; r < N; ++r)
      t.n_switches[size_t(r)] = int32_t(ranged("n_switches", it->second, r, r, 0, INT32_MAX));
  }
  if (auto it = labels.find("has_switch"); it != labels.end()) {
    check("has_switch", it->second, 1, true);
    t.has_switch.resize(size_t(N));
    for (int64_t r = 0; r < N; ++r) {
      t.has_switch[size_t(r)] = uint8_t(ranged("has_switch", it->second, r, r, 0, 1));
      if (!t.n_switches.empty() && t.has_switch[size_t(r)] != (t.n_switches[size_t(r)] > 0))
        throw UsageError(at("has_switch", r) + ": " + std::to_string(t.has_switch[size_t(r)]) + " but n_switches is " +
                         std::to_string(t.n_switches[size_t(r)]));
    }
  }
  if (auto it = labels.find("step_state"); it != labels.end()) {
    const io::Array& x = it->second;
    check("step_state", x, 2, true);
    if (x.shape[1] != L - 1)
      throw UsageError(lp + ": 'step_state' has " + plural(x.shape[1], "step") + " per trajectory, but " + path +
                       " has " + plural(L, "position") + " per trajectory (" + plural(L - 1, "step") + ")");
    t.step_state.resize(size_t(N));
    for (int64_t r = 0; r < N; ++r) {
      auto& s = t.step_state[size_t(r)];
      s.resize(size_t(L - 1));
      for (int64_t j = 0; j < L - 1; ++j) s[size_t(j)] = int(ranged("step_state", x, r * (L - 1) + j, r, 0, 255));
    }
  }
  if (auto it = labels.find("switch_times"); it != labels.end()) {
    const io::Array& x = it->second;
    check("switch_times", x, 2, false);
    const int64_t C = x.shape[1];
    t.switch_times.resize(size_t(N));
    for (int64_t r = 0; r < N; ++r)
      for (int64_t c = 0; c < C; ++c) {
        const double v = elem(x, r * C + c);
        if (std::isnan(v)) continue;  // padding after the last switch
        if (!(v >= 0 && v <= double(L - 1)))
          throw UsageError(at("switch_times", r) + ": " + fmt_num(v) + " is not a time in [0, " +
                           std::to_string(L - 1) + "] steps (NaN pads)");
        t.switch_times[size_t(r)].push_back(float(v));
      }
  }
  return t;
}

// ---- tables -------------------------------------------------------------------------------------

enum class Sep { Comma, Tab, Space };

std::string_view trim(std::string_view s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string_view::npos) return {};
  return s.substr(a, s.find_last_not_of(" \t\r\n") - a + 1);
}

// Splits one line. Comma and tab: fields may be double-quoted ("" is a literal quote); surrounding
// blanks are trimmed. Whitespace: runs of blanks separate fields.
void split(std::string_view line, Sep sep, std::vector<std::string>& out) {
  out.clear();
  if (sep == Sep::Space) {
    size_t p = 0;
    while (true) {
      p = line.find_first_not_of(" \t", p);
      if (p == std::string_view::npos) break;
      size_t q = line.find_first_of(" \t", p);
      if (q == std::string_view::npos) q = line.size();
      out.emplace_back(line.substr(p, q - p));
      p = q;
    }
    return;
  }
  const char d = sep == Sep::Comma ? ',' : '\t';
  std::string cur;
  bool quoted = false, was_quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c == '"' && trim(cur).empty()) {
      cur.clear();
      quoted = was_quoted = true;
    } else if (c == d) {
      out.emplace_back(was_quoted ? cur : std::string(trim(cur)));
      cur.clear();
      was_quoted = false;
    } else if (!was_quoted || (c != ' ' && c != '\t')) {
      cur += c;
    }
  }
  out.emplace_back(was_quoted ? cur : std::string(trim(cur)));
}

bool parse_double(std::string_view s, double& v) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

struct Column {
  Column(const char* r, std::vector<std::string> a, const char* s) : role(r), aliases(std::move(a)), shown(s) {}
  const char* role;
  std::vector<std::string> aliases;  // lower case
  const char* shown;                 // the names listed when the column is missing
  int index = -1;
  std::string name;  // as in the header
};

struct Row {
  int64_t id, frame, line;
  float pos[3];
  double time;  // the time column's value (NaN without one)
  float sigma;
  int32_t n_switches;
  int32_t state;  // -1: empty
  uint8_t has_switch;
};

class TableReader {
 public:
  TableReader(const std::string& path, const ReadOptions& opts) : path_(path), opts_(opts) {}

  // The table's tracks; `file_interval` is the frame interval its time column gives (0: none).
  TrajectorySet read(std::string_view text, double& file_interval, std::string& interval_origin) {
    if (trim(text).empty()) throw UsageError(path_ + ": empty file");
    if (text.find('\0') != std::string::npos)
      throw UsageError(path_ + ": not a text table (binary content) nor an NPY file");

    std::vector<std::string> fields;
    size_t pos = 0;
    int64_t line_no = 0;
    bool have_header = false, seen_data = false;
    int skipped = 0;
    size_t ncols = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      std::string_view line = text.substr(pos, end - pos);
      pos = end + 1;
      ++line_no;
      if (line_no == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (trim(line).empty()) continue;
      if (!have_header) {
        if (trim(line)[0] == '#') continue;
        header(line, line_no);
        ncols = header_.size();
        have_header = true;
        continue;
      }
      split(line, sep_, fields);
      // TrackMate writes up to three rows of descriptions and units after the header.
      if (!seen_data && skipped < 3) {
        double v;
        if (size_t(frame_.index) >= fields.size() || !parse_double(fields[size_t(frame_.index)], v)) {
          ++skipped;
          unit_row(fields, line_no);
          continue;
        }
      }
      if (!seen_data)
        scale_ = read_detail::position_scale(opts_, have_length_unit_ ? &length_unit_ : nullptr, path_, space_unit_);
      seen_data = true;
      if (fields.size() != ncols)
        throw UsageError(at(line_no) + plural(int64_t(fields.size()), "field") + ", but the header has " +
                         plural(int64_t(ncols), "column"));
      row(fields, line_no);
    }
    if (rows_.empty()) throw UsageError(path_ + ": no data rows after the header");
    TrajectorySet t = group();
    file_interval = interval_;
    interval_origin = interval_origin_;
    return t;
  }

 private:
  std::string at(int64_t line) const { return path_ + ":" + std::to_string(line) + ": "; }
  static std::string col(const Column& c) { return io::quote_untrusted(c.name); }

  // A row between the header and the data: TrackMate's third holds units in parentheses, e.g.
  // "(micron)" under POSITION_X and "(sec)" under POSITION_T. A unit sptrain does not know is an
  // error (guessing would give wrong D values); rows of names are passed over.
  void unit_row(const std::vector<std::string>& f, int64_t line) {
    auto unit_at = [&](const Column& c, std::string& u) {
      if (c.index < 0 || size_t(c.index) >= f.size()) return false;
      std::string_view v = trim(f[size_t(c.index)]);
      if (v.size() < 2 || v.front() != '(' || v.back() != ')') return false;
      u = std::string(v);
      return true;
    };
    std::string u;
    if (unit_at(x_, u)) {
      if (!read_detail::parse_length_unit(u, length_unit_))
        throw UsageError(at(line) + "column '" + col(x_) + "': unit '" + io::quote_untrusted(u) +
                         "' is not a length unit sptrain reads (micron, um, nm, mm, pixel)");
      have_length_unit_ = true;
    }
    if (unit_at(t_, u)) {
      if (!read_detail::parse_time_unit(u, time_to_s_))
        throw UsageError(at(line) + "column '" + col(t_) + "': unit '" + io::quote_untrusted(u) +
                         "' is not a time unit sptrain reads (sec, ms, min, frame)");
      have_time_unit_ = true;
    }
  }

  void header(std::string_view line, int64_t line_no) {
    sep_ = line.find(',') != std::string_view::npos    ? Sep::Comma
           : line.find('\t') != std::string_view::npos ? Sep::Tab
                                                       : Sep::Space;
    split(line, sep_, header_);
    bool numeric = true;
    for (const auto& h : header_) {
      double v;
      numeric = numeric && parse_double(h, v);
    }
    if (numeric) throw UsageError(path_ + ": " + linking_hint("a table without a header"));
    // A column named twice would make it a guess which one holds the values.
    for (size_t i = 0; i < header_.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if (!header_[i].empty() && lower(header_[i]) == lower(header_[j]))
          throw UsageError(at(line_no) + "column '" + io::quote_untrusted(header_[i]) + "' appears twice (columns " +
                           std::to_string(j + 1) + " and " + std::to_string(i + 1) + ")");
    for (Column* c : {&id_, &frame_, &x_, &y_, &z_, &t_, &sigma_, &nsw_, &hsw_, &state_})
      for (const auto& alias : c->aliases) {
        for (size_t i = 0; i < header_.size() && c->index < 0; ++i)
          if (lower(header_[i]) == alias) {
            c->index = int(i);
            c->name = header_[i];
          }
        if (c->index >= 0) break;
      }
    auto missing = [&](const Column& c) {
      return UsageError(path_ + ": no column for " + c.role + " (expected one of " + c.shown + ")");
    };
    if (x_.index < 0) throw missing(x_);
    if (frame_.index < 0) throw missing(frame_);
    if (z_.index >= 0 && y_.index < 0) throw missing(y_);
    if (id_.index < 0)
      throw UsageError(path_ + ": no column for " + id_.role + " (expected one of " + id_.shown + "): " +
                       linking_hint("this table"));
    dims_ = 1 + (y_.index >= 0) + (z_.index >= 0);
  }

  static std::string linking_hint(const std::string& what) {
    return what + " has no track ids: link localizations into trajectories first (e.g. trackpy.link), "
                  "then save them with columns particle, frame, x, y";
  }

  double number(const std::vector<std::string>& f, const Column& c, int64_t line) const {
    const std::string& s = f[size_t(c.index)];
    if (s.empty()) throw UsageError(at(line) + "column '" + col(c) + "' is empty");
    double v;
    if (!parse_double(s, v))
      throw UsageError(at(line) + "column '" + col(c) + "': '" + io::quote_untrusted(s) + "' is not a number");
    if (!std::isfinite(v))
      throw UsageError(at(line) + "column '" + col(c) + "': '" + io::quote_untrusted(s) + "' is not a finite number");
    return v;
  }

  int64_t integer(const std::vector<std::string>& f, const Column& c, int64_t line) const {
    const std::string& s = f[size_t(c.index)];
    const std::string l = lower(s);
    if (&c == &hsw_ && (l == "true" || l == "false")) return l == "true";
    const double v = number(f, c, line);
    if (v != std::floor(v) || std::fabs(v) > 9.0e15)
      throw UsageError(at(line) + "column '" + col(c) + "': '" + io::quote_untrusted(s) + "' is not an integer");
    return int64_t(v);
  }

  void row(const std::vector<std::string>& f, int64_t line) {
    const std::string& ids = f[size_t(id_.index)];
    if (ids.empty() || ids == "None") return;  // a spot that belongs to no track
    Row r{};
    r.line = line;
    r.id = integer(f, id_, line);
    r.frame = integer(f, frame_, line);
    const Column* axes[3] = {&x_, &y_, &z_};
    for (int d = 0; d < dims_; ++d)
      r.pos[d] = position32(number(f, *axes[d], line), scale_, at(line) + "column '" + col(*axes[d]) + "'");
    r.time = t_.index >= 0 ? number(f, t_, line) : std::nan("");
    if (sigma_.index >= 0)
      r.sigma = sigma_label(number(f, sigma_, line), scale_, at(line) + "column '" + col(sigma_) + "'");
    if (nsw_.index >= 0) {
      const int64_t n = integer(f, nsw_, line);  // checked before narrowing to int32
      if (n < 0 || n > INT32_MAX)
        throw UsageError(at(line) + "column '" + col(nsw_) + "': '" + io::quote_untrusted(f[size_t(nsw_.index)]) +
                         "' is not a switch count (0.." + std::to_string(INT32_MAX) + ")");
      r.n_switches = int32_t(n);
    }
    if (hsw_.index >= 0) {
      const int64_t h = integer(f, hsw_, line);
      if (h != 0 && h != 1)
        throw UsageError(at(line) + "column '" + col(hsw_) + "': '" + io::quote_untrusted(f[size_t(hsw_.index)]) +
                         "' is not 0 or 1");
      r.has_switch = uint8_t(h);
      if (nsw_.index >= 0 && r.has_switch != (r.n_switches > 0))
        throw UsageError(at(line) + "column '" + col(hsw_) + "' is " + std::to_string(h) + " but n_switches is " +
                         std::to_string(r.n_switches));
    }
    r.state = -1;
    if (state_.index >= 0 && !f[size_t(state_.index)].empty()) {
      const int64_t s = integer(f, state_, line);
      if (s < 0 || s > 255)
        throw UsageError(at(line) + "column '" + col(state_) + "': '" + io::quote_untrusted(f[size_t(state_.index)]) +
                         "' is not a state index (0..255)");
      r.state = int32_t(s);
    }
    rows_.push_back(r);
  }

  TrajectorySet group() {
    std::sort(rows_.begin(), rows_.end(), [](const Row& a, const Row& b) {
      if (a.id != b.id) return a.id < b.id;
      if (a.frame != b.frame) return a.frame < b.frame;
      return a.line < b.line;
    });
    TrajectorySet t;
    t.source = path_;
    t.space_unit = space_unit_;
    // A z column with one value in every row (TrackMate writes POSITION_Z = 0 for 2-D images) is
    // no third dimension: read as 3-D, every step would look sqrt(2/3) as long per axis on average.
    if (dims_ == 3) {
      bool constant = true;
      for (const Row& r : rows_) constant = constant && r.pos[2] == rows_[0].pos[2];
      if (constant) {
        dims_ = 2;
        t.warnings.push_back(col(z_) + " is " + fmt_num(rows_[0].pos[2]) + " everywhere: read as 2-D");
      }
    }
    t.dims = dims_;
    // The time column gives the frame interval: time steps over frame steps along each track.
    std::vector<double> ratios;
    double to_s = time_to_s_;
    if (t_.index >= 0 && !have_time_unit_) {
      to_s = 1;
      t.warnings.push_back("column '" + col(t_) + "' states no unit: its times are taken as seconds");
    }
    const bool has_sigma = sigma_.index >= 0, has_nsw = nsw_.index >= 0, has_hsw = hsw_.index >= 0,
               has_state = state_.index >= 0;
    for (size_t b = 0; b < rows_.size();) {
      size_t e = b;
      while (e < rows_.size() && rows_[e].id == rows_[b].id) ++e;
      const int64_t id = rows_[b].id, n = int64_t(e - b);
      int64_t first_line = rows_[b].line;
      for (size_t k = b; k < e; ++k) first_line = std::min(first_line, rows_[k].line);
      const std::string track = "track " + std::to_string(id);
      for (size_t k = b + 1; k < e; ++k) {
        const Row &p = rows_[k - 1], &r = rows_[k];
        if (r.frame == p.frame)
          throw UsageError(at(r.line) + track + " has frame " + std::to_string(r.frame) + " twice (also line " +
                           std::to_string(p.line) + ")");
        if (r.frame != p.frame + 1 && !opts_.allow_gaps)
          throw UsageError(at(r.line) + track + " skips from frame " + std::to_string(p.frame) + " to " +
                           std::to_string(r.frame));
        if (has_sigma && r.sigma != p.sigma)
          throw UsageError(at(r.line) + "column '" + col(sigma_) + "': " + track + " has " + fmt_num(r.sigma) +
                           " here but " + fmt_num(p.sigma) + " on line " + std::to_string(p.line));
        if (has_nsw && r.n_switches != p.n_switches)
          throw UsageError(at(r.line) + "column '" + col(nsw_) + "': " + track + " has " +
                           std::to_string(r.n_switches) + " here but " + std::to_string(p.n_switches) +
                           " on line " + std::to_string(p.line));
        if (has_hsw && r.has_switch != p.has_switch)
          throw UsageError(at(r.line) + "column '" + col(hsw_) + "': " + track + " has " +
                           std::to_string(r.has_switch) + " here but " + std::to_string(p.has_switch) +
                           " on line " + std::to_string(p.line));
      }
      t.ids.push_back(id);
      t.first_line.push_back(first_line);
      std::vector<float> pos(size_t(n * dims_));
      std::vector<int64_t> frames(static_cast<size_t>(n));
      for (size_t k = b; k < e; ++k) {
        frames[k - b] = rows_[k].frame;
        for (int d = 0; d < dims_; ++d) pos[(k - b) * size_t(dims_) + size_t(d)] = rows_[k].pos[d];
      }
      if (t_.index >= 0 && to_s > 0)
        for (size_t k = b + 1; k < e; ++k)
          ratios.push_back((rows_[k].time - rows_[k - 1].time) * to_s / double(rows_[k].frame - rows_[k - 1].frame));
      t.positions.push_back(std::move(pos));
      t.frames.push_back(std::move(frames));
      if (has_sigma) t.sigma.push_back(rows_[b].sigma);
      if (has_nsw) t.n_switches.push_back(rows_[b].n_switches);
      if (has_hsw) t.has_switch.push_back(rows_[b].has_switch);
      if (has_state) {
        std::vector<int> st;
        st.reserve(size_t(n > 0 ? n - 1 : 0));
        for (size_t k = b; k + 1 < e; ++k) {
          if (rows_[k].state < 0)
            throw UsageError(at(rows_[k].line) + "column '" + col(state_) + "' is empty, but only the last frame of " +
                             track + " may lack a state");
          st.push_back(rows_[k].state);
        }
        t.step_state.push_back(std::move(st));
      }
      b = e;
    }
    rows_.clear();
    rows_.shrink_to_fit();
    if (t_.index >= 0 && to_s > 0) {
      interval_ = read_detail::interval_from_times(ratios, path_, "column '" + col(t_) + "'", t);
      interval_origin_ = "its column '" + col(t_) + "'";
    }
    return t;
  }

  std::string path_;
  ReadOptions opts_;
  Sep sep_ = Sep::Comma;
  std::vector<std::string> header_;
  int dims_ = 1;
  Column id_{"track id", {"particle", "track_id", "trajectory", "traj_idx", "track"},
             "particle, TRACK_ID, trajectory, traj_idx"};
  Column frame_{"frame", {"frame"}, "frame, FRAME"};
  Column x_{"x", {"x", "position_x"}, "x, POSITION_X"};
  Column y_{"y", {"y", "position_y"}, "y, POSITION_Y"};
  Column z_{"z", {"z", "position_z"}, "z, POSITION_Z"};
  Column t_{"time", {"position_t", "t"}, "POSITION_T, t"};
  Column sigma_{"sigma", {"sigma"}, "sigma"};
  Column nsw_{"n_switches", {"n_switches"}, "n_switches"};
  Column hsw_{"has_switch", {"has_switch"}, "has_switch"};
  Column state_{"state", {"state"}, "state"};
  std::vector<Row> rows_;
  LengthUnit length_unit_;
  bool have_length_unit_ = false, have_time_unit_ = false;
  double time_to_s_ = 0;
  Scale scale_;
  std::string space_unit_ = "px";
  double interval_ = 0;
  std::string interval_origin_;
};

}  // namespace

// ---- AnDi 2020 challenge files -----------------------------------------------------------------

// The first line that is not blank, without a UTF-8 byte-order mark and '\r'.
std::string_view first_line_of(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view l = trim(text.substr(pos, end - pos));
    if (!l.empty()) return l;
    pos = end + 1;
  }
  return {};
}

// The dimension field of an AnDi 2020 line: 1, 2 or 3, written as an integer or as 2.0; else 0.
int andi_dimension(std::string_view field) {
  double v;
  if (!parse_double(trim(field), v)) return 0;
  return (v == 1 || v == 2 || v == 3) ? int(v) : 0;
}

// An AnDi 2020 file: no header, ';' separators, each line `dim;x_0;...;x_{L-1}[;y_0;...]`.
bool looks_like_andi2020(std::string_view text) {
  const std::string_view l = first_line_of(text);
  const size_t semi = l.find(';');
  return semi != std::string_view::npos && andi_dimension(l.substr(0, semi)) > 0;
}

// One trajectory per line: id = the line's index (0 for the first line), frames 0..L-1, positions
// the L values of each axis in turn.
TrajectorySet read_andi2020(std::string_view text, const std::string& path, const ReadOptions& opts) {
  if (text.find('\0') != std::string::npos) throw UsageError(path + ": not a text file (binary content)");
  TrajectorySet t;
  t.source = path;
  const Scale scale = read_detail::position_scale(opts, nullptr, path, t.space_unit);
  size_t pos = 0;
  int64_t line_no = 0;
  int dims = 0;
  int64_t dims_line = 0;
  std::vector<double> values;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") {
    text.remove_prefix(3);
  }
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (trim(line).empty()) continue;
    auto where = [&](size_t col) {
      return path + ":" + std::to_string(line_no) + ":" + std::to_string(col + 1) + ": ";
    };
    // Fields with the column each starts at.
    values.clear();
    size_t start = 0, field = 0;
    int d = 0;
    while (start <= line.size()) {
      size_t semi = line.find(';', start);
      const bool last = semi == std::string_view::npos;
      if (last) semi = line.size();
      const std::string_view f = trim(line.substr(start, semi - start));
      if (field == 0) {
        d = andi_dimension(f);
        if (d == 0)
          throw UsageError(where(start) + "'" + io::quote_untrusted(std::string(f)) +
                           "' is not a dimension (1, 2 or 3): an AnDi 2020 line is dim;x_0;...;x_(L-1)[;y_0;...]");
      } else if (!(last && f.empty() && field > 1)) {  // one trailing ';' is tolerated
        double v;
        if (!parse_double(f, v))
          throw UsageError(where(start) + "field " + std::to_string(field + 1) + ": '" +
                           io::quote_untrusted(std::string(f)) + "' is not a number");
        if (!std::isfinite(v))
          throw UsageError(where(start) + "field " + std::to_string(field + 1) + ": '" +
                           io::quote_untrusted(std::string(f)) + "' is not a finite number");
        values.push_back(v);
      }
      ++field;
      if (last) break;
      start = semi + 1;
    }
    if (dims == 0) {
      dims = d;
      dims_line = line_no;
    } else if (d != dims) {
      throw UsageError(where(0) + "dimension " + std::to_string(d) + ", but line " + std::to_string(dims_line) +
                       " has " + std::to_string(dims) + " (one dimension per file)");
    }
    if (values.empty() || values.size() % size_t(d) != 0)
      throw UsageError(where(0) + plural(int64_t(values.size()), "coordinate") + " for dimension " +
                       std::to_string(d) + ": not " + std::to_string(d) + " axes of equal length");
    const size_t L = values.size() / size_t(d);
    std::vector<float> p(L * size_t(d));
    for (size_t j = 0; j < L; ++j)
      for (size_t a = 0; a < size_t(d); ++a)
        p[j * size_t(d) + a] = position32(values[a * L + j], scale,
                                          where(0) + "axis " + std::to_string(a) + ", position " + std::to_string(j));
    std::vector<int64_t> frames(L);
    for (size_t j = 0; j < L; ++j) frames[j] = int64_t(j);
    t.ids.push_back(line_no - 1);
    t.first_line.push_back(line_no);
    t.positions.push_back(std::move(p));
    t.frames.push_back(std::move(frames));
  }
  if (t.positions.empty()) throw UsageError(path + ": empty file");
  t.dims = dims;
  return t;
}

namespace {

TrajectorySet parse_any(std::string_view bytes, const std::string& path, const ReadOptions& opts, bool with_labels) {
  if (!(opts.pixel_size >= 0) || !std::isfinite(opts.pixel_size))
    throw UsageError("pixel size must be a positive number, not " + fmt_num(opts.pixel_size));
  if (!(opts.frame_interval >= 0) || !std::isfinite(opts.frame_interval))
    throw UsageError("frame interval must be a positive number of seconds, not " + fmt_num(opts.frame_interval));
  double file_interval = 0;
  std::string interval_origin;
  TrajectorySet t;
  const std::string_view h = bytes.substr(0, 8);
  const std::string_view first = first_line_of(bytes);
  if (h.substr(0, 6) == "\x93NUMPY" || ends_with_ci(path, ".npy")) {
    t = read_npy_set(bytes, path, opts, with_labels);
  } else if (h.substr(0, 4) == std::string_view("PK\x03\x04", 4) || ends_with_ci(path, ".npz")) {
    throw UsageError(path + ": is an NPZ archive: pass the positions .npy (labels are read from the "
                            "<stem>.labels.npz beside it)");
  } else if ((!first.empty() && first[0] == '<') || ends_with_ci(path, ".xml")) {
    t = read_detail::read_trackmate_xml(bytes, path, opts, file_interval, interval_origin);
  } else if (looks_like_andi2020(bytes)) {
    t = read_andi2020(bytes, path, opts);
  } else {
    t = TableReader(path, opts).read(bytes, file_interval, interval_origin);
  }
  read_detail::finish(t, opts, file_interval, interval_origin);
  return t;
}

}  // namespace

TrajectorySet read_trajectories(const std::string& path, const ReadOptions& opts) {
  if (!(opts.pixel_size >= 0) || !std::isfinite(opts.pixel_size))
    throw UsageError("pixel size must be a positive number, not " + fmt_num(opts.pixel_size));
  std::error_code ec;
  if (!fs::exists(path, ec)) throw UsageError(path + ": no such file");
  if (fs::is_directory(path, ec)) throw UsageError(path + ": is a directory, not a file of trajectories");
  const std::string bytes = read_file(path);
  return parse_any(bytes, path, opts, true);
}

TrajectorySet parse_trajectories(std::string_view bytes, const std::string& source, const ReadOptions& opts) {
  return parse_any(bytes, source, opts, false);
}

// ---- what every reader shares -------------------------------------------------------------------

namespace read_detail {

namespace {

// The unit as written, lower case, without blanks and one pair of parentheses around it.
std::string unit_key(std::string_view s) {
  s = trim(s);
  if (s.size() >= 2 && s.front() == '(' && s.back() == ')') s = trim(s.substr(1, s.size() - 2));
  return lower(s);
}

}  // namespace

bool parse_length_unit(std::string_view s, LengthUnit& u) {
  const std::string k = unit_key(s);
  std::string_view name = trim(s);
  if (name.size() >= 2 && name.front() == '(' && name.back() == ')') name = trim(name.substr(1, name.size() - 2));
  u.name = std::string(name);
  u.pixels = false;
  u.to_um = 0;
  // "µm" as UTF-8 (micro sign U+00B5 or Greek mu U+03BC) and Latin-1 (0xB5).
  if (k == "micron" || k == "microns" || k == "um" || k == "\xC2\xB5m" || k == "\xCE\xBCm" || k == "\xB5m" ||
      k == "micrometer" || k == "micrometers" || k == "micrometre" || k == "micrometres")
    u.to_um = 1;
  else if (k == "nm" || k == "nanometer" || k == "nanometers" || k == "nanometre" || k == "nanometres")
    u.to_um = 1e-3;
  else if (k == "mm" || k == "millimeter" || k == "millimeters" || k == "millimetre" || k == "millimetres")
    u.to_um = 1e3;
  else if (k == "pixel" || k == "pixels" || k == "px")
    u.pixels = true;
  else
    return false;
  return true;
}

bool parse_time_unit(std::string_view s, double& to_s) {
  const std::string k = unit_key(s);
  if (k == "s" || k == "sec" || k == "secs" || k == "second" || k == "seconds")
    to_s = 1;
  else if (k == "ms" || k == "msec" || k == "millisecond" || k == "milliseconds")
    to_s = 1e-3;
  else if (k == "min" || k == "mins" || k == "minute" || k == "minutes")
    to_s = 60;
  else if (k == "frame" || k == "frames")
    to_s = 0;
  else
    return false;
  return true;
}

Scale position_scale(const ReadOptions& opts, const LengthUnit* file_unit, const std::string& path,
                     std::string& space_unit) {
  Scale s;
  if (opts.pixel_size > 0) {
    if (file_unit && !file_unit->pixels)
      throw UsageError(path + " states positions in " + io::quote_untrusted(file_unit->name) +
                       "; --pixel-size would scale them again (leave it out)");
    s.factor = opts.pixel_size;
    s.from_pixel_size = true;
    space_unit = "um";
  } else if (file_unit && !file_unit->pixels) {
    s.factor = file_unit->to_um;
    space_unit = "um";
  } else {
    space_unit = "px";
  }
  return s;
}

float position32(double v, const Scale& s, const std::string& where) {
  const float f = float(v * s.factor);
  if (!std::isfinite(v) || !std::isfinite(f))
    throw UsageError(where + ": " +
                     (std::isfinite(v) ? "value " + fmt_num(v) +
                                             (s.factor == 1       ? ""
                                              : s.from_pixel_size ? " x pixel size"
                                                                  : " x " + fmt_num(s.factor) + " (to micrometres)") +
                                             " does not fit in float32 (|x| < 3.4e38)"
                                       : "non-finite value " + fmt_num(v)));
  return f;
}

double interval_from_times(std::vector<double>& ratios, const std::string& path, const std::string& what,
                           TrajectorySet& t) {
  // Times so large that their differences overflow say nothing about the interval.
  const size_t all = ratios.size();
  ratios.erase(std::remove_if(ratios.begin(), ratios.end(), [](double r) { return !std::isfinite(r); }), ratios.end());
  if (ratios.size() < all)
    t.warnings.push_back(path + ": " + what + ": " + plural(int64_t(all - ratios.size()), "time step") +
                         " too large to use for the frame interval");
  if (ratios.empty()) return 0;
  const size_t mid = ratios.size() / 2;
  std::nth_element(ratios.begin(), ratios.begin() + std::ptrdiff_t(mid), ratios.end());
  const double median = ratios[mid];
  if (!(median > 0) || !std::isfinite(median)) {
    t.warnings.push_back(path + ": " + what + " does not increase with the frame number (median " + fmt_g(median) +
                         " s per frame): no frame interval taken from it");
    return 0;
  }
  double lo = median, hi = median;
  for (double r : ratios) {
    lo = std::min(lo, r);
    hi = std::max(hi, r);
  }
  if (!(lo >= median * 0.99 && hi <= median * 1.01))
    t.warnings.push_back(path + ": " + what + " gives " + fmt_g(lo) + " to " + fmt_g(hi) +
                         " s per frame, not one frame interval: the median " + fmt_g(median) + " s is used");
  return median;
}

void finish(TrajectorySet& t, const ReadOptions& opts, double file_interval, const std::string& interval_origin) {
  const size_t n = t.size();
  std::vector<size_t> keep;
  keep.reserve(n);
  const int64_t min_length = std::max<int64_t>(opts.min_length, 1);  // a track without positions is none
  for (size_t i = 0; i < n; ++i) {
    if (t.length(i) >= min_length) {
      keep.push_back(i);
      continue;
    }
    if (!opts.drop_short) {
      const std::string where = t.first_line.size() == n ? t.source + ":" + std::to_string(t.first_line[i]) : t.source;
      throw UsageError(where + ": track " + std::to_string(t.ids[i]) + " has " + plural(t.length(i), "position") +
                       ", fewer than " + std::to_string(min_length));
    }
  }
  if (keep.size() < n) {
    t.dropped_short = int64_t(n - keep.size());
    if (keep.empty())
      throw UsageError(t.source + ": no track has " + std::to_string(min_length) + " positions or more (" +
                       plural(int64_t(n), "track") + ", all shorter)");
    auto compact = [&](auto& v) {
      if (v.size() != n) return;  // a label the file does not have
      for (size_t k = 0; k < keep.size(); ++k)
        if (keep[k] != k) v[k] = std::move(v[keep[k]]);
      v.resize(keep.size());
    };
    compact(t.ids);
    compact(t.positions);
    compact(t.frames);
    compact(t.first_line);
    compact(t.sigma);
    compact(t.n_switches);
    compact(t.has_switch);
    compact(t.step_state);
    compact(t.switch_times);
    t.warnings.push_back(plural(t.dropped_short, "track") + " shorter than " + std::to_string(min_length) +
                         " positions left out");
  }
  if (opts.frame_interval > 0) {
    t.frame_interval = opts.frame_interval;
    if (file_interval > 0 && std::fabs(file_interval - opts.frame_interval) > 1e-6 * opts.frame_interval)
      t.warnings.push_back(t.source + " states a frame interval of " + fmt_g(file_interval) + " s (" +
                           interval_origin + "); " + fmt_g(opts.frame_interval) + " s as given is used");
  } else {
    t.frame_interval = file_interval;
  }
}

}  // namespace read_detail

}  // namespace sptrain
