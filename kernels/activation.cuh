// Per-element activation bodies (Keras definitions), shared by the CPU loop (src/cpu/) and the CUDA
// kernels. The backward takes only the forward output y: every activation's derivative is a
// function of y (ReLU, LeakyReLU and ELU through the sign of y, valid for alpha >= 0), so a forward
// computed in place (y aliasing x) can still be differentiated.
#pragma once
#include <math.h>

#include <sptrain/op_kinds.hpp>

#include "hd.cuh"

namespace sptrain::ops {

inline constexpr float kLogFloor = 1e-20f;        // Act::Log input floor
inline constexpr float kLogFloorLog = -46.0517f;  // logf(kLogFloor), rounded up: below it the floor held

// alpha: ELU scale of the negative branch (Keras 1.0); LeakyReLU negative slope (Keras 0.3).
SPTRAIN_HD inline float act_forward(Act a, float alpha, float x) {
  switch (a) {
    case Act::ReLU: return x > 0.0f ? x : 0.0f;
    case Act::ELU: return x > 0.0f ? x : alpha * expm1f(x);
    case Act::LeakyReLU: return x > 0.0f ? x : alpha * x;
    case Act::Tanh: return tanhf(x);
    case Act::Sigmoid: return 1.0f / (1.0f + expf(-x));
    case Act::Softplus: return x > 20.0f ? x : log1pf(expf(x));
    case Act::Sqrt: return x >= 0.0f ? sqrtf(x) : -sqrtf(-x);
    case Act::Log: return logf(fmaxf(x, kLogFloor));
    case Act::Linear: break;
  }
  return x;
}

// dx = dy * act'(x), written through y = act(x). The derivative at x = 0 is the left one, as in
// TensorFlow: ReLU'(0) = 0, LeakyReLU'(0) = alpha, ELU'(0) = alpha.
SPTRAIN_HD inline float act_backward(Act a, float alpha, float y, float dy) {
  switch (a) {
    case Act::ReLU: return y > 0.0f ? dy : 0.0f;
    case Act::ELU: return y > 0.0f ? dy : dy * (y + alpha);
    case Act::LeakyReLU: return y > 0.0f ? dy : dy * alpha;
    case Act::Tanh: return dy * (1.0f - y * y);
    case Act::Sigmoid: return dy * y * (1.0f - y);
    case Act::Softplus: return dy * -expm1f(-y);  // sigmoid(x) = 1 - exp(-softplus(x))
    case Act::Sqrt: return 0.5f * dy / fmaxf(fabsf(y), 1e-6f);
    case Act::Log: return y > kLogFloorLog ? dy * expf(-y) : 0.0f;
    case Act::Linear: break;
  }
  return dy;
}

}  // namespace sptrain::ops
