// ONNX export: a graph builder that each Layer writes its nodes into (Layer::export_onnx), the
// encoding of a whole model (ModelProto, opset 17, IR version 8), and the export of a trained run
// (`sptrain export --onnx`, Run.export_onnx in Python). docs/export.md describes what is exported.
//
//   onnx::Graph g("model");
//   g.input("x", {onnx::Dim::named("N"), onnx::Dim::fixed(99), onnx::Dim::fixed(1)});
//   const std::string w = g.constant("w", {4, 1, 3}, weights);
//   g.node("Conv", {"x", w}, {"y"}, {onnx::attr_ints("pads", {1, 1})});
//   g.output("y", {...});
//   std::string bytes = onnx::encode_model(g, {{"key", "value"}});
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sptrain/model.hpp"

namespace sptrain::onnx {

inline constexpr int64_t kOpset = 17;     // the default domain's operator set
inline constexpr int64_t kIrVersion = 8;  // the IR version of opset 17 (ONNX 1.12)

// A node attribute (AttributeProto) of one of the kinds the exporter uses.
struct Attr {
  enum class Kind { Int, Float, Ints, String };
  std::string name;
  Kind kind = Kind::Int;
  int64_t i = 0;
  float f = 0;
  std::vector<int64_t> ints;
  std::string s;
};
Attr attr_int(const std::string& name, int64_t v);
Attr attr_float(const std::string& name, float v);
Attr attr_ints(const std::string& name, std::vector<int64_t> v);
Attr attr_string(const std::string& name, std::string v);

// One dimension of a graph input or output: a size, or a name (dim_param) for a size given at run time.
struct Dim {
  int64_t value = -1;
  std::string param;
  static Dim fixed(int64_t v) { return {v, ""}; }
  static Dim named(std::string p) { return {-1, std::move(p)}; }
};

// A float32 graph under construction. Nodes are kept in the order they are added, which must be
// topological (each node's inputs made by earlier nodes, constants or graph inputs).
class Graph {
 public:
  explicit Graph(std::string name) : name_(std::move(name)) {}
  // A tensor name not used yet: hint itself, else hint_1, hint_2, ...
  std::string unique(const std::string& hint);
  void node(const std::string& op, const std::vector<std::string>& inputs, const std::vector<std::string>& outputs,
            const std::vector<Attr>& attrs = {});
  // An initializer (float32 or int64) named unique(hint); returns its name.
  std::string constant(const std::string& hint, const std::vector<int64_t>& dims, const std::vector<float>& values);
  std::string constant_int64(const std::string& hint, const std::vector<int64_t>& dims, const std::vector<int64_t>& values);
  void input(const std::string& name, const std::vector<Dim>& dims, const std::string& doc = "");
  void output(const std::string& name, const std::vector<Dim>& dims, const std::string& doc = "");
  size_t nodes() const { return nodes_.size(); }
  // The GraphProto's bytes.
  std::string encode() const;

 private:
  // An initializer of `count` values of an onnx.proto data type, its data field already encoded.
  std::string initializer(const std::string& hint, const std::vector<int64_t>& dims, int64_t data_type, size_t count,
                          const std::string& data_field);
  std::string name_;
  std::set<std::string> used_;
  std::vector<std::string> nodes_, initializers_, inputs_, outputs_;  // encoded messages
};

// ModelProto bytes: IR version kIrVersion, opset kOpset, producer "sptrain" and the library's
// version, doc_string, and metadata_props (key, value) in order.
std::string encode_model(const Graph& g, const std::vector<std::pair<std::string, std::string>>& metadata,
                         const std::string& doc = "");

// The graph of a model with its weights (host, in the model's slab order): input "input" (N, T_in,
// C_in) and output "output" (N, T_out, C_out), both in sptrain's (batch, time, channel) layout,
// with (N, C, T) inside. any_length: T_in (and T_out) are dim_params "T" and "T_out" instead of
// fixed sizes. Throws UsageError naming the first layer that has no ONNX form.
Graph model_graph(const ModelSpec& spec, const std::vector<float>& params, const std::vector<float>& state,
                  bool any_length);

struct ExportRequest {
  std::string run_dir;  // trained run of `sptrain train` (best checkpoint, else last)
  std::string onnx;     // output path
  bool force = false;   // replace an existing file
};
// Writes the run's model as an ONNX file (atomically: all of it or nothing), with metadata_props
// "sptrain" (the JSON returned here, less the timing: input, output, features, checkpoint, label,
// the run's resolved spec and config). Returns that JSON plus "bytes" and "seconds".
nlohmann::json export_onnx(const ExportRequest& r);

}  // namespace sptrain::onnx
