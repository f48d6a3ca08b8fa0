// The optimizer registry: name -> factory. The built-in optimizers are listed here (one line each),
// so that they are linked in from the static library; register_optimizer adds others at run time.
#include <algorithm>
#include <mutex>
#include <utility>

#include "engine/optim/optimizers.hpp"
#include "sptrain/error.hpp"

namespace sptrain {

namespace {
struct Entry {
  std::string name;
  OptimizerFactory make;
  std::vector<std::string> state;  // checkpoint tensors of its state
};
std::vector<Entry>& registry() {
  static std::vector<Entry> r = {
      {"adam", optim::make_adam, {"opt_m", "opt_v"}},
      {"sgd", optim::make_sgd, {"opt_velocity"}},
      {"lamb", optim::make_lamb, {"opt_m", "opt_v"}},
      {"lars", optim::make_lars, {"opt_velocity"}},
  };
  return r;
}

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace

float* Optimizer::add_state(Backend& be, const std::string& name, size_t n, const std::string& legacy) {
  State& st = state_.emplace_back(State{name, legacy, be.alloc<float>(n)});
  be.fill(st.buf.get(), 0.0f, n);
  return st.buf.get();
}

std::vector<std::string> optimizer_names() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::vector<std::string> names;
  for (const Entry& e : registry()) names.push_back(e.name);
  return names;
}

const std::vector<std::string>& legacy_optimizer_state() {
  static const std::vector<std::string> names = {"opt_m", "opt_v"};
  return names;
}

std::vector<std::string> optimizer_state_tensors() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::vector<std::string> names = legacy_optimizer_state();
  for (const Entry& e : registry())
    for (const std::string& t : e.state)
      if (std::find(names.begin(), names.end(), t) == names.end()) names.push_back(t);
  return names;
}

void register_optimizer(const std::string& name, OptimizerFactory factory, std::vector<std::string> state_names) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (Entry& e : registry())
    if (e.name == name) {
      e.make = std::move(factory);
      e.state = std::move(state_names);
      return;
    }
  registry().push_back({name, std::move(factory), std::move(state_names)});
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, Backend& be, const OptimizerSettings& s,
                                          const std::vector<int64_t>& layer_params) {
  OptimizerFactory f;
  std::string known;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    for (const Entry& e : registry()) {
      if (e.name == name) f = e.make;
      known += (known.empty() ? "" : ", ") + e.name;
    }
  }
  if (!f) throw UsageError("optimizer '" + name + "' is not known (" + known + ")");
  return f(be, s, layer_params);
}

namespace optim {

std::vector<std::pair<int64_t, int64_t>> layer_segments(const std::vector<int64_t>& layer_params) {
  std::vector<std::pair<int64_t, int64_t>> seg;
  int64_t off = 0;
  for (int64_t n : layer_params) {
    if (n > 0) seg.push_back({off, n});
    off += n;
  }
  return seg;
}

size_t slab_length(const std::vector<int64_t>& layer_params) {
  int64_t n = 0;
  for (int64_t k : layer_params) n += k;
  return size_t(std::max<int64_t>(n, 1));
}

}  // namespace optim
}  // namespace sptrain
