// The memory account's sums and its table (sptrain/memory.hpp); the lists themselves come from
// model_memory (model.cpp), optimizer_memory (optim/registry.cpp) and training_memory (trainer.cpp).
#include "sptrain/memory.hpp"

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <sstream>

namespace sptrain {

const char* role_name(TensorRole r) {
  switch (r) {
    case TensorRole::Parameters: return "parameters";
    case TensorRole::ParameterGradients: return "parameter gradients";
    case TensorRole::RunningStats: return "running statistics";
    case TensorRole::Scratch: return "scratch";
    case TensorRole::Activation: return "activation";
    case TensorRole::Gradient: return "gradient";
    case TensorRole::PoolIndices: return "pooling indices";
    case TensorRole::SavedStats: return "saved statistics";
    case TensorRole::OptimizerState: return "optimizer state";
    case TensorRole::OptimizerScratch: return "optimizer scratch";
    case TensorRole::Input: return "input";
    case TensorRole::Targets: return "targets";
    case TensorRole::LossGradient: return "loss gradient";
    case TensorRole::StepScalars: return "step scalars";
    case TensorRole::EvalInput: return "evaluation input";
    case TensorRole::EvalTargets: return "evaluation targets";
  }
  return "?";
}

namespace {
bool transient(const TensorAccount& t) { return t.role == TensorRole::EvalInput || t.role == TensorRole::EvalTargets; }

// Bytes with a binary unit: "1.50 GiB", "512 B".
std::string human(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  char s[32];
  std::snprintf(s, sizeof s, u == 0 ? "%.0f %s" : "%.2f %s", b, units[u]);
  return s;
}
}  // namespace

size_t MemoryAccount::total_bytes() const {
  size_t n = 0;
  for (const TensorAccount& t : tensors) n += t.bytes();
  return n;
}

size_t MemoryAccount::batch_bytes() const {
  size_t n = 0;
  for (const TensorAccount& t : tensors)
    if (t.per_sample) n += t.bytes();
  return n;
}

size_t MemoryAccount::transient_bytes() const {
  size_t n = 0;
  for (const TensorAccount& t : tensors)
    if (transient(t)) n += t.bytes();
  return n;
}

double MemoryAccount::bytes_per_sample() const {
  return micro_batch > 0 ? double(batch_bytes()) / double(micro_batch) : 0.0;
}

std::string MemoryAccount::table() const {
  size_t w = 6;
  for (const TensorAccount& t : tensors) w = std::max(w, t.name.size());
  std::ostringstream o;
  o << std::left << std::setw(int(w) + 2) << "tensor" << std::setw(21) << "role" << std::right << std::setw(14)
    << "elements" << std::setw(16) << "bytes" << std::setw(14) << "bytes/sample" << "\n";
  for (const TensorAccount& t : tensors) {
    o << std::left << std::setw(int(w) + 2) << t.name << std::setw(21) << role_name(t.role) << std::right
      << std::setw(14) << t.elements << std::setw(16) << t.bytes() << std::setw(14);
    if (t.per_sample) o << std::fixed << std::setprecision(0) << double(t.bytes()) / double(micro_batch);
    else o << "-";
    o << "\n";
  }
  o << "micro-batch " << micro_batch << ": " << total_bytes() << " bytes (" << human(double(total_bytes()))
    << ") at the peak, of which " << batch_bytes() << " (" << human(double(batch_bytes())) << ", "
    << std::fixed << std::setprecision(0) << bytes_per_sample() << " bytes per sample) grow with the micro-batch, "
    << fixed_bytes() << " (" << human(double(fixed_bytes())) << ") do not; " << transient_bytes() << " ("
    << human(double(transient_bytes())) << ") only while a validation or test set is evaluated\n";
  return o.str();
}

}  // namespace sptrain
