// The memory account of training: every tensor a Model, its optimizer and the trainer allocate in
// a backend's memory, by name, with its size at a given micro-batch and whether it grows with the
// micro-batch. The allocating code walks these same lists (Model's constructor, the optimizers'
// constructors, the trainer's), so the account is what is allocated, not an estimate beside it.
// Memory a backend keeps for itself (the CUDA backend's cuBLAS and cuDNN workspaces, the device
// batch source's simulation arrays) is not in it. Host-only header.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sptrain {

enum class TensorRole {
  Parameters,          // the trainable parameter slab
  ParameterGradients,  // its gradients (accumulated over a step's micro-batches)
  RunningStats,        // BatchNorm running statistics (non-trainable state)
  Scratch,             // the model's room for one activation, for input gradients that are added
  Activation,          // a layer's output y
  Gradient,            // the gradient of a layer's output dy (the edge the backward pass writes)
  PoolIndices,         // a pooling layer's argmax (int32)
  SavedStats,          // a BatchNorm layer's batch mean or inverse deviation, for its backward
  OptimizerState,      // an optimizer's state slab, saved in checkpoints
  OptimizerScratch,    // an optimizer's per-step scratch
  Input,               // the trainer's micro-batch of model inputs
  Targets,             // its targets
  LossGradient,        // the loss gradient with respect to the model's output
  StepScalars,         // the device step scalars (doubles)
  EvalInput,           // a chunk of inputs while a validation or test set is evaluated (transient)
  EvalTargets,         // its targets (transient)
};
// "activation", "gradient", ... (the account table's role column).
const char* role_name(TensorRole r);

// One allocation.
struct TensorAccount {
  std::string name;  // "conv_k2/y", "params", "opt_m", "train/x"
  TensorRole role = TensorRole::Scratch;
  int layer = -1;             // index in ModelSpec::layers; -1 when not one layer's
  size_t elements = 0;        // elements allocated (at least 1)
  size_t element_bytes = 4;   // sizeof the element type
  bool per_sample = false;    // elements grow in proportion to the micro-batch
  size_t bytes() const { return elements * element_bytes; }
};

struct MemoryAccount {
  int64_t micro_batch = 0;
  std::vector<TensorAccount> tensors;  // in allocation order
  size_t total_bytes() const;
  size_t batch_bytes() const;  // the per_sample tensors'
  size_t fixed_bytes() const { return total_bytes() - batch_bytes(); }
  // Bytes each sample of the micro-batch adds (batch_bytes / micro_batch).
  double bytes_per_sample() const;
  // Bytes the transient evaluation tensors add to the resident ones at their peak.
  size_t transient_bytes() const;
  void append(const std::vector<TensorAccount>& more) { tensors.insert(tensors.end(), more.begin(), more.end()); }
  // A fixed-width table: name, role, elements, bytes, bytes per sample; then the totals.
  std::string table() const;
};

}  // namespace sptrain
