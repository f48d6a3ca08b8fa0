// A backend for tests that runs every op on another backend (the CPU's) and records what happens:
// each allocation (its name, the bytes asked, the bytes live and their peak) and each op call (its
// name, the allocations it reads, overwrites and adds into, by identity). Pointers into the middle
// of an allocation (a layer's slice of the parameter slab) resolve to that allocation; pointers
// the backend did not allocate (host memory of upload and download) are not recorded.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "sptrain/backend.hpp"

namespace sptrain::test {

class RecordingBackend final : public Backend {
 public:
  struct Allocation {
    std::string what;  // the name the allocation was asked under
    size_t bytes = 0;
    bool live = true;
  };
  // One op call. writes: overwritten; adds: read and accumulated into (+=, running statistics,
  // optimizer state); reads: read only. Allocation ids (indices into allocations()).
  struct Op {
    std::string name;
    std::vector<int> reads, writes, adds;
    float fill_value = 0;  // fill's value
  };

  explicit RecordingBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}
  Device device() const override { return inner_->device(); }

  const std::vector<Allocation>& allocations() const { return allocs_; }
  const std::vector<Op>& ops() const { return ops_; }
  size_t live_bytes() const { return live_; }
  size_t peak_bytes() const { return peak_; }
  // Forgets the ops recorded so far (allocations stay).
  void clear_ops() { ops_.clear(); }
  // The allocation holding p, or -1.
  int id_of(const void* p) const {
    if (!p) return -1;
    auto it = by_start_.upper_bound(p);
    if (it == by_start_.begin()) return -1;
    --it;
    const char* s = static_cast<const char*>(it->first);
    const size_t n = std::max<size_t>(allocs_[size_t(it->second)].bytes, 1);
    return static_cast<const char*>(p) < s + n ? it->second : -1;
  }

