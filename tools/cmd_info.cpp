// `sptrain info`: version, build options, CUDA runtime and driver, devices, libraries, CPU threads;
// with --memory, the memory account of training a config (every tensor, bytes per sample, total).
#include <iostream>

#include "commands.hpp"
#include "sptrain/error.hpp"
#include "sptrain/info.hpp"
#include "sptrain/train.hpp"

namespace sptrain::cli {

namespace {

struct MemoryOptions {
  bool memory = false;
  std::string config;
  int64_t micro_batch = 0;  // 0: the config's
  std::vector<std::string> set;
};

void print_memory(const MemoryOptions& o, bool json) {
  if (o.config.empty()) throw UsageError("info --memory: give --config FILE");
  if (o.micro_batch < 0 || o.micro_batch > kMaxBatch)
    throw UsageError("--micro-batch " + std::to_string(o.micro_batch) + ": expected 1 to " + std::to_string(kMaxBatch));
  TrainConfig c = load_train_config(o.config, o.set);
  if (o.micro_batch > 0) c.micro_batch = o.micro_batch;  // the account depends on the micro-batch alone
  const MemoryAccount a = training_memory(c);
  if (json) {
    nlohmann::json t = nlohmann::json::array();
    for (const TensorAccount& e : a.tensors)
      t.push_back({{"name", e.name}, {"role", role_name(e.role)}, {"elements", e.elements}, {"bytes", e.bytes()},
                   {"per_sample", e.per_sample}});
    std::cout << nlohmann::json{{"config", o.config},           {"model", c.model.name},
                                {"optimizer", c.optimizer},     {"micro_batch", a.micro_batch},
                                {"total_bytes", a.total_bytes()}, {"batch_bytes", a.batch_bytes()},
                                {"fixed_bytes", a.fixed_bytes()}, {"transient_bytes", a.transient_bytes()},
                                {"bytes_per_sample", a.bytes_per_sample()}, {"tensors", t}}
                     .dump(2)
              << std::endl;
    return;
  }
  std::cout << "training memory of " << o.config << " (model " << c.model.name << ", optimizer " << c.optimizer
            << ", micro-batch " << a.micro_batch << "), in the training device's memory:\n"
            << a.table()
            << "not counted: the CUDA backend's own workspaces (cuBLAS, cuDNN) and the GPU batch source's "
               "simulation arrays\n";
}

}  // namespace

void add_info(CLI::App& app) {
  auto* sub = app.add_subcommand("info", "Print version, build options, CUDA and library versions, devices");
  auto json = std::make_shared<bool>(false);
  auto mem = std::make_shared<MemoryOptions>();
  sub->add_flag("--json", *json, "Print as JSON");
  sub->add_flag("--memory", mem->memory,
                "Print the memory account of training --config instead: every tensor, bytes per sample, total");
  sub->add_option("--config", mem->config, "Training config (TOML), with --memory");
  sub->add_option("--micro-batch", mem->micro_batch, "Micro-batch of the account (default: the config's train.micro_batch)");
  sub->add_option("--set", mem->set, "Override a config key, KEY=VALUE (repeatable), with --memory");
  sub->callback([json, mem] {
    if (mem->memory) return print_memory(*mem, *json);
    if (!mem->config.empty() || mem->micro_batch != 0 || !mem->set.empty())
      throw UsageError("info: --config, --micro-batch and --set go with --memory");
    auto j = system_info();
    if (*json) {
      std::cout << j.dump(2) << std::endl;
      return;
    }
    auto val = [](const nlohmann::json& v) -> std::string {
      if (v.is_string()) return v.get<std::string>();
      if (v.is_object() && v.contains("version") && !v["version"].is_null())
        return v["version"].get<std::string>() + (v.contains("library") ? " (" + v["library"].get<std::string>() + ")" : "");
      if (v.is_object() && v.contains("why")) return "none: " + v["why"].get<std::string>();
      return v.dump();
    };
    std::cout << "sptrain " << j["version"].get<std::string>() << "\n"
              << "build:        CUDA backend " << (j["build"]["cuda_backend"].get<bool>() ? "on" : "off");
    if (j["build"].contains("cuda_toolkit")) std::cout << " (toolkit " << j["build"]["cuda_toolkit"].get<std::string>() << ")";
    std::cout << ", " << j["build"]["compiler"].get<std::string>() << ", OpenMP " << j["build"]["openmp"] << "\n";
    if (j.contains("cuda_runtime")) std::cout << "CUDA runtime: " << val(j["cuda_runtime"]) << "\n";
    if (j.contains("cuda_driver")) std::cout << "CUDA driver:  " << val(j["cuda_driver"]) << "\n";
    if (j.contains("curand")) std::cout << "cuRAND:       " << val(j["curand"]) << "\n";
    std::cout << "cuDNN:        " << val(j["cudnn"]) << "\n"
              << "cuBLAS:       " << val(j["cublas"]) << "\n"
              << "CPU threads:  " << j["cpu_threads"] << "\n"
              << "devices:      ";
    if (j["devices"].empty()) std::cout << "none (" << j["devices_why_none"].get<std::string>() << ")\n";
    for (const auto& d : j["devices"])
      std::cout << "\n  cuda:" << d["index"] << "  " << d["name"].get<std::string>() << ", compute "
                << d["compute_capability"].get<std::string>() << ", " << d["memory_gib"].get<double>() << " GiB, "
                << d["multiprocessors"] << " SMs";
    if (!j["devices"].empty()) std::cout << "\n";
  });
}

}  // namespace sptrain::cli
