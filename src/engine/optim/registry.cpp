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
  OptimizerMemory memory;          // null: one slab per state tensor
};
std::vector<Entry>& registry() {
  static std::vector<Entry> r = {
      {"adam", optim::make_adam, {"opt_m", "opt_v"}, optim::adam_memory},
      {"sgd", optim::make_sgd, {"opt_velocity"}, optim::sgd_memory},
      {"lamb", optim::make_lamb, {"opt_m", "opt_v"}, optim::lamb_memory},
      {"lars", optim::make_lars, {"opt_velocity"}, optim::lars_memory},
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

float* Optimizer::add_state(Backend& be, const TensorAccount& t, const std::string& legacy) {
  State& st = state_.emplace_back(State{t.name, legacy, be.alloc<float>(t.elements, t.name.c_str())});
  be.fill(st.buf.get(), 0.0f, t.elements);
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

void register_optimizer(const std::string& name, OptimizerFactory factory, std::vector<std::string> state_names,
                        OptimizerMemory memory) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (Entry& e : registry())
    if (e.name == name) {
      e.make = std::move(factory);
      e.state = std::move(state_names);
      e.memory = std::move(memory);
      return;
    }
  registry().push_back({name, std::move(factory), std::move(state_names), std::move(memory)});
}

namespace {
// A copy of the registry entry `name`; UsageError naming the known optimizers.
Entry find_entry(const std::string& name) {
  std::string known;
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (const Entry& e : registry()) {
    if (e.name == name) return e;
    known += (known.empty() ? "" : ", ") + e.name;
  }
  throw UsageError("optimizer '" + name + "' is not known (" + known + ")");
}
}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, Backend& be, const OptimizerSettings& s,
                                          const std::vector<int64_t>& layer_params) {
  return find_entry(name).make(be, s, layer_params);
}

std::vector<TensorAccount> optimizer_memory(const std::string& name, const OptimizerSettings& s,
                                            const std::vector<int64_t>& layer_params) {
  const Entry e = find_entry(name);
  if (e.memory) return e.memory(s, layer_params);
  std::vector<TensorAccount> slabs;
  for (const std::string& t : e.state) slabs.push_back(optim::state_slab(t, layer_params));
  return slabs;
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

TensorAccount state_slab(const std::string& name, const std::vector<int64_t>& layer_params) {
  return {name, TensorRole::OptimizerState, -1, slab_length(layer_params), sizeof(float), false};
}

TensorAccount norms_slab(const std::string& name, const std::vector<int64_t>& layer_params) {
  return {name, TensorRole::OptimizerScratch, -1, 2 * std::max<size_t>(layer_segments(layer_params).size(), 1),
          sizeof(double), false};
}

}  // namespace optim
}  // namespace sptrain
