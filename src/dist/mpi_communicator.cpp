// The MPI communicator: MPI_COMM_WORLD, initialized on construction and finalized on destruction;
// errors abort every rank (MPI_ERRORS_ARE_FATAL), so no rank waits forever on a dead peer's
// collective.
#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "dist/communicator.hpp"

namespace sptrain::dist {

namespace {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw std::runtime_error(std::string(what) + ": " + std::string(msg, len));
}

// MPI counts are int: large slabs go in pieces of at most 1 Gi elements.
constexpr size_t kChunk = size_t(1) << 30;

class Mpi final : public Communicator {
 public:
  Mpi() {
    int init = 0;
    MPI_Initialized(&init);
    if (!init) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owner_ = true;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm node;
    check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node), "MPI_Comm_split_type");
    MPI_Comm_rank(node, &local_);
    MPI_Comm_free(&node);
  }
  ~Mpi() override {
    int fin = 0;
    MPI_Finalized(&fin);
    if (owner_ && !fin) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_; }
  bool distributed() const override { return true; }
  void allreduce_sum(float* data, size_t n, double* scalars, size_t k) override {
    for (size_t o = 0; o < n; o += kChunk)
      check(MPI_Allreduce(MPI_IN_PLACE, data + o, int(std::min(kChunk, n - o)), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
    if (k) check(MPI_Allreduce(MPI_IN_PLACE, scalars, int(k), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
  }
  void allgather(const float* send, size_t n, float* recv) override { gather(send, n, recv, MPI_FLOAT, sizeof(float)); }
  void allgather(const double* send, size_t n, double* recv) override {
    gather(send, n, recv, MPI_DOUBLE, sizeof(double));
  }
  void broadcast(float* data, size_t n, int root) override {
    for (size_t o = 0; o < n; o += kChunk)
      check(MPI_Bcast(data + o, int(std::min(kChunk, n - o)), MPI_FLOAT, root, MPI_COMM_WORLD), "MPI_Bcast");
  }
  void send(const float* data, size_t n, int to) override {
    for (size_t o = 0; o < n; o += kChunk)
      check(MPI_Send(data + o, int(std::min(kChunk, n - o)), MPI_FLOAT, to, 0, MPI_COMM_WORLD), "MPI_Send");
  }
  void recv(float* data, size_t n, int from) override {
    for (size_t o = 0; o < n; o += kChunk)
      check(MPI_Recv(data + o, int(std::min(kChunk, n - o)), MPI_FLOAT, from, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
            "MPI_Recv");
  }
  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }
  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);
  }

 private:
  // Allgather in pieces small enough for int counts: piece p of every rank lands at r * n + p.
  void gather(const void* send, size_t n, void* recv, MPI_Datatype t, size_t bytes) {
    if (n <= kChunk) {
      check(MPI_Allgather(send, int(n), t, recv, int(n), t, MPI_COMM_WORLD), "MPI_Allgather");
      return;
    }
    for (int r = 0; r < size_; ++r) {  // large slabs: one broadcast per rank
      char* dst = static_cast<char*>(recv) + size_t(r) * n * bytes;
      if (r == rank_) std::copy_n(static_cast<const char*>(send), n * bytes, dst);
      for (size_t o = 0; o < n; o += kChunk)
        check(MPI_Bcast(dst + o * bytes, int(std::min(kChunk, n - o)), t, r, MPI_COMM_WORLD), "MPI_Bcast");
    }
  }

  int rank_ = 0, size_ = 1, local_ = 0;
  bool owner_ = false;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<Mpi>(); }

}  // namespace sptrain::dist
