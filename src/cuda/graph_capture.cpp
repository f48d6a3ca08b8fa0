// CUDA graphs for the training step: run_captured() runs a step sequence eagerly once (first use
// builds cuDNN plans, sizes the workspace and scratch), captures it into a graph on the second
// use, and replays the instantiated graph afterwards.
#include <cstdio>
#include <map>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "cuda/check.hpp"
#include "cuda/cuda_backend.hpp"

namespace sptrain::cuda {

struct CudaBackend::Graphs {
  struct Entry {
    int runs = 0;
    cudaGraphExec_t exec = nullptr;
    uint64_t generation = 0;  // the workspace generation the graph was captured at
  };
  std::map<int, Entry> entries;
  bool disabled = false;  // SPTRAIN_CUDA_GRAPHS=0, or a capture failed once
  ~Graphs() {
    for (auto& [k, e] : entries)
      if (e.exec) cudaGraphExecDestroy(e.exec);  // errors ignored: destructors never throw
  }
};

void CudaBackend::run_captured(int key, const std::function<void()>& ops) {
  if (!graphs_) {
    graphs_ = std::make_shared<Graphs>();
    const char* env = std::getenv("SPTRAIN_CUDA_GRAPHS");
    graphs_->disabled = env && std::string(env) == "0";
  }
  Graphs::Entry& e = graphs_->entries[key];
  if (e.exec && e.generation != ws_.generation()) {  // scratch moved since the capture: capture again
    SPTRAIN_CUDA_CHECK(cudaStreamSynchronize(stream_));
    cudaGraphExecDestroy(e.exec);
    e.exec = nullptr;
    e.runs = 0;
  }
  if (e.exec) {
    SPTRAIN_CUDA_CHECK(cudaGraphLaunch(e.exec, stream_));
    return;
  }
  if (graphs_->disabled || e.runs++ == 0) {  // eager: first use (plans, workspace) or graphs off
    ops();
    return;
  }
  cudaGraph_t graph = nullptr;
  SPTRAIN_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
  bool threw = false;
  try {
    ops();
  } catch (const std::exception& ex) {  // nothing ran during capture: retried eagerly below
    threw = true;
    std::fprintf(stderr, "note: capturing the training step failed: %s\n", ex.what());
  }
  const cudaError_t end = cudaStreamEndCapture(stream_, &graph);
  if (threw || end != cudaSuccess || !graph) {
    // A library call that cannot be captured (some cuDNN engines): run eagerly from now on.
    cudaGetLastError();
    if (graph) cudaGraphDestroy(graph);
    graphs_->disabled = true;
    std::fprintf(stderr, "note: CUDA graph capture failed (%s); the training step runs without graphs\n",
                 cudaGetErrorString(end));
    ops();
    return;
  }
  e.generation = ws_.generation();
  const cudaError_t inst = cudaGraphInstantiate(&e.exec, graph, 0);
  cudaGraphDestroy(graph);
  SPTRAIN_CUDA_CHECK(inst);
  SPTRAIN_CUDA_CHECK(cudaGraphLaunch(e.exec, stream_));
}

void CudaBackend::memory_info(size_t& free_bytes, size_t& total_bytes) {
  SPTRAIN_CUDA_CHECK(cudaSetDevice(ordinal_));
  SPTRAIN_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
}

}  // namespace sptrain::cuda
