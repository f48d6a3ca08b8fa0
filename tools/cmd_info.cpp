// `sptrain info`: version, build options, CUDA runtime and driver, devices, libraries, CPU threads.
#include <iostream>

#include "commands.hpp"
#include "sptrain/info.hpp"

namespace sptrain::cli {

void add_info(CLI::App& app) {
  auto* sub = app.add_subcommand("info", "Print version, build options, CUDA and library versions, devices");
  auto json = std::make_shared<bool>(false);
  sub->add_flag("--json", *json, "Print as JSON");
  sub->callback([json] {
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
