// NPY/NPZ and trackpy-CSV writers for generated batches.
#include <charconv>
#include <cmath>
#include <memory>

#include "sptrain/io.hpp"
#include "sptrain/trajectory_io.hpp"

namespace sptrain {

namespace {
std::string stem_of(const std::string& p) {
  auto dot = p.rfind('.');
  auto slash = p.rfind('/');
  return (dot == std::string::npos || (slash != std::string::npos && dot < slash)) ? p : p.substr(0, dot);
}
}  // namespace

std::string labels_path_for(const std::string& npy_path) { return stem_of(npy_path) + ".labels.npz"; }
std::string features_path_for(const std::string& npy_path) { return stem_of(npy_path) + ".features.npy"; }

void write_batch_npy(const TrajectoryBatch& b, const std::string& path, const std::string& spec_json,
                     const std::vector<float>* features, const std::vector<int64_t>& feature_shape) {
  const SimParams& p = b.params;
  const int64_t N = b.n, S = p.steps();
  std::vector<uint8_t> has(N);
  std::vector<int64_t> index(N);
  for (int64_t r = 0; r < N; ++r) {
    has[r] = b.n_switches[r] > 0;
    index[r] = b.first + r;
  }
  std::vector<uint8_t> spec_bytes(spec_json.begin(), spec_json.end());
  std::vector<int64_t> seed = {int64_t(b.seed)};

  io::AtomicFile pos_file(path), lab_file(labels_path_for(path));
  io::write_npy(pos_file.stream(), io::view("positions", b.positions, {N, p.length, p.dims}));
  io::write_npz(lab_file.stream(),
                {io::view("index", index, {N}), io::view("seed", seed, {1}),
                 io::view("sigma", b.traj_sigma, {N}), io::view("state_sigma", b.state_sigma, {N, p.n_states}),
                 io::view("n_switches", b.n_switches, {N}), io::view("has_switch", has, {N}),
                 io::view("switch_times", b.switch_times, {N, p.max_switch_times}),
                 io::view("initial_state", b.initial_state, {N}), io::view("step_state", b.step_state, {N, S}),
                 io::view("step_sigma", b.step_sigma, {N, S}),
                 io::view("localization", b.localization, {N}), io::view("exposure", b.exposure, {N}),
                 io::view("rate_factor", b.rate_factor, {N}),
                 io::view("spec_json", spec_bytes, {int64_t(spec_bytes.size())})});
  std::unique_ptr<io::AtomicFile> feat_file;
  if (features) {
    feat_file = std::make_unique<io::AtomicFile>(features_path_for(path));
    io::write_npy(feat_file->stream(), io::view("features", *features, feature_shape));
  }
  pos_file.commit();
  lab_file.commit();
  if (feat_file) feat_file->commit();
}

namespace {
struct CsvBuffer {
  std::string s;
  void num(double v) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 9);
    s.append(buf, r.ptr);
  }
  void num(int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    s.append(buf, r.ptr);
  }
};
}  // namespace

void write_batch_csv(const TrajectoryBatch& b, const std::string& path) {
  const SimParams& p = b.params;
  const int64_t S = p.steps();
  io::AtomicFile f(path);
  std::ostream& out = f.stream();
  static const char* axes[] = {"x", "y", "z"};
  out << "particle,frame";
  for (int d = 0; d < p.dims; ++d) out << ',' << axes[d];
  out << ",state,step_sigma,sigma,n_switches,has_switch,localization,exposure,rate_factor\n";
  CsvBuffer buf;
  for (int64_t r = 0; r < b.n; ++r) {
    for (int64_t j = 0; j < p.length; ++j) {
      buf.num(b.first + r);
      buf.s += ',';
      buf.num(j);
      for (int d = 0; d < p.dims; ++d) {
        buf.s += ',';
        buf.num(double(b.positions[(r * p.length + j) * p.dims + d]));
      }
      buf.s += ',';
      if (j < S) {
        buf.num(int64_t(b.step_state[r * S + j]));
        buf.s += ',';
        buf.num(double(b.step_sigma[r * S + j]));
      } else {
        buf.s += ',';
      }
      buf.s += ',';
      buf.num(double(b.traj_sigma[r]));
      buf.s += ',';
      buf.num(int64_t(b.n_switches[r]));
      buf.s += ',';
      buf.num(int64_t(b.n_switches[r] > 0));
      for (const std::vector<float>* v : {&b.localization, &b.exposure, &b.rate_factor}) {
        buf.s += ',';
        buf.num(double((*v)[r]));
      }
      buf.s += '\n';
    }
    if (buf.s.size() > (1 << 20)) {
      out.write(buf.s.data(), std::streamsize(buf.s.size()));
      buf.s.clear();
    }
  }
  out.write(buf.s.data(), std::streamsize(buf.s.size()));
  f.commit();
}

}  // namespace sptrain
