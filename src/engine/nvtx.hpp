// NVTX v3 ranges in the `sptrain` domain (generate, forward, backward, reduce, optimizer, evaluate),
// so `nsys profile -t cuda,nvtx,cudnn,cublas sptrain train ...` shows the phases of a step. NVTX is
// header-only and costs a branch when no profiler is attached; without CUDA the ranges compile away.
#pragma once
#if defined(SPTRAIN_HAVE_CUDA) && __has_include(<nvtx3/nvToolsExt.h>)
#include <nvtx3/nvToolsExt.h>
#define SPTRAIN_HAVE_NVTX 1
#endif

namespace sptrain {

class NvtxRange {
 public:
#ifdef SPTRAIN_HAVE_NVTX
  explicit NvtxRange(const char* name) {
    nvtxEventAttributes_t a{};
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.messageType = NVTX_MESSAGE_TYPE_ASCII;
    a.message.ascii = name;
    nvtxDomainRangePushEx(domain(), &a);
  }
  ~NvtxRange() { nvtxDomainRangePop(domain()); }

 private:
  static nvtxDomainHandle_t domain() {
    static nvtxDomainHandle_t d = nvtxDomainCreateA("sptrain");
    return d;
  }

 public:
#else
  explicit NvtxRange(const char*) {}
#endif
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace sptrain
