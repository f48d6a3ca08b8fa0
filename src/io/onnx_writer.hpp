// The protocol-buffers wire format, as far as an ONNX model needs it (writing only): each field is
// a key varint (field number << 3 | wire type) followed by a varint (wire type 0: integers, enums,
// booleans), four little-endian bytes (type 5: float) or a length varint and that many bytes (type
// 2: strings, bytes, nested messages, packed repeated numbers). sptrain/onnx.hpp builds the ONNX
// messages (ModelProto, GraphProto, NodeProto, TensorProto, ...) with it.
//
//   pb::Writer dim;  dim.int_field(1, 100);              // TensorShapeProto.Dimension dim_value
//   pb::Writer shape; shape.message(1, dim);             // 0a 02 08 64
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sptrain::pb {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

class Writer {
 public:
  // Base-128, least significant group first, the high bit set on every byte but the last.
  void varint(uint64_t v);
  void key(uint32_t field, WireType type) { varint((uint64_t(field) << 3) | type); }
  // int32, int64 and enum fields: a negative value is its 64-bit two's complement (ten bytes), as
  // protobuf encodes it for both widths.
  void int_field(uint32_t field, int64_t v) {
    key(field, kVarint);
    varint(uint64_t(v));
  }
  void float_field(uint32_t field, float v);
  void bytes_field(uint32_t field, std::string_view s);  // string, bytes
  void message(uint32_t field, const Writer& m) { bytes_field(field, m.bytes()); }
  // Packed repeated fields: one length-delimited field holding the values back to back.
  void packed_floats(uint32_t field, const float* v, size_t n);
  void packed_ints(uint32_t field, const std::vector<int64_t>& v);
  const std::string& bytes() const { return b_; }
  size_t size() const { return b_.size(); }

 private:
  std::string b_;
};

}  // namespace sptrain::pb
