// ONNX: the protobuf wire encoder against bytes derived by hand from the wire-format rules (key =
// field << 3 | wire type; varints in 7-bit groups, least significant first; fixed32 little endian;
// length-delimited = length varint + bytes) and the graph messages built on it.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "io/onnx_writer.hpp"
#include "sptrain/onnx.hpp"

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
  // data_type (2) FLOAT = 1, float_data (4) packed [1, 2], name (8) "w"}.
  onnx::Graph g("g");
  EXPECT_EQ(g.constant("w", {2}, {1.0f, 2.0f}), "w");
  EXPECT_EQ(bytes_of(g.encode()), (Bytes{0x12, 0x01, 'g', 0x2a, 0x12, 0x0a, 0x01, 0x02, 0x10, 0x01, 0x22, 0x08, 0x00,
                                         0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40, 0x42, 0x01, 'w'}));
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

}  // namespace
}  // namespace sptrain
