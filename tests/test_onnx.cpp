// ONNX export: the protobuf wire encoder against bytes derived by hand from the wire-format rules
// (key = field << 3 | wire type; varints in 7-bit groups, least significant first; fixed32 little
// endian; length-delimited = length varint + bytes), the graph messages built on it, a layer
// without an ONNX form, and the export of a trained run (written atomically). Running the exported
// models in onnxruntime against sptrain's outputs is tests/python/test_onnx.py.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "io/onnx_writer.hpp"
#include "sptrain/error.hpp"
#include "sptrain/layer.hpp"
#include "sptrain/onnx.hpp"
#include "temp_dir.hpp"
#include "tiny_run.hpp"
#include "usage_error.hpp"

namespace sptrain {
namespace {

using Bytes = std::vector<int>;

Bytes bytes_of(const std::string& s) {
  Bytes b;
  for (char c : s) b.push_back(int(uint8_t(c)));
  return b;
}

Bytes varint(uint64_t v) {
  pb::Writer w;
  w.varint(v);
  return bytes_of(w.bytes());
}

TEST(OnnxWire, VarintsAtTheGroupEdges) {
  EXPECT_EQ(varint(0), (Bytes{0x00}));
  EXPECT_EQ(varint(1), (Bytes{0x01}));
  EXPECT_EQ(varint(127), (Bytes{0x7f}));             // the largest one-byte value
  EXPECT_EQ(varint(128), (Bytes{0x80, 0x01}));       // 0b1'0000000: low group 0 with the high bit, then 1
  EXPECT_EQ(varint(300), (Bytes{0xac, 0x02}));       // 300 = 2 * 128 + 44; 44 | 0x80 = 0xac
  EXPECT_EQ(varint(16383), (Bytes{0xff, 0x7f}));     // 2^14 - 1
  EXPECT_EQ(varint(16384), (Bytes{0x80, 0x80, 0x01}));
  EXPECT_EQ(varint(uint64_t(1) << 63), (Bytes{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}));
  EXPECT_EQ(varint(std::numeric_limits<uint64_t>::max()),
            (Bytes{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
}

TEST(OnnxWire, FieldsOfEachWireType) {
  pb::Writer a;
  a.int_field(1, 150);  // key 1 << 3 | 0 = 0x08; 150 = 0x96 0x01
  EXPECT_EQ(bytes_of(a.bytes()), (Bytes{0x08, 0x96, 0x01}));
  pb::Writer neg;
  neg.int_field(2, -1);  // int64 -1: the 64-bit two's complement, ten bytes
  EXPECT_EQ(bytes_of(neg.bytes()), (Bytes{0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
  pb::Writer big_field;
  big_field.int_field(20, 2);  // key 20 << 3 = 160: two bytes 0xa0 0x01
  EXPECT_EQ(bytes_of(big_field.bytes()), (Bytes{0xa0, 0x01, 0x02}));
  pb::Writer f;
  f.float_field(2, 1.0f);  // key 2 << 3 | 5 = 0x15; 1.0f = 0x3f800000 little endian
  EXPECT_EQ(bytes_of(f.bytes()), (Bytes{0x15, 0x00, 0x00, 0x80, 0x3f}));
  pb::Writer s;
  s.bytes_field(2, "hi");  // key 2 << 3 | 2 = 0x12, length 2
  EXPECT_EQ(bytes_of(s.bytes()), (Bytes{0x12, 0x02, 'h', 'i'}));
  pb::Writer empty;
  empty.bytes_field(16, "");  // key 16 << 3 | 2 = 130 = 0x82 0x01, length 0
  EXPECT_EQ(bytes_of(empty.bytes()), (Bytes{0x82, 0x01, 0x00}));
}

TEST(OnnxWire, PackedAndNested) {
  pb::Writer fl;
  const float v[] = {1.0f, -2.0f};  // -2.0f = 0xc0000000
  fl.packed_floats(4, v, 2);        // key 4 << 3 | 2 = 0x22, 8 bytes
  EXPECT_EQ(bytes_of(fl.bytes()), (Bytes{0x22, 0x08, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0}));
  pb::Writer in;
  in.packed_ints(1, {3, 270, -1});  // 03 | 8e 02 | ten bytes of -1: 13 bytes
  EXPECT_EQ(bytes_of(in.bytes()),
            (Bytes{0x0a, 0x0d, 0x03, 0x8e, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
  pb::Writer dim, shape, type;
  dim.int_field(1, 100);      // TensorShapeProto.Dimension.dim_value = 100: 08 64
  shape.message(1, dim);      // TensorShapeProto.dim: 0a 02 08 64
  type.message(2, shape);     // nested once more: 12 04 0a 02 08 64
  EXPECT_EQ(bytes_of(type.bytes()), (Bytes{0x12, 0x04, 0x0a, 0x02, 0x08, 0x64}));
  // A message longer than 127 bytes: a two-byte length.
  pb::Writer long_body, outer;
  long_body.bytes_field(1, std::string(200, 'x'));  // 0a c8 01 + 200 bytes = 203 bytes
  outer.message(3, long_body);
  const Bytes b = bytes_of(outer.bytes());
  ASSERT_EQ(b.size(), 3u + 203u);
  EXPECT_EQ((Bytes{b[0], b[1], b[2], b[3], b[4], b[5]}), (Bytes{0x1a, 0xcb, 0x01, 0x0a, 0xc8, 0x01}));
}

TEST(OnnxWire, GraphMessages) {
  // One initializer: GraphProto.name (2) "g", initializer (5) TensorProto{dims (1) packed [2],
  // data_type (2) FLOAT = 1, name (8) "w", float_data (4) packed [1, 2]}.
  onnx::Graph g("g");
  EXPECT_EQ(g.constant("w", {2}, {1.0f, 2.0f}), "w");
  EXPECT_EQ(bytes_of(g.encode()), (Bytes{0x12, 0x01, 'g', 0x2a, 0x12, 0x0a, 0x01, 0x02, 0x10, 0x01, 0x42, 0x01, 'w',
                                         0x22, 0x08, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40}));
  // One node: NodeProto{input (1) "x", output (2) "y", name (3) "y", op_type (4) "Softmax",
  // attribute (5) AttributeProto{name (1) "axis", i (3) 1, type (20) INT = 2}} before the name.
  onnx::Graph h("g");
  h.node("Softmax", {"x"}, {"y"}, {onnx::attr_int("axis", 1)});
  EXPECT_EQ(bytes_of(h.encode()),
            (Bytes{0x0a, 0x1f, 0x0a, 0x01, 'x', 0x12, 0x01, 'y', 0x1a, 0x01, 'y', 0x22, 0x07, 'S', 'o', 'f', 't', 'm',
                   'a', 'x', 0x2a, 0x0b, 0x0a, 0x04, 'a', 'x', 'i', 's', 0x18, 0x01, 0xa0, 0x01, 0x02, 0x12, 0x01, 'g'}));
  // Names stay unique: a second "w", and a node's output, are not handed out again.
  EXPECT_EQ(g.constant("w", {1}, {3.0f}), "w_1");
  EXPECT_EQ(h.unique("y"), "y_1");
  EXPECT_THROW(g.constant("v", {3}, {1.0f}), std::logic_error);  // values for another shape
}

TEST(OnnxWire, ModelHeader) {
  onnx::Graph g("g");
  const std::string m = onnx::encode_model(g, {{"k", "v"}});
  const Bytes b = bytes_of(m);
  // ir_version (1) = 8 first, then producer_name (2) "sptrain".
  ASSERT_GE(b.size(), 11u);
  EXPECT_EQ((Bytes{b[0], b[1], b[2], b[3]}), (Bytes{0x08, 0x08, 0x12, 0x07}));
  EXPECT_EQ(m.substr(4, 7), "sptrain");
  // The opset import (8) {domain (1) "", version (2) 17}, then metadata_props (14) {key "k", value "v"}.
  EXPECT_NE(m.find(std::string("\x42\x04\x0a\x00\x10\x11", 6)), std::string::npos);
  EXPECT_EQ(m.substr(m.size() - 8), std::string("\x72\x06\x0a\x01k\x12\x01v", 8));
}

// A layer registered without an ONNX form: y = x.
class CopyLayer : public Layer {
 public:
  std::string keras_name() const override { return "Copy"; }
  LayerShape infer(const LayerSpec&, const std::vector<Shape>& in) const override { return {in[0], 0, 0}; }
  void forward(const LayerSpec&, const LayerPass& p) const override {
    p.be.copy2d(p.n, p.out.T * p.out.C, p.x[0], p.out.T * p.out.C, p.y, p.out.T * p.out.C);
  }
  void backward(const LayerSpec&, const LayerPass& p) const override {
    if (p.dx[0]) p.be.add2d(p.n, p.out.T * p.out.C, p.dy, p.out.T * p.out.C, p.dx[0], p.out.T * p.out.C);
  }
};

const bool kRegistered = [] {
  register_layer("onnx_test_copy", std::make_shared<CopyLayer>());
  return true;
}();

const char* const kCopyConfig =
    "[data]\nspec = \"spec.toml\"\nval_size = 16\ntest_size = 16\n[train]\nbatch = 16\n"
    "steps_per_epoch = 1\nepochs = 1\nloss = \"mape\"\nlr = 1e-3\n"
    "[layer.copy]\ntype = \"onnx_test_copy\"\ninputs = [\"input\"]\n"
    "[layer.f]\ntype = \"flatten\"\ninputs = [\"copy\"]\n"
    "[layer.s]\ntype = \"dense\"\ninputs = [\"f\"]\nunits = 1\nactivation = \"sqrt\"\n";

std::string read_all(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream o;
  o << f.rdbuf();
  return o.str();
}

bool has_temporaries(const std::filesystem::path& dir) {
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) return true;
  return false;
}

TEST(OnnxExport, ALayerWithoutAnOnnxFormIsNamed) {
  ASSERT_TRUE(kRegistered);
  ModelSpec m;
  m.T_in = 10;
  m.C_in = 1;
  m.layers.push_back(make_layer("input", "input", {}));
  m.layers.push_back(make_layer("mine", "onnx_test_copy", {"input"}));
  const std::string msg = test::usage_error([&] { onnx::model_graph(m, {}, {}, false); });
  EXPECT_HAS(msg, "layer.mine");
  EXPECT_HAS(msg, "'onnx_test_copy'");
  EXPECT_HAS(msg, "no ONNX form");
}

// Each built-in layer writes at least one node (the report's models cover convolutions with each
// padding, pooling, BatchNorm, concatenation on both axes, flatten and dense; the small graph the
// rest), plus the output's transpose.
TEST(OnnxExport, EveryBuiltInLayerHasAnOnnxForm) {
  auto graph_of = [](const ModelSpec& m, bool any_length) {
    const ModelInfo info = analyze(m);
    return onnx::model_graph(m, std::vector<float>(size_t(info.trainable), 0.5f),
                             std::vector<float>(size_t(info.non_trainable), 1.0f), any_length);
  };
  for (const char* zoo : {"model1", "model2"}) {
    const ModelSpec m = zoo_model(zoo, 100, 1, 1, true);
    EXPECT_GE(graph_of(m, std::string(zoo) == "model2").nodes(), m.layers.size() + 1) << zoo;
  }
  ModelSpec m;
  m.T_in = 20;
  m.C_in = 2;
  m.layers.push_back(make_layer("input", "input", {}));
  LayerSpec act = make_layer("act", "activation", {"input"});
  act.activation = Act::Log;
  m.layers.push_back(act);
  LayerSpec r = make_layer("r", "reshape", {"act"});
  r.reshape_T = 10;
  r.reshape_C = 4;
  m.layers.push_back(r);
  m.layers.push_back(make_layer("p", "softmax", {"r"}));
  EXPECT_EQ(graph_of(m, false).nodes(), 1u + 2u + 3u + 1u + 1u);  // transpose, max + log, reshape's three, softmax, transpose
  EXPECT_THROW(onnx::model_graph(m, {1.0f}, {}, false), UsageError);  // weights for another model
}

TEST(OnnxExport, ARunIsWrittenWholeOrNotAtAll) {
  ASSERT_TRUE(kRegistered);
  test::TempDir d("onnx");
  std::filesystem::create_directories(d.path / "ok");
  std::filesystem::create_directories(d.path / "bad");
  test::train_run(d.path / "ok", test::kOneStepSpec, test::kOneStepConfig);
  test::train_run(d.path / "bad", test::kOneStepSpec, kCopyConfig);
  const auto out = d.path / "m.onnx";
  onnx::ExportRequest r{(d.path / "ok" / "run").string(), out.string(), false};
  const auto j = onnx::export_onnx(r);
  const std::string good = read_all(out);
  EXPECT_EQ(int64_t(good.size()), j["bytes"].get<int64_t>());
  EXPECT_EQ(good.substr(0, 2), "\x08\x08");  // ir_version 8
  EXPECT_EQ(j["input"]["shape"], nlohmann::json::parse(R"(["N", 29, 1])"));  // 30 positions: 29 squared displacements
  EXPECT_EQ(j["output"]["shape"], nlohmann::json::parse(R"(["N", 1, 1])"));
  EXPECT_EQ(j["checkpoint"], "best.safetensors");
  // An existing file is kept without --force; with it, a model that cannot be exported leaves the
  // old file as it was and no temporary behind.
  EXPECT_HAS(test::usage_error([&] { onnx::export_onnx(r); }), "exists");
  onnx::ExportRequest bad{(d.path / "bad" / "run").string(), out.string(), true};
  EXPECT_HAS(test::usage_error([&] { onnx::export_onnx(bad); }), "layer.copy");
  EXPECT_EQ(read_all(out), good);
  EXPECT_FALSE(has_temporaries(d.path));
  // The same run exports to the same bytes.
  r.force = true;
  onnx::export_onnx(r);
  EXPECT_EQ(read_all(out), good);
}

}  // namespace
}  // namespace sptrain