  void upload(float* dst, const float* host_src, size_t n) override {
    rec("upload", {}, {dst}, {});
    inner_->upload(dst, host_src, n);
  }
  void download(float* host_dst, const float* src, size_t n) override {
    rec("download", {src}, {}, {});
    inner_->download(host_dst, src, n);
  }
  void fill(float* dst, float value, size_t n) override {
    rec("fill", {}, {dst}, {}).fill_value = value;
    inner_->fill(dst, value, n);
  }
  void copy(float* dst, const float* src, size_t n) override {
    rec("copy", {src}, {dst}, {});
    inner_->copy(dst, src, n);
  }
  void synchronize() override { inner_->synchronize(); }
  void conv1d_forward(const Conv1dDesc& d, const float* x, const float* w, const float* b, float* y) override {
    rec("conv1d_forward", {x, w, b}, {y}, {});
    inner_->conv1d_forward(d, x, w, b, y);
  }
  void conv1d_backward_data(const Conv1dDesc& d, const float* dy, const float* w, float* dx) override {
    rec("conv1d_backward_data", {dy, w}, {dx}, {});
    inner_->conv1d_backward_data(d, dy, w, dx);
  }
  void conv1d_backward_filter(const Conv1dDesc& d, const float* x, const float* dy, float* dw, float* db) override {
    rec("conv1d_backward_filter", {x, dy}, {}, {dw, db});
    inner_->conv1d_backward_filter(d, x, dy, dw, db);
  }
  void dense_forward(int rows, int in, int out, const float* x, const float* w, const float* b, float* y) override {
    rec("dense_forward", {x, w, b}, {y}, {});
    inner_->dense_forward(rows, in, out, x, w, b, y);
  }
  void dense_backward(int rows, int in, int out, const float* x, const float* w, const float* dy, float* dx, float* dw,
                      float* db) override {
    rec("dense_backward", {x, w, dy}, {dx}, {dw, db});
    inner_->dense_backward(rows, in, out, x, w, dy, dx, dw, db);
  }
  void act_forward(Act a, float alpha, const float* x, float* y, size_t n) override {
    rec("act_forward", {x}, {y}, {});
    inner_->act_forward(a, alpha, x, y, n);
  }
  void act_backward(Act a, float alpha, const float* y, const float* dy, float* dx, size_t n) override {
    rec("act_backward", {y, dy}, {dx}, {});
    inner_->act_backward(a, alpha, y, dy, dx, n);
  }
  void axpy(float alpha, const float* x, float* y, size_t n) override {
    rec("axpy", {x}, {}, {y});
    inner_->axpy(alpha, x, y, n);
  }
  void softmax_forward(int rows, int C, const float* x, float* y) override {
    rec("softmax_forward", {x}, {y}, {});
    inner_->softmax_forward(rows, C, x, y);
  }
  void softmax_backward(int rows, int C, const float* y, const float* dy, float* dx) override {
    rec("softmax_backward", {y, dy}, {dx}, {});
    inner_->softmax_backward(rows, C, y, dy, dx);
  }
  void maxpool1d_forward(int N, int T_in, int C, int pool, int stride, const float* x, float* y,
                         int32_t* argmax) override {
    rec("maxpool1d_forward", {x}, {y, argmax}, {});
    inner_->maxpool1d_forward(N, T_in, C, pool, stride, x, y, argmax);
  }
  void maxpool1d_backward(int N, int T_in, int T_out, int C, const int32_t* argmax, const float* dy,
                          float* dx) override {
    rec("maxpool1d_backward", {argmax, dy}, {dx}, {});
    inner_->maxpool1d_backward(N, T_in, T_out, C, argmax, dy, dx);
  }
  void global_maxpool_forward(int N, int T, int C, const float* x, float* y, int32_t* argmax) override {
    rec("global_maxpool_forward", {x}, {y, argmax}, {});
    inner_->global_maxpool_forward(N, T, C, x, y, argmax);
  }
  void global_maxpool_backward(int N, int T, int C, const int32_t* argmax, const float* dy, float* dx) override {
    rec("global_maxpool_backward", {argmax, dy}, {dx}, {});
    inner_->global_maxpool_backward(N, T, C, argmax, dy, dx);
  }
  void batchnorm_forward_train(int rows, int C, const float* x, const float* gamma, const float* beta, float eps,
                               float momentum, float* running_mean, float* running_var, float* y, float* save_mean,
                               float* save_invstd, BatchNormSync* sync) override {
    rec("batchnorm_forward_train", {x, gamma, beta}, {y, save_mean, save_invstd}, {running_mean, running_var});
    inner_->batchnorm_forward_train(rows, C, x, gamma, beta, eps, momentum, running_mean, running_var, y, save_mean,
                                    save_invstd, sync);
  }
  void batchnorm_forward_infer(int rows, int C, const float* x, const float* gamma, const float* beta,
                               const float* running_mean, const float* running_var, float eps, float* y) override {
    rec("batchnorm_forward_infer", {x, gamma, beta, running_mean, running_var}, {y}, {});
    inner_->batchnorm_forward_infer(rows, C, x, gamma, beta, running_mean, running_var, eps, y);
  }
  void batchnorm_backward(int rows, int C, const float* x, const float* dy, const float* gamma, const float* save_mean,
                          const float* save_invstd, float* dx, float* dgamma, float* dbeta,
                          BatchNormSync* sync) override {
    rec("batchnorm_backward", {x, dy, gamma, save_mean, save_invstd}, {dx}, {dgamma, dbeta});
    inner_->batchnorm_backward(rows, C, x, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta, sync);
  }
  void copy2d(int rows, int cols, const float* src, int src_stride, float* dst, int dst_stride) override {
    rec("copy2d", {src}, {dst}, {});
    inner_->copy2d(rows, cols, src, src_stride, dst, dst_stride);
  }
  void add2d(int rows, int cols, const float* src, int src_stride, float* dst, int dst_stride) override {
    rec("add2d", {src}, {}, {dst});
    inner_->add2d(rows, cols, src, src_stride, dst, dst_stride);
  }
  double loss(LossKind k, int rows, int C, const float* pred, const float* target, float* dpred, float scale) override {
    rec("loss", {pred, target}, {dpred}, {});
    return inner_->loss(k, rows, C, pred, target, dpred, scale);
  }
  void upload_f64(double* dst, const double* host_src, size_t n) override {
    rec("upload_f64", {}, {dst}, {});
    inner_->upload_f64(dst, host_src, n);
  }
  void download_f64(double* host_dst, const double* src, size_t n) override {
    rec("download_f64", {src}, {}, {});
    inner_->download_f64(host_dst, src, n);
  }
  void loss_accumulate(LossKind k, int rows, int C, const float* pred, const float* target, float* dpred, float scale,
                       double weight, double* acc) override {
    rec("loss_accumulate", {pred, target}, {dpred}, {acc});
    inner_->loss_accumulate(k, rows, C, pred, target, dpred, scale, weight, acc);
  }
  void sum_squares_to(const float* x, size_t n, double* out) override {
    rec("sum_squares_to", {x}, {out}, {});
    inner_->sum_squares_to(x, n, out);
  }
  void adam_step_dev(float* p, float* g, float* m, float* v, size_t n, float b1, float b2, float eps,
                     const double* s) override {
    rec("adam_step_dev", {s}, {}, {p, g, m, v});
    inner_->adam_step_dev(p, g, m, v, n, b1, b2, eps, s);
  }
  void sgd_step_dev(float* p, float* g, float* vel, size_t n, float momentum, bool nesterov, const double* s) override {
    rec("sgd_step_dev", {s}, {}, {p, g, vel});
    inner_->sgd_step_dev(p, g, vel, n, momentum, nesterov, s);
  }
  void lamb_direction_dev(const float* p, float* g, float* m, float* v, float* u, size_t n, float b1, float b2,
                          float eps, float wd, const double* s) override {
    rec("lamb_direction_dev", {p, s}, {u}, {g, m, v});
    inner_->lamb_direction_dev(p, g, m, v, u, n, b1, b2, eps, wd, s);
  }
  void trust_step_dev(float* p, const float* u, size_t n, const double* norms2, const double* s) override {
    rec("trust_step_dev", {u, norms2, s}, {}, {p});
    inner_->trust_step_dev(p, u, n, norms2, s);
  }
  void lars_step_dev(float* p, const float* g, float* vel, size_t n, const double* norms2, float eta, float wd,
                     float momentum, const double* s) override {
    rec("lars_step_dev", {g, norms2, s}, {}, {p, vel});
    inner_->lars_step_dev(p, g, vel, n, norms2, eta, wd, momentum, s);
  }

