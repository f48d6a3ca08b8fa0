// All per-element and per-row bodies of the training ops (DESIGN.md rule 2): the CPU backend
// (src/cpu/) loops over them with OpenMP, the CUDA backend calls them from thin kernels.
#pragma once
#include "activation.cuh"
#include "batchnorm.cuh"
#include "loss.cuh"
#include "optim.cuh"
#include "pool.cuh"
#include "softmax.cuh"
