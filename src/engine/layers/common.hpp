// Pieces shared by the built-in layers: option parsing (positive sizes, activations,
// initializers), weight initialization, the fused activation of Conv1D / Dense, and the factories
// that the registry lists.
#pragma once
#include <memory>
#include <string>

#include "sptrain/layer.hpp"
#include "sptrain/onnx.hpp"

namespace sptrain::layers {

// "layer.NAME.k", for errors of shape inference.
inline std::string key(const LayerSpec& l, const std::string& k) { return "layer." + l.name + "." + k; }

// Channels (filters, units) up to kMaxChannels, window sizes (kernel, stride, dilation, pool) up
// to kMaxWindow: checked before they are narrowed to int.
int positive_option(const LayerTable& t, const std::string& k, int64_t def);
// A size already parsed (or set by the zoo) that must be >= 1.
void require_positive(const LayerSpec& l, int v, const std::string& k);
// `activation` (default linear) and `alpha` (ELU 1.0, LeakyReLU 0.3).
void parse_activation(const LayerTable& t, LayerSpec& l);
// `init` (default glorot_uniform).
void parse_init(const LayerTable& t, LayerSpec& l);
// Fills nw weights of a layer with fan_in and fan_out by init.
void init_weights(const LayerInit& c, Init init, int64_t fan_in, int64_t fan_out, int64_t nw);

// ONNX export (Layer::export_onnx): y = act(x) as nodes of e.g (an Identity for Linear).
void onnx_activation(const LayerExport& e, Act act, float alpha, const std::string& x, const std::string& y);
// A convolution over the time axis of (N, C, T) with weights (F, C, K) from sptrain's (K, C, F)
// slab w and an optional bias, writing z.
void onnx_conv(const LayerSpec& l, const LayerExport& e, int K, int F, const float* w, const float* b,
               std::vector<onnx::Attr> attrs, const std::string& z);
// The fused activation of Conv1D and Dense: the tensor their linear part writes (e.y itself when
// the activation is linear) and the activation node after it.
std::string onnx_pre_activation(const LayerSpec& l, const LayerExport& e);
void onnx_fused_activation(const LayerSpec& l, const LayerExport& e, const std::string& z);

// The built-in layers, in the order the registry lists them.
std::shared_ptr<const Layer> input_layer();
std::shared_ptr<const Layer> conv1d_layer();
std::shared_ptr<const Layer> dense_layer();
std::shared_ptr<const Layer> activation_layer();
std::shared_ptr<const Layer> maxpool1d_layer();
std::shared_ptr<const Layer> global_maxpool1d_layer();
std::shared_ptr<const Layer> batchnorm_layer();
std::shared_ptr<const Layer> concatenate_layer();
std::shared_ptr<const Layer> flatten_layer();
std::shared_ptr<const Layer> reshape_layer();
std::shared_ptr<const Layer> softmax_layer();

}  // namespace sptrain::layers
