// Training config: TOML -> TrainConfig, strictly checked (docs/train.md lists every key).
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "data/toml_config.hpp"
#include "sptrain/error.hpp"
#include "sptrain/layer.hpp"
#include "sptrain/optimizer.hpp"
#include "sptrain/train.hpp"

namespace sptrain {

namespace {

const std::vector<std::string> kKeys = {
    "name", "description",
    "data.spec", "data.set", "data.label", "data.mode", "data.train_size", "data.val_size", "data.test_size", "data.seed",
    "data.lengths",
    "model.zoo", "model.output",
    "train.batch", "train.micro_batch", "train.epochs", "train.steps_per_epoch", "train.loss", "train.optimizer",
    "train.lr", "train.beta1", "train.beta2", "train.eps", "train.momentum", "train.nesterov", "train.weight_decay", "train.lars_eta", "train.schedule",
    "train.warmup_steps", "train.plateau_factor", "train.plateau_patience", "train.min_lr", "train.clip_norm",
    "train.seed",
    "early_stopping.monitor", "early_stopping.mode", "early_stopping.patience", "early_stopping.min_delta",
    "early_stopping.restore_best",
    "checkpoint.monitor", "checkpoint.mode",
    "target.monitor", "target.value", "target.mode", "target.stop",
    "dist.reduce", "dist.timeout_s", "dist.batchnorm"};

using cfg::bound;
using cfg::fmt;
using cfg::require;

// kKeys and the [layer.NAME] keys of every registered layer (sptrain/layer.hpp).
std::vector<std::string> config_keys() {
  std::vector<std::string> keys = kKeys;
  keys.push_back("layer.*.type");
  keys.push_back("layer.*.inputs");
  for (const auto& k : layer_keys()) keys.push_back("layer.*." + k);
  return keys;
}

LossKind parse_loss(const std::string& s) {
  if (s == "mse") return LossKind::MSE;
  if (s == "mae") return LossKind::MAE;
  if (s == "mape") return LossKind::MAPE;
  if (s == "poisson") return LossKind::Poisson;
  if (s == "binary_crossentropy") return LossKind::BinaryCrossEntropy;
  if (s == "categorical_crossentropy") return LossKind::CategoricalCrossEntropy;
  throw KeyError("train.loss", "'" + s + "' is not a loss",
                 "mse, mae, mape, poisson, binary_crossentropy or categorical_crossentropy");
}

bool parse_mode(const std::string& k, const std::string& s) {
  if (s == "min") return false;
  if (s == "max") return true;
  throw KeyError(k, "'" + s + "' is not a mode", "min or max (declare it explicitly)");
}

// Refuses, before anything is allocated, a config whose data sets or model do not fit in the
// available physical memory (docs/train.md): the model takes its weights, gradients and two
// optimizer moments, the activations of one micro-batch and their gradients (float32, counted
// twice for workspaces) and one generated batch; the validation set (with the fixed training
// set) and the test set are each held on top of that.
void check_train_memory(const TrainConfig& c, const ModelInfo& info) {
  const double per_example = trajectory_bytes(c.spec.params) + double(c.target_elems()) * 4;
  double weights = 0, acts = 0, worst = 0;
  std::string weights_key;
  for (size_t i = 0; i < c.model.layers.size() && i < info.shapes.size(); ++i) {
    const double w = double(i < info.params.size() ? info.params[i] : 0) * 16 + double(i < info.state.size() ? info.state[i] : 0) * 4;
    weights += w;
    acts += double(c.micro_batch) * double(info.shapes[i].T) * double(info.shapes[i].C) * 4 * 4;
    if (w > worst) {
      worst = w;
      const auto& l = c.model.layers[i];
      weights_key = "layer." + l.name + (l.type == LayerType::Dense ? ".units" : ".filters");
    }
  }
  const double batch = double(c.batch) * per_example;
  const double model = weights + acts + batch;
  std::string key = c.micro_batch < c.batch ? "train.micro_batch" : "train.batch";
  if (weights > acts && weights > batch && !weights_key.empty()) key = weights_key;
  cfg::check_memory(key, model);
  cfg::check_memory(c.fixed ? "data.train_size" : "data.val_size", double(c.train_size + c.val_size) * per_example + model);
  cfg::check_memory("data.test_size", double(c.test_size) * per_example + model);
}

// The [layer.NAME] sections in file order, after the input; each layer reads its own keys.
ModelSpec parse_layers(const cfg::Items& items, const cfg::Reader& r, int T_in, int C_in) {
  ModelSpec m;
  m.name = "custom";
  m.T_in = T_in;
  m.C_in = C_in;
  m.layers.push_back(make_layer("input", "input", {}));
  std::vector<std::string> names;
  for (const auto& k : items.order) {
    if (k.rfind("layer.", 0) != 0) continue;
    std::string name = k.substr(6, k.rfind('.') - 6);
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  for (const auto& name : names) {
    const std::string p = "layer." + name + ".";
    if (name == "input") throw KeyError("layer.input", "the name 'input' is reserved for the model input", "another name");
    const std::string type = r.string(p + "type", "");
    const Layer* layer = type == "input" ? nullptr : find_layer(type);
    if (!layer)
      throw KeyError(p + "type", type.empty() ? "missing" : "'" + type + "' is not a layer type", cfg::join(layer_types(), ", "));
    if (!r.has(p + "inputs")) throw KeyError(p + "inputs", "missing", "names of earlier layers, or \"input\"");
    LayerSpec l = make_layer(name, type, r.strings(p + "inputs"));
    std::set<std::string> keys = {"type", "inputs"};
    for (const auto& k : layer->keys()) keys.insert(k);
    for (const auto& kk : items.order)
      if (kk.rfind(p, 0) == 0 && !keys.count(kk.substr(p.size())))
        throw KeyError(kk, "not used by a " + type + " layer", "allowed: " + cfg::join({keys.begin(), keys.end()}, ", "));
    layer->parse(LayerTable(r, name), l);
    m.layers.push_back(l);
  }
  if (m.layers.size() < 2) throw KeyError("model.zoo", "no model given", "model.zoo or [layer.NAME] sections");
  m.output = r.string("model.output", "");
  return m;
}

}  // namespace

LabelKind parse_label(const std::string& s) {
  if (s == "sigma") return LabelKind::Sigma;
  if (s == "n_switches") return LabelKind::NSwitches;
  if (s == "n_switches_plus_one") return LabelKind::NSwitchesPlusOne;
  if (s == "switch_time") return LabelKind::SwitchTime;
  if (s == "has_switch") return LabelKind::HasSwitch;
  if (s == "initial_state") return LabelKind::InitialState;
  if (s == "step_state") return LabelKind::StepState;
  throw KeyError("data.label", "'" + s + "' is not a label",
                 "sigma, n_switches, n_switches_plus_one, switch_time, has_switch, initial_state or step_state");
}

int TrainConfig::outputs() const {
  if (label == LabelKind::HasSwitch) return 2;
  if (label == LabelKind::InitialState || label == LabelKind::StepState) return spec.params.n_states;
  return 1;
}

TrainConfig TrainConfig::at_length(int length) const {
  TrainConfig t = *this;
  t.spec.params.length = length;
  t.model.T_in = feature_length(spec.features, length);
  t.lengths.clear();
  return t;
}

int TrainConfig::target_steps() const { return label == LabelKind::StepState ? spec.params.steps() : 1; }

TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides) {
  cfg::Items items;
  const std::vector<std::string> keys = config_keys();
  cfg::read_items(cfg::read_file(path, "config"), items, keys, "config", path);
  for (const auto& ov : overrides) cfg::apply_override(ov, items, keys);
  cfg::Reader r(items);
  TrainConfig c;
  c.source = path;
  nlohmann::json& j = c.resolved;
  if (r.has("name")) j["name"] = r.string("name", "");

  // [data]
  require(r.has("data.spec"), "data.spec", "missing", "path of a trajectory spec, relative to this config");
  std::string spec_path = r.string("data.spec", "");
  std::filesystem::path sp(spec_path);
  if (sp.is_relative()) sp = std::filesystem::path(path).parent_path() / sp;
  std::vector<std::string> spec_set;
  if (r.has("data.set")) spec_set = r.strings("data.set");
  try {
    c.spec = load_spec(sp.string(), spec_set);
  } catch (const KeyError& e) {
    throw UsageError(std::string("data.spec (") + sp.string() + "): " + e.what());
  }
  c.label = parse_label(r.string("data.label", "sigma"));
  std::string mode = r.string("data.mode", "on_the_fly");
  if (mode != "on_the_fly" && mode != "fixed") throw KeyError("data.mode", "'" + mode + "' is not a mode", "on_the_fly or fixed");
  c.fixed = mode == "fixed";
  const std::string n_range = "at most " + std::to_string(kMaxDatasetSize) + " trajectories";
  c.train_size = r.integer("data.train_size", 0);
  c.val_size = r.integer("data.val_size", 1000);
  c.test_size = r.integer("data.test_size", 10000);
  require(c.train_size <= kMaxDatasetSize, "data.train_size", std::to_string(c.train_size) + " is too large", n_range);
  require(c.val_size <= kMaxDatasetSize, "data.val_size", std::to_string(c.val_size) + " is too large", n_range);
  require(c.test_size <= kMaxDatasetSize, "data.test_size", std::to_string(c.test_size) + " is too large", n_range);
  if (c.fixed) require(c.train_size >= 1, "data.train_size", std::to_string(c.train_size) + " is not positive", "a fixed dataset needs >= 1 trajectories");
  else cfg::forbid(r, {"data.train_size"}, "with data.mode = \"on_the_fly\" (fresh trajectories every step)");
  require(c.val_size >= 1, "data.val_size", std::to_string(c.val_size) + " is not positive", ">= 1");
  require(c.test_size >= 1, "data.test_size", std::to_string(c.test_size) + " is not positive", ">= 1");
  c.data_seed = uint64_t(r.integer("data.seed", 1, 0, INT64_MAX));
  if (c.classification())
    require(c.spec.params.n_states >= 2, "data.label", "a classification label needs >= 2 states", "");
  j["data"] = {{"spec", sp.string()}, {"set", spec_set}, {"label", r.string("data.label", "sigma")}, {"mode", mode},
               {"train_size", c.train_size}, {"val_size", c.val_size}, {"test_size", c.test_size}, {"seed", c.data_seed}};
  j["spec"] = c.spec.resolved;

  // [model]
  const int T_in = feature_length(c.spec.features, c.spec.params.length);
  const int C_in = feature_channels(c.spec.features, c.spec.params.dims);
  bool has_layers = false;
  for (const auto& k : items.order) has_layers = has_layers || k.rfind("layer.", 0) == 0;
  if (r.has("model.zoo")) {
    if (has_layers) throw KeyError("model.zoo", "given together with [layer.*] sections", "one of the two");
    c.model = zoo_model(r.string("model.zoo", ""), T_in, C_in, c.outputs(), !c.classification());
  } else {
    c.model = parse_layers(items, r, T_in, C_in);
  }
  ModelInfo info = analyze(c.model);
  const Shape out = info.shapes[info.output_index];
  if (out.T != c.target_steps() || out.C != c.outputs())
    throw KeyError("model.output", "output shape (" + std::to_string(out.T) + ", " + std::to_string(out.C) + ") does not fit the label",
                   "(" + std::to_string(c.target_steps()) + ", " + std::to_string(c.outputs()) + ")" +
                       (c.label == LabelKind::StepState ? ": one row of state logits per step ('same' or causal convolutions keep the length)"
                                                        : ": flatten or pool over time, and one unit per class"));
  j["model"] = {{"name", c.model.name}, {"trainable_params", info.trainable}, {"non_trainable_params", info.non_trainable}};

  // data.lengths (read here: each length's network must have the same weights as the spec's)
  if (r.has("data.lengths")) {
    require(!c.fixed, "data.lengths", "needs fresh data", "data.mode = \"on_the_fly\", or no data.lengths");
    const std::vector<int64_t> ls = r.int_list("data.lengths");
    require(!ls.empty() && ls.size() <= 64, "data.lengths", std::to_string(ls.size()) + " lengths", "1 to 64 lengths");
    for (int64_t L : ls) {
      const std::string what = std::to_string(L);
      require(L >= 3 && L <= c.spec.params.length, "data.lengths", what + " is out of range",
              "3 to the spec's length " + std::to_string(c.spec.params.length) + " (validation and test run at that length)");
      const TrainConfig at = c.at_length(int(L));
      ModelInfo li;
      try {
        li = analyze(at.model);
      } catch (const std::exception& e) {
        throw KeyError("data.lengths", "the model does not run at " + what + " positions: " + e.what(), "lengths the network accepts");
      }
      const Shape lo = li.shapes[li.output_index];
      require(li.trainable == info.trainable && li.params == info.params && li.state == info.state, "data.lengths",
              "the model's weights at " + what + " positions differ from those at the spec's length",
              "a network without length-dependent weights (convolutions, global pooling), or no data.lengths");
      require(lo.T == at.target_steps() && lo.C == c.outputs(), "data.lengths",
              "the model's output at " + what + " positions does not fit the label", "a fully convolutional network");
      c.lengths.push_back(int(L));
    }
    j["data"]["lengths"] = c.lengths;
  }

  // [train]
  c.batch = r.integer("train.batch", 32);
  require(c.batch >= 1, "train.batch", std::to_string(c.batch) + " is not positive", ">= 1");
  require(c.batch <= kMaxBatch, "train.batch", std::to_string(c.batch) + " is too large", "at most " + std::to_string(kMaxBatch));
  c.micro_batch = r.integer("train.micro_batch", 0);
  require(c.micro_batch >= 0, "train.micro_batch", std::to_string(c.micro_batch) + " is negative", "0 (= batch) or >= 1");
  require(c.micro_batch <= kMaxBatch, "train.micro_batch", std::to_string(c.micro_batch) + " is too large",
          "at most " + std::to_string(kMaxBatch));
  if (c.micro_batch == 0 || c.micro_batch > c.batch) c.micro_batch = c.batch;
  c.epochs = r.integer("train.epochs", 10);
  require(c.epochs >= 1, "train.epochs", std::to_string(c.epochs) + " is not positive", ">= 1");
  require(c.epochs <= kMaxEpochs, "train.epochs", std::to_string(c.epochs) + " is too large", "at most " + std::to_string(kMaxEpochs));
  c.steps_per_epoch = r.integer("train.steps_per_epoch", 0);
  require(c.steps_per_epoch >= 0, "train.steps_per_epoch", std::to_string(c.steps_per_epoch) + " is negative", ">= 1, or 0");
  require(c.steps_per_epoch <= kMaxStepsPerEpoch, "train.steps_per_epoch", std::to_string(c.steps_per_epoch) + " is too large",
          "at most " + std::to_string(kMaxStepsPerEpoch));
  if (c.steps_per_epoch == 0) {
    if (!c.fixed) throw KeyError("train.steps_per_epoch", "missing", "steps per epoch >= 1 (required with on-the-fly data)");
    c.steps_per_epoch = (c.train_size + c.batch - 1) / c.batch;
  }
  const double examples = double(c.epochs) * double(c.steps_per_epoch) * double(c.batch);
  require(examples <= kMaxExamples, "train.epochs",
          fmt(examples) + " training examples (epochs * steps_per_epoch * batch) are too many", "at most 2^53");
  check_train_memory(c, info);
  std::string default_loss = c.classification() ? "categorical_crossentropy" : "mse";
  std::string loss = r.string("train.loss", default_loss);
  c.loss = parse_loss(loss);
  if (c.classification() && c.loss != LossKind::CategoricalCrossEntropy)
    throw KeyError("train.loss", "'" + loss + "' does not fit a classification label", "categorical_crossentropy");
  if (!c.classification() && c.loss == LossKind::CategoricalCrossEntropy)
    throw KeyError("train.loss", "categorical_crossentropy needs a classification label", "has_switch, initial_state or step_state");
  c.optimizer = r.string("train.optimizer", "adam");
  {
    const std::vector<std::string> names = optimizer_names();
    if (std::find(names.begin(), names.end(), c.optimizer) == names.end()) {
      std::string list;
      for (size_t i = 0; i < names.size(); ++i)
        list += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
      throw KeyError("train.optimizer", "'" + c.optimizer + "' is not an optimizer", list);
    }
  }
  const bool layerwise = c.optimizer == "lamb" || c.optimizer == "lars";
  c.weight_decay = r.number("train.weight_decay", 0.0);
  bound(c.weight_decay, "train.weight_decay", -kMaxScalar, kMaxScalar);
  require(c.weight_decay >= 0, "train.weight_decay", fmt(c.weight_decay) + " is negative", ">= 0 (lamb, lars)");
  if (!layerwise && c.weight_decay != 0)
    throw KeyError("train.weight_decay", "applies to optimizer = \"lamb\" or \"lars\" only", "0 for adam and sgd");
  c.lars_eta = r.number("train.lars_eta", 1e-3, -kMaxScalar, kMaxScalar);
  require(c.lars_eta > 0, "train.lars_eta", fmt(c.lars_eta) + " is not positive", "> 0 (LARS trust coefficient)");
  if (c.optimizer != "lars" && c.lars_eta != 1e-3)
    throw KeyError("train.lars_eta", "applies to optimizer = \"lars\" only", "leave it out for other optimizers");
  c.lr = r.number("train.lr", 1e-3);
  require(c.lr > 0, "train.lr", fmt(c.lr) + " is not positive", "> 0");
  bound(c.lr, "train.lr", 0, kMaxScalar);
  c.beta1 = r.number("train.beta1", 0.9);
  c.beta2 = r.number("train.beta2", 0.999);
  require(c.beta1 >= 0 && c.beta1 < 1, "train.beta1", fmt(c.beta1) + " is outside [0, 1)", "");
  require(c.beta2 >= 0 && c.beta2 < 1, "train.beta2", fmt(c.beta2) + " is outside [0, 1)", "");
  c.eps = r.number("train.eps", 1e-7);
  require(c.eps > 0, "train.eps", fmt(c.eps) + " is not positive", "> 0");
  bound(c.eps, "train.eps", 1e-30, 1);
  c.momentum = r.number("train.momentum", 0.0);
  require(c.momentum >= 0 && c.momentum < 1, "train.momentum", fmt(c.momentum) + " is outside [0, 1)", "");
  c.nesterov = r.boolean("train.nesterov", false);
  std::string sched = r.string("train.schedule", "constant");
  if (sched == "constant") c.schedule = Schedule::Constant;
  else if (sched == "warmup") c.schedule = Schedule::Warmup;
  else if (sched == "plateau") c.schedule = Schedule::Plateau;
  else if (sched == "cosine") c.schedule = Schedule::Cosine;
  else throw KeyError("train.schedule", "'" + sched + "' is not a schedule", "constant, warmup, plateau or cosine");
  c.warmup_steps = r.integer("train.warmup_steps", 0);
  require(c.warmup_steps >= 0, "train.warmup_steps", std::to_string(c.warmup_steps) + " is negative", ">= 0");
  require(double(c.warmup_steps) <= kMaxExamples, "train.warmup_steps", std::to_string(c.warmup_steps) + " is too large", "at most 2^53");
  c.plateau_factor = r.number("train.plateau_factor", 0.1);
  require(c.plateau_factor > 0 && c.plateau_factor < 1, "train.plateau_factor", fmt(c.plateau_factor) + " is outside (0, 1)", "");
  c.plateau_patience = r.integer("train.plateau_patience", 4);
  require(c.plateau_patience >= 1, "train.plateau_patience", std::to_string(c.plateau_patience) + " is not positive", ">= 1");
  require(c.plateau_patience <= kMaxEpochs, "train.plateau_patience", std::to_string(c.plateau_patience) + " is too large",
          "at most " + std::to_string(kMaxEpochs) + " epochs");
  c.min_lr = r.number("train.min_lr", 0.0);
  require(c.min_lr >= 0, "train.min_lr", fmt(c.min_lr) + " is negative", ">= 0");
  bound(c.min_lr, "train.min_lr", 0, kMaxScalar);
  c.clip_norm = r.number("train.clip_norm", 0.0);
  require(c.clip_norm >= 0, "train.clip_norm", fmt(c.clip_norm) + " is negative", "0 (off) or > 0");
  bound(c.clip_norm, "train.clip_norm", 0, kMaxScalar);
  c.init_seed = uint64_t(r.integer("train.seed", 1, 0, INT64_MAX));
  j["train"] = {{"batch", c.batch}, {"micro_batch", c.micro_batch}, {"epochs", c.epochs},
                {"steps_per_epoch", c.steps_per_epoch}, {"loss", loss}, {"optimizer", c.optimizer}, {"lr", c.lr},
                {"beta1", c.beta1}, {"beta2", c.beta2}, {"eps", c.eps}, {"momentum", c.momentum},
                {"nesterov", c.nesterov}, {"weight_decay", c.weight_decay}, {"lars_eta", c.lars_eta}, {"schedule", sched}, {"warmup_steps", c.warmup_steps},
                {"plateau_factor", c.plateau_factor}, {"plateau_patience", c.plateau_patience}, {"min_lr", c.min_lr},
                {"clip_norm", c.clip_norm}, {"seed", c.init_seed}};

  // [early_stopping], [checkpoint]
  const std::string default_monitor = "val_loss";
  auto check_monitor = [&](const std::string& k, const std::string& m) {
    static const std::set<std::string> ok = {"loss", "val_loss", "val_mae", "val_mse", "val_mape", "val_acc"};
    if (!ok.count(m)) throw KeyError(k, "'" + m + "' is not a metric", "loss, val_loss, val_mae, val_mse, val_mape or val_acc");
    if (m == "val_acc" && !c.classification()) throw KeyError(k, "val_acc needs a classification label", "val_loss, val_mae, ...");
  };
  c.es_monitor = r.string("early_stopping.monitor", default_monitor);
  check_monitor("early_stopping.monitor", c.es_monitor);
  c.es_patience = r.integer("early_stopping.patience", 0);
  require(c.es_patience >= 0, "early_stopping.patience", std::to_string(c.es_patience) + " is negative", "0 (off) or >= 1");
  require(c.es_patience <= kMaxEpochs, "early_stopping.patience", std::to_string(c.es_patience) + " is too large",
          "at most " + std::to_string(kMaxEpochs) + " epochs");
  if (c.es_patience > 0) require(r.has("early_stopping.mode"), "early_stopping.mode", "missing", "min or max (declare it explicitly)");
  c.es_max = parse_mode("early_stopping.mode", r.string("early_stopping.mode", "min"));
  c.es_min_delta = r.number("early_stopping.min_delta", 0.0);
  require(c.es_min_delta >= 0, "early_stopping.min_delta", fmt(c.es_min_delta) + " is negative", ">= 0");
  bound(c.es_min_delta, "early_stopping.min_delta", 0, kMaxScalar);
  c.restore_best = r.boolean("early_stopping.restore_best", true);
  c.ckpt_monitor = r.string("checkpoint.monitor", default_monitor);
  check_monitor("checkpoint.monitor", c.ckpt_monitor);
  if (r.has("checkpoint.monitor")) require(r.has("checkpoint.mode"), "checkpoint.mode", "missing", "min or max (declare it explicitly)");
  c.ckpt_max = parse_mode("checkpoint.mode", r.string("checkpoint.mode", "min"));
  j["early_stopping"] = {{"monitor", c.es_monitor}, {"mode", c.es_max ? "max" : "min"}, {"patience", c.es_patience},
                         {"min_delta", c.es_min_delta}, {"restore_best", c.restore_best}};
  j["checkpoint"] = {{"monitor", c.ckpt_monitor}, {"mode", c.ckpt_max ? "max" : "min"}};
  // [target]: a metric value to reach (sweeps measure steps to it); part of the config so that a
  // resumed run keeps it.
  c.target_monitor = r.string("target.monitor", "");
  if (!c.target_monitor.empty()) {
    check_monitor("target.monitor", c.target_monitor);
    require(r.has("target.value"), "target.value", "missing", "the value of target.monitor to reach");
    require(r.has("target.mode"), "target.mode", "missing", "min or max (declare it explicitly)");
    c.target_value = r.number("target.value", 0.0);
    bound(c.target_value, "target.value", -kMaxScalar, kMaxScalar);
    c.target_max = parse_mode("target.mode", r.string("target.mode", "min"));
    c.stop_at_target = r.boolean("target.stop", true);
    j["target"] = {{"monitor", c.target_monitor}, {"value", c.target_value}, {"mode", c.target_max ? "max" : "min"},
                   {"stop", c.stop_at_target}};
  } else {
    for (const char* k : {"target.value", "target.mode", "target.stop"})
      require(!r.has(k), k, "given without target.monitor", "target.monitor as well, or neither");
  }
  // [dist]: how the ranks of a data-parallel run combine a step (docs/distributed.md); unused by
  // a single process. Resolved only when given, so that configs without it resolve (and
  // checkpoint) as before.
  const std::string reduce = r.string("dist.reduce", "exact");
  if (reduce == "exact") c.reduce = DistReduce::Exact;
  else if (reduce == "allreduce") c.reduce = DistReduce::Allreduce;
  else throw KeyError("dist.reduce", "'" + reduce + "' is not a reduction", "exact or allreduce");
  c.dist_timeout_s = r.number("dist.timeout_s", 600.0, 0.1, 1e6, " s");
  const std::string bn = r.string("dist.batchnorm", "local");
  if (bn == "local") c.dist_batchnorm = DistBatchNorm::Local;
  else if (bn == "sync") c.dist_batchnorm = DistBatchNorm::Sync;
  else throw KeyError("dist.batchnorm", "'" + bn + "' is not a BatchNorm mode", "local or sync");
  if (r.has("dist.reduce") || r.has("dist.timeout_s") || r.has("dist.batchnorm")) {
    j["dist"] = {{"reduce", reduce}, {"timeout_s", c.dist_timeout_s}};
    if (r.has("dist.batchnorm")) j["dist"]["batchnorm"] = bn;
  }
  return c;
}

ModelSpec model_from_config(const TrainConfig& c) { return c.model; }

TrainConfig load_run_config(const std::string& run_dir) {
  if (!std::filesystem::exists(run_dir + "/config.toml"))
    throw UsageError(run_dir + ": not a run directory (no config.toml)");
  std::vector<std::string> set = {"data.spec=\"spec.toml\""};
  const std::string ov_path = run_dir + "/overrides.txt";
  if (std::filesystem::exists(ov_path)) {
    std::istringstream ov(cfg::read_file(ov_path, "overrides"));
    for (std::string line; std::getline(ov, line);)
      if (!line.empty()) set.push_back(line);
  }
  return load_train_config(run_dir + "/config.toml", set);
}

}  // namespace sptrain
