// The layer registry (TOML `type` name -> Layer), the built-in layers in it, and the reader of a
// [layer.NAME] table. A built-in layer is one line in builtins() below.
#include <algorithm>
#include <map>
#include <mutex>

#include "data/toml_config.hpp"
#include "engine/layers/common.hpp"
#include "sptrain/error.hpp"

namespace sptrain {

namespace {

struct Registry {
  std::mutex mu;
  std::vector<std::pair<std::string, std::shared_ptr<const Layer>>> layers;  // registration order
};

void builtins(Registry& r) {
  auto add = [&](const char* name, std::shared_ptr<const Layer> l) { r.layers.emplace_back(name, std::move(l)); };
  add("input", layers::input_layer());
  add("conv1d", layers::conv1d_layer());
  add("dense", layers::dense_layer());
  add("activation", layers::activation_layer());
  add("maxpool1d", layers::maxpool1d_layer());
  add("global_maxpool1d", layers::global_maxpool1d_layer());
  add("batchnorm", layers::batchnorm_layer());
  add("concatenate", layers::concatenate_layer());
  add("flatten", layers::flatten_layer());
  add("reshape", layers::reshape_layer());
  add("softmax", layers::softmax_layer());
}

Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry;  // never destroyed: models may outlive static destruction order
    builtins(*reg);
    return reg;
  }();
  return *r;
}

}  // namespace

void register_layer(const std::string& type, std::shared_ptr<const Layer> layer) {
  if (type.empty() || !layer) throw UsageError("register_layer: a name and a layer are needed");
  Registry& r = registry();
  const std::lock_guard<std::mutex> lock(r.mu);
  for (const auto& e : r.layers)
    if (e.first == type) throw UsageError("register_layer: layer type '" + type + "' is already registered");
  r.layers.emplace_back(type, std::move(layer));
}

const Layer* find_layer(const std::string& type) {
  Registry& r = registry();
  const std::lock_guard<std::mutex> lock(r.mu);
  for (const auto& e : r.layers)
    if (e.first == type) return e.second.get();
  return nullptr;
}

std::vector<std::string> layer_types() {
  Registry& r = registry();
  const std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string> v;
  for (const auto& e : r.layers)
    if (e.first != "input") v.push_back(e.first);
  return v;
}

std::vector<std::string> layer_keys() {
  Registry& r = registry();
  const std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string> v;
  for (const auto& e : r.layers)
    for (const auto& k : e.second->keys())
      if (std::find(v.begin(), v.end(), k) == v.end()) v.push_back(k);
  return v;
}

const Layer& layer_of(const LayerSpec& l) {
  if (!l.kind.empty()) {
    if (const Layer* layer = find_layer(l.kind)) return *layer;
    throw KeyError("layer." + l.name + ".type", "'" + l.kind + "' is not a layer type", cfg::join(layer_types(), ", "));
  }
  Registry& r = registry();
  const std::lock_guard<std::mutex> lock(r.mu);
  for (const auto& e : r.layers)
    if (e.second->type() == l.type && l.type != LayerType::Custom) return *e.second;
  throw KeyError("layer." + l.name + ".type", "a custom layer without a kind", "the name it was registered under");
}

int64_t receptive_field(const ModelSpec& spec) {
  std::map<std::string, std::pair<int64_t, int64_t>> rf;  // layer -> (field, jump)
  for (const auto& l : spec.layers) {
    int64_t f = 1, j = 1;
    for (const auto& in : l.inputs) {
      auto it = rf.find(in);
      if (it != rf.end()) f = std::max(f, it->second.first), j = std::max(j, it->second.second);
    }
    if (l.type != LayerType::Input) layer_of(l).receptive_field(l, f, j);
    rf[l.name] = {std::min(f, Layer::kWholeInput), j};
  }
  const std::string out = spec.output.empty() ? spec.layers.back().name : spec.output;
  return rf.count(out) ? rf[out].first : Layer::kWholeInput;
}

LayerSpec make_layer(const std::string& name, const std::string& type, std::vector<std::string> inputs) {
  LayerSpec l;
  l.name = name;
  l.kind = type;
  l.type = layer_of(l).type();
  l.inputs = std::move(inputs);
  return l;
}

void Layer::export_onnx(const LayerSpec& l, const LayerExport&) const {
  throw UsageError("layer." + l.name + ": a " + (l.kind.empty() ? keras_name() : "'" + l.kind + "'") +
                   " layer has no ONNX form, so the model cannot be exported (its Layer needs an export_onnx)");
}

bool LayerTable::has(const std::string& k) const { return r_.has(key(k)); }
double LayerTable::number(const std::string& k, double def) const { return r_.number(key(k), def); }
double LayerTable::number(const std::string& k, double def, double lo, double hi) const { return r_.number(key(k), def, lo, hi); }
int64_t LayerTable::integer(const std::string& k, int64_t def) const { return r_.integer(key(k), def); }
std::string LayerTable::string(const std::string& k, const std::string& def) const { return r_.string(key(k), def); }
bool LayerTable::boolean(const std::string& k, bool def) const { return r_.boolean(key(k), def); }
std::vector<int64_t> LayerTable::int_list(const std::string& k) const { return r_.int_list(key(k)); }

}  // namespace sptrain
