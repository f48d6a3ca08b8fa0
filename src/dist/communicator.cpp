// The single-process communicator and the choice between it and MPI from the launcher's
// environment.
#include "dist/communicator.hpp"

#include <cstdlib>
#include <cstring>

#include "sptrain/error.hpp"

namespace sptrain::dist {

namespace {

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  bool distributed() const override { return false; }
  void allreduce_sum(float*, size_t, double*, size_t) override {}
  void allgather(const float* send, size_t n, float* recv) override {
    if (n) std::memmove(recv, send, n * sizeof(float));
  }
  void allgather(const double* send, size_t n, double* recv) override {
    if (n) std::memmove(recv, send, n * sizeof(double));
  }
  void broadcast(float*, size_t, int) override {}
  void send(const float*, size_t, int) override { throw std::logic_error("send: a single process has no peer"); }
  void recv(float*, size_t, int) override { throw std::logic_error("recv: a single process has no peer"); }
  void barrier() override {}
  void set_timeout(double s) override { timeout_s_ = s; }
  void arrive() override {}
  std::string late_ranks() override { return ""; }
  [[noreturn]] void abort(int code) override { std::exit(code); }
};

int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return 0;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  return *end == '\0' && x > 0 && x < (1 << 30) ? int(x) : 0;
}

}  // namespace

int launcher_world_size() {
  if (int n = env_int("OMPI_COMM_WORLD_SIZE")) return n;  // OpenMPI's mpirun
  if (int n = env_int("PMI_SIZE")) return n;              // MPICH / Hydra, srun --mpi=pmi2
  // srun: SLURM_NTASKS is also set inside an sbatch script for the batch shell itself, so a task of
  // a step is recognized by SLURM_STEP_ID beside it.
  if (std::getenv("SLURM_STEP_ID") && std::getenv("SLURM_PROCID"))
    if (int n = env_int("SLURM_NTASKS")) return n;
  return 0;
}

std::unique_ptr<Communicator> single_process() { return std::make_unique<SingleProcess>(); }

std::unique_ptr<Communicator> make_communicator() {
  const int n = launcher_world_size();
  if (n == 0) return single_process();
#ifdef SPTRAIN_HAVE_MPI
  return make_mpi_communicator();
#else
  if (n > 1)
    throw UsageError("started as one of " + std::to_string(n) +
                     " ranks, but this sptrain was built without MPI (configure with SPTRAIN_WITH_MPI=ON and "
                     "libopenmpi-dev installed)");
  return single_process();
#endif
}

}  // namespace sptrain::dist
