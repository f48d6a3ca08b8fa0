// `sptrain export`: a trained run's model as a file other tools run (ONNX).
#include <iostream>

#include "commands.hpp"
#include "sptrain/onnx.hpp"

namespace sptrain::cli {

void add_export(CLI::App& app) {
  auto r = std::make_shared<onnx::ExportRequest>();
  auto* sub = app.add_subcommand("export", "Write a trained run's model as an ONNX file (onnxruntime, Fiji, ...)");
  sub->add_option("--run", r->run_dir, "Run directory of `sptrain train` (its best checkpoint, else the last)")->required();
  sub->add_option("--onnx", r->onnx, "Output ONNX file (input, output and feature recipe in its metadata)")->required();
  sub->add_flag("--force", r->force, "Replace an existing file");
  sub->callback([r] {
    const auto j = onnx::export_onnx(*r);
    const auto& in = j["input"];
    const auto& out = j["output"];
    std::cout << "wrote " << r->onnx << " (" << j["bytes"].get<int64_t>() << " bytes, " << j["nodes"].get<int64_t>()
              << " nodes, opset " << j["opset"].get<int64_t>() << ") from " << j["checkpoint"].get<std::string>() << "\n"
              << "input  " << in["name"].get<std::string>() << " " << in["shape"].dump() << " float32: "
              << in["features"]["kind"].get<std::string>() << ", " << in["formula"].get<std::string>() << "\n"
              << "output " << out["name"].get<std::string>() << " " << out["shape"].dump() << " float32: "
              << out["what"].get<std::string>() << std::endl;
  });
}

}  // namespace sptrain::cli
