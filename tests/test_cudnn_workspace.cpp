// The cuDNN workspace cap (built with CUDA only; needs no device): 1/32 of the device's memory
// between 256 MiB and 4 GiB.
#include <gtest/gtest.h>

#include <cstddef>

#include "cuda/conv_cudnn.hpp"

using sptrain::cuda::Workspace;

TEST(CudnnWorkspace, DefaultCapScalesWithDeviceMemory) {
  constexpr size_t MiB = size_t(1) << 20, GiB = size_t(1) << 30;
  EXPECT_EQ(Workspace::default_cap(4 * GiB), 256 * MiB);     // small card: the floor
  EXPECT_EQ(Workspace::default_cap(16 * GiB), 512 * MiB);    // 1/32
  EXPECT_EQ(Workspace::default_cap(80 * GiB), 2560 * MiB);   // 1/32
  EXPECT_EQ(Workspace::default_cap(141 * GiB), 4096 * MiB);  // H200: the ceiling
  Workspace ws;
  EXPECT_EQ(ws.cap(), 256 * MiB);  // before the backend sets it
  ws.set_cap(GiB);
  EXPECT_EQ(ws.cap(), GiB);
}
