// The MPI communicator: MPI_COMM_WORLD, initialized on construction and finalized on destruction.
// MPI errors abort every rank (MPI_ERRORS_ARE_FATAL), so no rank waits forever on a dead peer's
// collective; a peer that hangs without dying is caught by the step watchdog: every collective
// and message is started non-blocking and polled against a deadline. To name the rank that did
// not arrive, every other rank tells rank 0 the sequence number of each collective it enters (an
// 8-byte message); rank 0, whose deadline comes first, names the ranks still behind, and the
// others, whose deadline is half as long again, blame rank 0 when it did not end the job first.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

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
constexpr int kDataTag = 0, kArrivalTag = 1;

std::string seconds(double s) {
  char b[32];
  std::snprintf(b, sizeof b, "%g s", s);
  return b;
}

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
    arrived_.assign(size_t(size_), 0);
  }
  ~Mpi() override {
    int fin = 0;
    MPI_Finalized(&fin);
    if (owner_ && !fin) {
      settle_arrivals();
      MPI_Finalize();
    }
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_; }
  bool distributed() const override { return true; }
  void set_timeout(double s) override { timeout_s_ = s; }
  void arrive() override {
    ++seq_;
    if (rank_ != 0) announce();
    else drain_arrivals();
  }
  std::string late_ranks() override {
    std::string missing;
    if (rank_ != 0) return missing;
    drain_arrivals();
    for (int r = 1; r < size_; ++r)
      if (arrived_[size_t(r)] < seq_) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
    return missing;
  }
  void allreduce_sum(float* data, size_t n, double* scalars, size_t k) override {
    for (size_t o = 0; o < n; o += kChunk)
      collective("MPI_Allreduce", [&](MPI_Request* q) {
        return MPI_Iallreduce(MPI_IN_PLACE, data + o, int(std::min(kChunk, n - o)), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, q);
      });
    if (k)
      collective("MPI_Allreduce", [&](MPI_Request* q) {
        return MPI_Iallreduce(MPI_IN_PLACE, scalars, int(k), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, q);
      });
  }
  void allgather(const float* send, size_t n, float* recv) override { gather(send, n, recv, MPI_FLOAT, sizeof(float)); }
  void allgather(const double* send, size_t n, double* recv) override {
    gather(send, n, recv, MPI_DOUBLE, sizeof(double));
  }
  void broadcast(float* data, size_t n, int root) override { bcast(data, n, MPI_FLOAT, sizeof(float), root); }
  void send(const float* data, size_t n, int to) override {
    for (size_t o = 0; o < n; o += kChunk) {
      MPI_Request q;
      check(MPI_Isend(data + o, int(std::min(kChunk, n - o)), MPI_FLOAT, to, kDataTag, MPI_COMM_WORLD, &q), "MPI_Isend");
      wait(q, "MPI_Send", to);
    }
  }
  void recv(float* data, size_t n, int from) override {
    for (size_t o = 0; o < n; o += kChunk) {
      MPI_Request q;
      check(MPI_Irecv(data + o, int(std::min(kChunk, n - o)), MPI_FLOAT, from, kDataTag, MPI_COMM_WORLD, &q),
            "MPI_Irecv");
      wait(q, "MPI_Recv", from);
    }
  }
  void barrier() override {
    collective("MPI_Barrier", [](MPI_Request* q) { return MPI_Ibarrier(MPI_COMM_WORLD, q); });
  }
  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);
  }

 private:
  // Allgather in pieces small enough for int counts: piece p of every rank lands at r * n + p.
  void gather(const void* send, size_t n, void* recv, MPI_Datatype t, size_t bytes) {
    if (n <= kChunk) {
      collective("MPI_Allgather", [&](MPI_Request* q) {
        return MPI_Iallgather(send, int(n), t, recv, int(n), t, MPI_COMM_WORLD, q);
      });
      return;
    }
    for (int r = 0; r < size_; ++r) {  // large slabs: one broadcast per rank
      char* dst = static_cast<char*>(recv) + size_t(r) * n * bytes;
      if (r == rank_) std::copy_n(static_cast<const char*>(send), n * bytes, dst);
      bcast(dst, n, t, bytes, r);
    }
  }
  void bcast(void* data, size_t n, MPI_Datatype t, size_t bytes, int root) {
    for (size_t o = 0; o < n; o += kChunk)
      collective("MPI_Bcast", [&](MPI_Request* q) {
        return MPI_Ibcast(static_cast<char*>(data) + o * bytes, int(std::min(kChunk, n - o)), t, root, MPI_COMM_WORLD, q);
      });
  }

  // One collective: announce it to rank 0, start it, wait for it under the deadline.
  template <class Start>
  void collective(const char* what, Start start) {
    arrive();
    MPI_Request q;
    check(start(&q), what);
    wait(q, what, -1);
  }
  // Rank r tells rank 0 it entered collective seq_ (non-blocking; the buffer lives until sent).
  void announce() {
    reap_announcements();
    sent_.push_back({seq_, MPI_REQUEST_NULL});
    check(MPI_Isend(&sent_.back().seq, 1, MPI_INT64_T, 0, kArrivalTag, MPI_COMM_WORLD, &sent_.back().req), "MPI_Isend");
  }
  void reap_announcements() {
    while (!sent_.empty()) {
      int done = 0;
      check(MPI_Test(&sent_.front().req, &done, MPI_STATUS_IGNORE), "MPI_Test");
      if (!done) return;
      sent_.pop_front();
    }
  }
  // Rank 0: the latest collective each rank has entered.
  void drain_arrivals() {
    for (;;) {
      int flag = 0;
      MPI_Status st;
      check(MPI_Iprobe(MPI_ANY_SOURCE, kArrivalTag, MPI_COMM_WORLD, &flag, &st), "MPI_Iprobe");
      if (!flag) return;
      int64_t s = 0;
      check(MPI_Recv(&s, 1, MPI_INT64_T, st.MPI_SOURCE, kArrivalTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
      arrived_[size_t(st.MPI_SOURCE)] = std::max(arrived_[size_t(st.MPI_SOURCE)], s);
    }
  }
  // Before MPI_Finalize: every announcement sent and received (the last collective was entered by
  // all, so each rank's last announcement is of seq_), within the deadline.
  void settle_arrivals() {
    const auto t0 = std::chrono::steady_clock::now();
    auto late = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > timeout_s_; };
    try {
      if (rank_ == 0) {
        while (std::any_of(arrived_.begin() + 1, arrived_.end(), [&](int64_t s) { return s < seq_; }) && !late()) {
          drain_arrivals();
          std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
      } else {
        while (!sent_.empty() && !late()) {
          reap_announcements();
          std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
      }
    } catch (const std::exception&) {  // finalizing anyway
    }
  }

  // Polls `q` until it completes; past the deadline, throws naming the rank at fault (the CLI then
  // aborts every rank). `peer` is the other rank of a message, -1 for a collective. For the first
  // 2 ms a waiting rank yields its core between polls (at once back when no other process wants
  // it, as a busy wait; to the rank that computes when ranks share cores), then it sleeps in
  // growing steps to 1 ms (a long wait: a checkpoint, a slow or hung peer).
  void wait(MPI_Request& q, const char* what, int peer) {
    const auto t0 = std::chrono::steady_clock::now();
    const double limit = rank_ == 0 || peer >= 0 ? timeout_s_ : 1.5 * timeout_s_ + 1.0;
    std::chrono::microseconds nap(0);
    for (;;) {
      int done = 0;
      check(MPI_Test(&q, &done, MPI_STATUS_IGNORE), what);
      if (done) return;
      if (rank_ == 0) drain_arrivals();
      else reap_announcements();
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (waited > limit) hung(what, peer, limit);
      if (waited < 0.002) {
        std::this_thread::yield();
      } else {
        nap = std::min(std::chrono::microseconds(1000), nap + std::chrono::microseconds(50));
        std::this_thread::sleep_for(nap);
      }
    }
  }
  [[noreturn]] void hung(const char* what, int peer, double limit) {
    const std::string head = std::string("step watchdog: ") + what;
    const std::string setting = " (dist.timeout_s = " + seconds(timeout_s_) + ")";
    if (peer >= 0)
      throw std::runtime_error(head + " with rank " + std::to_string(peer) + " did not complete within " + seconds(limit) +
                               ": rank " + std::to_string(peer) + " did not arrive" + setting);
    if (rank_ != 0)
      throw std::runtime_error(head + " did not complete within " + seconds(limit) +
                               " and rank 0, which names late ranks first, did not end the job: rank 0 did not arrive" +
                               setting);
    const std::string missing = late_ranks();
    const bool n = missing.find(',') != std::string::npos;
    if (missing.empty())
      throw std::runtime_error(head + " did not complete within " + seconds(limit) +
                               ": every rank entered it, so one stopped inside it or the network failed" + setting);
    throw std::runtime_error(head + " did not complete within " + seconds(limit) + ": rank" + (n ? "s " : " ") +
                             missing + " did not arrive" + setting);
  }

  struct Announcement {
    int64_t seq;
    MPI_Request req;
  };
  int rank_ = 0, size_ = 1, local_ = 0;
  bool owner_ = false;
  int64_t seq_ = 0;                  // collectives entered by this rank (the same count on every rank)
  std::vector<int64_t> arrived_;     // rank 0: the last collective each rank announced
  std::deque<Announcement> sent_;    // announcements not yet known to be sent (stable addresses)
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<Mpi>(); }

}  // namespace sptrain::dist
