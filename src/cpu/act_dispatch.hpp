// Calls f with the activation as a compile-time constant, so that the per-element bodies of
// kernels/activation.cuh (a switch over Act) fold to one branch and the loops calling them
// vectorize. Same bodies, same results as a runtime switch: only where the branch is taken moves.
#pragma once
#include <type_traits>

#include <sptrain/op_kinds.hpp>

namespace sptrain::cpu {

template <Act A>
using ActConst = std::integral_constant<Act, A>;

template <class F>
decltype(auto) with_act(Act a, F&& f) {
  switch (a) {
    case Act::ReLU: return f(ActConst<Act::ReLU>{});
    case Act::ELU: return f(ActConst<Act::ELU>{});
    case Act::LeakyReLU: return f(ActConst<Act::LeakyReLU>{});
    case Act::Tanh: return f(ActConst<Act::Tanh>{});
    case Act::Sigmoid: return f(ActConst<Act::Sigmoid>{});
    case Act::Softplus: return f(ActConst<Act::Softplus>{});
    case Act::Sqrt: return f(ActConst<Act::Sqrt>{});
    case Act::Log: return f(ActConst<Act::Log>{});
    case Act::Linear: break;
  }
  return f(ActConst<Act::Linear>{});
}

}  // namespace sptrain::cpu
