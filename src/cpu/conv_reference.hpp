// Direct-loop Conv1D, the reference the BLAS path is tested against (tests/test_ops_cpu.cpp).
// Templated on the element type so tests can evaluate it in double; follows the definition in
// sptrain/backend.hpp term by term, with no im2col and no transposes. Single-threaded, slow.
#pragma once
#include <cstdint>

#include "sptrain/backend.hpp"

namespace sptrain::cpu {

// The input time read by output time t through tap k, or -1 when it falls into the padding.
inline int64_t conv1d_input_time(const Conv1dDesc& d, int64_t t, int k) {
  const int64_t s = t * d.stride + int64_t(k) * d.dilation - d.pad_left;
  return s >= 0 && s < d.T_in ? s : -1;
}

// y (N, T_out, F) = b + sum_{k, c} w[k, c, f] x[n, t*stride + k*dilation - pad_left, c]; b may be null.
template <class T>
void conv1d_forward_reference(const Conv1dDesc& d, const T* x, const T* w, const T* b, T* y) {
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t t = 0; t < d.T_out; ++t)
      for (int f = 0; f < d.F; ++f) {
        T acc = b ? b[f] : T(0);
        for (int k = 0; k < d.K; ++k) {
          const int64_t s = conv1d_input_time(d, t, k);
          if (s < 0) continue;
          for (int c = 0; c < d.C_in; ++c)
            acc += w[(int64_t(k) * d.C_in + c) * d.F + f] * x[(n * d.T_in + s) * d.C_in + c];
        }
        y[(n * d.T_out + t) * d.F + f] = acc;
      }
}

// dx (N, T_in, C_in) overwritten: each output's gradient scattered back through every tap.
template <class T>
void conv1d_backward_data_reference(const Conv1dDesc& d, const T* dy, const T* w, T* dx) {
  for (int64_t i = 0; i < int64_t(d.N) * d.T_in * d.C_in; ++i) dx[i] = T(0);
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t t = 0; t < d.T_out; ++t)
      for (int k = 0; k < d.K; ++k) {
        const int64_t s = conv1d_input_time(d, t, k);
        if (s < 0) continue;
        for (int c = 0; c < d.C_in; ++c)
          for (int f = 0; f < d.F; ++f)
            dx[(n * d.T_in + s) * d.C_in + c] += dy[(n * d.T_out + t) * d.F + f] * w[(int64_t(k) * d.C_in + c) * d.F + f];
      }
}

// dw (K, C_in, F) and db (F, may be null) accumulate.
template <class T>
void conv1d_backward_filter_reference(const Conv1dDesc& d, const T* x, const T* dy, T* dw, T* db) {
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t t = 0; t < d.T_out; ++t)
      for (int f = 0; f < d.F; ++f) {
        const T g = dy[(n * d.T_out + t) * d.F + f];
        if (db) db[f] += g;
        for (int k = 0; k < d.K; ++k) {
          const int64_t s = conv1d_input_time(d, t, k);
          if (s < 0) continue;
          for (int c = 0; c < d.C_in; ++c) dw[(int64_t(k) * d.C_in + c) * d.F + f] += g * x[(n * d.T_in + s) * d.C_in + c];
        }
      }
}

}  // namespace sptrain::cpu
