// The NCCL all-reduce of GPU ranks (allreduce mode): a communicator made from a unique id that rank
// 0 draws and MPI broadcasts, on this rank's device; non-blocking (ncclConfig_t::blocking = 0), so
// that initialization and every all-reduce are polled against the watchdog's deadline together
// with NCCL's asynchronous error, and a rank that does not arrive ends the job (ncclCommAbort, then
// the caller's error path aborts every rank) instead of hanging in the GPU stream.
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "dist/communicator.hpp"

namespace sptrain::dist {

namespace {

class Nccl final : public DeviceReducer {
 public:
  Nccl(Communicator& comm, int device) : comm_(comm) {
    // One summation order for a fixed rank count, run after run (NCCL reads these at init).
    setenv("NCCL_ALGO", "Ring", 0);
    setenv("NCCL_PROTO", "Simple", 0);
    ncclUniqueId id;
    if (comm.rank() == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    float words[(sizeof id + sizeof(float) - 1) / sizeof(float)] = {};  // the id's bytes, carried as floats
    std::memcpy(words, &id, sizeof id);
    comm.broadcast(words, sizeof words / sizeof(float), 0);
    std::memcpy(&id, words, sizeof id);
    if (cudaSetDevice(device) != cudaSuccess)
      throw std::runtime_error("NCCL: cannot use CUDA device " + std::to_string(device));
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;
    comm_.arrive();
    check(ncclCommInitRankConfig(&nc_, comm.size(), id, comm.rank(), &cfg), "ncclCommInitRankConfig");
    settle("ncclCommInitRank", nullptr);
  }
  ~Nccl() override {
    if (nc_) ncclCommDestroy(nc_);
  }
  void sum(float* data, size_t n, void* stream) override {
    comm_.arrive();
    check(ncclAllReduce(data, data, n, ncclFloat, ncclSum, nc_, static_cast<cudaStream_t>(stream)), "ncclAllReduce");
    settle("ncclAllReduce", static_cast<cudaStream_t>(stream));
  }

 private:
  void check(ncclResult_t r, const char* what) {
    if (r == ncclSuccess || r == ncclInProgress) return;
    fail(std::string(what) + ": " + ncclGetErrorString(r));
  }
  [[noreturn]] void fail(const std::string& msg) {
    const std::string late = comm_.late_ranks();
    if (nc_) ncclCommAbort(nc_);
    nc_ = nullptr;
    throw std::runtime_error("NCCL: " + msg + (late.empty() ? "" : ": rank(s) " + late + " did not arrive"));
  }
  // Until NCCL's pending call and the stream's work are done: NCCL's asynchronous error and the
  // deadline polled, yielding the core between polls.
  void settle(const char* what, cudaStream_t stream) {
    const auto t0 = std::chrono::steady_clock::now();
    // Rank 0 names the late ranks; the others wait longer, as for MPI's collectives.
    const bool root = comm_.rank() == 0;
    const double limit = root ? comm_.timeout() : 1.5 * comm_.timeout() + 1.0;
    for (;;) {
      ncclResult_t st = ncclSuccess;
      check(ncclCommGetAsyncError(nc_, &st), "ncclCommGetAsyncError");
      if (st != ncclSuccess && st != ncclInProgress) fail(std::string(what) + ": " + ncclGetErrorString(st));
      if (st == ncclSuccess) {
        if (!stream) return;
        const cudaError_t q = cudaStreamQuery(stream);
        if (q == cudaSuccess) return;
        if (q != cudaErrorNotReady) fail(std::string(what) + ": CUDA " + cudaGetErrorString(q));
      }
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > limit)
        fail(std::string("step watchdog: ") + what + " did not complete within " + std::to_string(limit) +
             " s (dist.timeout_s)" + (root ? "" : "; rank 0, which names late ranks first, did not end the job: rank 0 did not arrive"));
      std::this_thread::yield();
    }
  }

  Communicator& comm_;
  ncclComm_t nc_ = nullptr;
};

}  // namespace

std::unique_ptr<DeviceReducer> make_nccl_reducer(Communicator& comm, int device) {
  return std::make_unique<Nccl>(comm, device);
}

}  // namespace sptrain::dist
