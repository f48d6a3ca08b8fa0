// The processes of a data-parallel run: rank, size, local rank and the few collectives the trainer
// needs (sums, gathers in rank order, broadcast, a chain of point-to-point messages, barrier,
// abort), each under a deadline. MpiCommunicator (mpi_communicator.cpp, built when MPI is found) when the process was
// started by mpirun or srun; otherwise a single-process communicator whose collectives copy.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

namespace sptrain::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_rank() const = 0;  // rank among the processes of this node (one device each)
  // True when started by a launcher (even with one rank): the trainer then takes its distributed
  // path, whose results do not depend on the rank count.
  virtual bool distributed() const = 0;
  // In place over all ranks: data[0, n) (float) and scalars[0, k) (double) summed.
  virtual void allreduce_sum(float* data, size_t n, double* scalars, size_t k) = 0;
  // recv[r * n, (r + 1) * n) = rank r's send[0, n), on every rank.
  virtual void allgather(const float* send, size_t n, float* recv) = 0;
  virtual void allgather(const double* send, size_t n, double* recv) = 0;
  virtual void broadcast(float* data, size_t n, int root) = 0;
  virtual void send(const float* data, size_t n, int to) = 0;
  virtual void recv(float* data, size_t n, int from) = 0;
  virtual void barrier() = 0;
  // The step watchdog (docs/distributed.md#faults): a collective or message that has not completed
  // `seconds` after this rank started it ends every rank, naming the rank that did not arrive.
  virtual void set_timeout(double seconds) = 0;
  double timeout() const { return timeout_s_; }
  // For a collective outside this communicator (NCCL's): arrive() tells rank 0 this rank entered
  // the next one (as every collective here does), and late_ranks() is, on rank 0, the ranks that
  // have not arrived at the last ("1, 3"; empty when all have, and on other ranks).
  virtual void arrive() = 0;
  virtual std::string late_ranks() = 0;
  // Ends every rank with `code` (a rank that failed alone would leave the others waiting).
  [[noreturn]] virtual void abort(int code) = 0;
  // True on every rank when `failed` is true on any: a step that may fail on one rank (a file
  // rank 0 writes) is agreed on before the ranks go on.
  bool any(bool failed) {
    double f = failed ? 1.0 : 0.0;
    allreduce_sum(nullptr, 0, &f, 1);
    return f > 0;
  }

 protected:
  double timeout_s_ = 600;
};

// Sums of a float buffer in device memory over the ranks: NCCL (nccl_reducer.cpp, built with CUDA,
// MPI and NCCL), for GPU ranks in allreduce mode.
class DeviceReducer {
 public:
  virtual ~DeviceReducer() = default;
  // data[0, n) summed in place over all ranks, enqueued on `stream` (the backend's
  // Backend::native_stream()) and waited for under the communicator's deadline.
  virtual void sum(float* data, size_t n, void* stream) = 0;
};

// The launcher's world size from the environment (OMPI_COMM_WORLD_SIZE, PMI_SIZE, SLURM_NTASKS
// with SLURM_PROCID), or 0 when the process was not started by mpirun or srun.
int launcher_world_size();

// The communicator of this process: MPI (initialized here, finalized when the object goes) when a
// launcher started it, else a single process. Throws UsageError when launched with several ranks by
// a build without MPI.
std::unique_ptr<Communicator> make_communicator();

// The single-process communicator (rank 0 of 1).
std::unique_ptr<Communicator> single_process();

#ifdef SPTRAIN_HAVE_MPI
std::unique_ptr<Communicator> make_mpi_communicator();
#endif
#ifdef SPTRAIN_HAVE_NCCL
// An NCCL communicator over the ranks of `comm` (its unique id broadcast from rank 0), on CUDA
// device `device`. NCCL_ALGO=Ring and NCCL_PROTO=Simple unless the environment sets them, so that
// a fixed rank count sums in one order run after run.
std::unique_ptr<DeviceReducer> make_nccl_reducer(Communicator& comm, int device);
#endif

}  // namespace sptrain::dist
