// The protobuf wire encoder (onnx_writer.hpp) and the ONNX messages of sptrain/onnx.hpp. Field
// numbers are those of onnx.proto (the ONNX IR specification); only the fields written are named.
#include "io/onnx_writer.hpp"

#include <cstring>

#include "sptrain/error.hpp"
#include "sptrain/info.hpp"
#include "sptrain/onnx.hpp"

namespace sptrain {

namespace pb {

void Writer::varint(uint64_t v) {
  while (v >= 0x80) {
    b_.push_back(char(uint8_t(v) | 0x80));
    v >>= 7;
  }
  b_.push_back(char(uint8_t(v)));
}

namespace {
void put_le32(std::string& b, float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  for (int i = 0; i < 4; ++i) b.push_back(char(uint8_t(u >> (8 * i))));
}
}  // namespace

void Writer::float_field(uint32_t field, float v) {
  key(field, kFixed32);
  put_le32(b_, v);
}

void Writer::bytes_field(uint32_t field, std::string_view s) {
  key(field, kLengthDelimited);
  varint(s.size());
  b_.append(s.data(), s.size());
}

void Writer::packed_floats(uint32_t field, const float* v, size_t n) {
  key(field, kLengthDelimited);
  varint(uint64_t(n) * 4);
  b_.reserve(b_.size() + n * 4);
  for (size_t i = 0; i < n; ++i) put_le32(b_, v[i]);
}

void Writer::packed_ints(uint32_t field, const std::vector<int64_t>& v) {
  Writer body;
  for (int64_t x : v) body.varint(uint64_t(x));
  bytes_field(field, body.bytes());
}

}  // namespace pb

namespace onnx {

namespace {

// onnx.proto field numbers.
namespace model_f {  // ModelProto
constexpr uint32_t ir_version = 1, producer_name = 2, producer_version = 3, doc_string = 6, graph = 7, opset_import = 8,
                   metadata_props = 14;
}
namespace opset_f {  // OperatorSetIdProto
constexpr uint32_t domain = 1, version = 2;
}
namespace entry_f {  // StringStringEntryProto
constexpr uint32_t key = 1, value = 2;
}
namespace graph_f {  // GraphProto
constexpr uint32_t node = 1, name = 2, initializer = 5, input = 11, output = 12;
}
namespace node_f {  // NodeProto
constexpr uint32_t input = 1, output = 2, name = 3, op_type = 4, attribute = 5;
}
namespace attr_f {  // AttributeProto, and its AttributeType values
constexpr uint32_t name = 1, f = 2, i = 3, s = 4, ints = 8, type = 20;
constexpr int64_t FLOAT = 1, INT = 2, STRING = 3, INTS = 7;
}  // namespace attr_f
namespace tensor_f {  // TensorProto, and its DataType values
constexpr uint32_t dims = 1, data_type = 2, float_data = 4, int64_data = 7, name = 8;
constexpr int64_t FLOAT = 1, INT64 = 7;
}  // namespace tensor_f
namespace value_f {  // ValueInfoProto; TypeProto; TypeProto.Tensor; TensorShapeProto; its Dimension
constexpr uint32_t name = 1, type = 2, doc_string = 3;
constexpr uint32_t type_tensor = 1;
constexpr uint32_t tensor_elem_type = 1, tensor_shape = 2;
constexpr uint32_t shape_dim = 1;
constexpr uint32_t dim_value = 1, dim_param = 2;
}  // namespace value_f

std::string value_info(const std::string& name, const std::vector<Dim>& dims, const std::string& doc) {
  pb::Writer shape;
  for (const Dim& d : dims) {
    pb::Writer dm;
    if (d.param.empty()) dm.int_field(value_f::dim_value, d.value);
    else dm.bytes_field(value_f::dim_param, d.param);
    shape.message(value_f::shape_dim, dm);
  }
  pb::Writer tensor;
  tensor.int_field(value_f::tensor_elem_type, tensor_f::FLOAT);
  tensor.message(value_f::tensor_shape, shape);
  pb::Writer type;
  type.message(value_f::type_tensor, tensor);
  pb::Writer v;
  v.bytes_field(value_f::name, name);
  v.message(value_f::type, type);
  if (!doc.empty()) v.bytes_field(value_f::doc_string, doc);
  return v.bytes();
}

int64_t element_count(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

}  // namespace

namespace {
Attr named(const std::string& name, Attr::Kind kind) {
  Attr a;
  a.name = name;
  a.kind = kind;
  return a;
}
}  // namespace

Attr attr_int(const std::string& name, int64_t v) {
  Attr a = named(name, Attr::Kind::Int);
  a.i = v;
  return a;
}
Attr attr_float(const std::string& name, float v) {
  Attr a = named(name, Attr::Kind::Float);
  a.f = v;
  return a;
}
Attr attr_ints(const std::string& name, std::vector<int64_t> v) {
  Attr a = named(name, Attr::Kind::Ints);
  a.ints = std::move(v);
  return a;
}
Attr attr_string(const std::string& name, std::string v) {
  Attr a = named(name, Attr::Kind::String);
  a.s = std::move(v);
  return a;
}

std::string Graph::unique(const std::string& hint) {
  std::string n = hint;
  for (int k = 1; used_.count(n); ++k) n = hint + "_" + std::to_string(k);
  used_.insert(n);
  return n;
}

void Graph::node(const std::string& op, const std::vector<std::string>& inputs, const std::vector<std::string>& outputs,
                 const std::vector<Attr>& attrs) {
  pb::Writer n;
  for (const auto& s : inputs) n.bytes_field(node_f::input, s);
  for (const auto& s : outputs) {
    n.bytes_field(node_f::output, s);
    used_.insert(s);
  }
  n.bytes_field(node_f::name, outputs.empty() ? op : outputs[0]);
  n.bytes_field(node_f::op_type, op);
  for (const Attr& a : attrs) {
    pb::Writer w;
    w.bytes_field(attr_f::name, a.name);
    switch (a.kind) {
      case Attr::Kind::Int: w.int_field(attr_f::i, a.i), w.int_field(attr_f::type, attr_f::INT); break;
      case Attr::Kind::Float: w.float_field(attr_f::f, a.f), w.int_field(attr_f::type, attr_f::FLOAT); break;
      case Attr::Kind::Ints: w.packed_ints(attr_f::ints, a.ints), w.int_field(attr_f::type, attr_f::INTS); break;
      case Attr::Kind::String: w.bytes_field(attr_f::s, a.s), w.int_field(attr_f::type, attr_f::STRING); break;
    }
    n.message(node_f::attribute, w);
  }
  nodes_.push_back(n.bytes());
}

std::string Graph::initializer(const std::string& hint, const std::vector<int64_t>& dims, int64_t data_type,
                               size_t count, const std::string& data_field) {
  if (element_count(dims) != int64_t(count))
    throw std::logic_error("onnx constant " + hint + ": " + std::to_string(count) + " values for its shape");
  const std::string name = unique(hint);
  pb::Writer t;
  t.packed_ints(tensor_f::dims, dims);
  t.int_field(tensor_f::data_type, data_type);
  t.bytes_field(tensor_f::name, name);
  initializers_.push_back(t.bytes() + data_field);  // fields may come in any order
  return name;
}

std::string Graph::constant(const std::string& hint, const std::vector<int64_t>& dims, const std::vector<float>& values) {
  pb::Writer d;
  d.packed_floats(tensor_f::float_data, values.data(), values.size());
  return initializer(hint, dims, tensor_f::FLOAT, values.size(), d.bytes());
}

std::string Graph::constant_int64(const std::string& hint, const std::vector<int64_t>& dims,
                                  const std::vector<int64_t>& values) {
  pb::Writer d;
  d.packed_ints(tensor_f::int64_data, values);
  return initializer(hint, dims, tensor_f::INT64, values.size(), d.bytes());
}

void Graph::input(const std::string& name, const std::vector<Dim>& dims, const std::string& doc) {
  used_.insert(name);
  inputs_.push_back(value_info(name, dims, doc));
}

void Graph::output(const std::string& name, const std::vector<Dim>& dims, const std::string& doc) {
  outputs_.push_back(value_info(name, dims, doc));
}

std::string Graph::encode() const {
  pb::Writer g;
  for (const auto& n : nodes_) g.bytes_field(graph_f::node, n);
  g.bytes_field(graph_f::name, name_);
  for (const auto& t : initializers_) g.bytes_field(graph_f::initializer, t);
  for (const auto& v : inputs_) g.bytes_field(graph_f::input, v);
  for (const auto& v : outputs_) g.bytes_field(graph_f::output, v);
  return g.bytes();
}

std::string encode_model(const Graph& g, const std::vector<std::pair<std::string, std::string>>& metadata,
                         const std::string& doc) {
  pb::Writer m;
  m.int_field(model_f::ir_version, kIrVersion);
  m.bytes_field(model_f::producer_name, "sptrain");
  m.bytes_field(model_f::producer_version, version());
  if (!doc.empty()) m.bytes_field(model_f::doc_string, doc);
  m.bytes_field(model_f::graph, g.encode());
  pb::Writer opset;
  opset.bytes_field(opset_f::domain, "");
  opset.int_field(opset_f::version, kOpset);
  m.message(model_f::opset_import, opset);
  for (const auto& [k, v] : metadata) {
    pb::Writer e;
    e.bytes_field(entry_f::key, k);
    e.bytes_field(entry_f::value, v);
    m.message(model_f::metadata_props, e);
  }
  return m.bytes();
}

}  // namespace onnx

}  // namespace sptrain