 protected:
  void* alloc_bytes(size_t bytes, const char* what) override {
    Buffer<uint8_t> b = inner_->alloc<uint8_t>(bytes, what);
    void* p = b.get();
    const int id = int(allocs_.size());
    allocs_.push_back({what, bytes, true});
    held_.emplace(p, std::move(b));
    by_start_[p] = id;
    live_ += bytes;
    peak_ = std::max(peak_, live_);
    return p;
  }
  void release(void* p) noexcept override {
    auto it = by_start_.find(p);
    if (it != by_start_.end()) {
      allocs_[size_t(it->second)].live = false;
      live_ -= allocs_[size_t(it->second)].bytes;
      by_start_.erase(it);
    }
    held_.erase(p);
  }

 private:
  Op& rec(const char* name, std::initializer_list<const void*> reads, std::initializer_list<const void*> writes,
          std::initializer_list<const void*> adds) {
    Op op;
    op.name = name;
    auto ids = [&](std::initializer_list<const void*> ps, std::vector<int>& out) {
      for (const void* p : ps)
        if (const int id = id_of(p); id >= 0) out.push_back(id);
    };
    ids(reads, op.reads);
    ids(writes, op.writes);
    ids(adds, op.adds);
    ops_.push_back(std::move(op));
    return ops_.back();
  }

  std::unique_ptr<Backend> inner_;
  std::vector<Allocation> allocs_;
  std::map<const void*, int> by_start_;  // live allocations by address
  std::map<void*, Buffer<uint8_t>> held_;
  std::vector<Op> ops_;
  size_t live_ = 0, peak_ = 0;
};

}  // namespace sptrain::test
