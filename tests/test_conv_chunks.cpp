// The CUDA backend's split of a convolution into chunks of samples (src/cuda/conv_chunks.hpp): plain
// arithmetic, tested without a device.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>

#include "cuda/conv_chunks.hpp"

using sptrain::cuda::ConvChunks;
using sptrain::cuda::kConvChunkSamples;
using sptrain::cuda::plan_conv_chunks;

namespace {

// The chunks tile [0, N) in order, every one non-empty and at most `size`.
void expect_tiles(const ConvChunks& c, int64_t N) {
  int64_t next = 0;
  for (int64_t i = 0; i < c.count; ++i) {
    EXPECT_EQ(c.begin(i), next);
    EXPECT_GE(c.samples(i), 1);
    EXPECT_LE(c.samples(i), c.size);
    next += c.samples(i);
  }
  EXPECT_EQ(next, N);
}

}  // namespace

TEST(ConvChunks, SmallBatchesAreOneCallAsBefore) {
  for (int64_t N : {int64_t(1), int64_t(3), int64_t(256), kConvChunkSamples}) {
    const ConvChunks c = plan_conv_chunks(N, 0, 0);
    EXPECT_EQ(c.count, 1) << N;
    EXPECT_EQ(c.size, N);
    EXPECT_EQ(c.last, N);
    expect_tiles(c, N);
  }
  EXPECT_EQ(plan_conv_chunks(0, 0, 0).count, 0);
}

// The shape of every call is the same for any micro-batch above the chunk size: at most two
// distinct chunk sizes (the full chunk and a remainder), the full one independent of N.
TEST(ConvChunks, LargeBatchesSplitIntoOneShapePlusARemainder) {
  for (int64_t N : {kConvChunkSamples + 1, int64_t(4096), int64_t(4099), int64_t(65536), int64_t(1) << 20}) {
    const ConvChunks c = plan_conv_chunks(N, 0, 0);
    EXPECT_EQ(c.size, kConvChunkSamples) << N;
    std::set<int64_t> sizes;
    for (int64_t i = 0; i < c.count; ++i) sizes.insert(c.samples(i));
    EXPECT_LE(sizes.size(), 2u) << N;
    expect_tiles(c, N);
  }
  EXPECT_EQ(plan_conv_chunks(4096, 0, 0).count, 4096 / kConvChunkSamples);
  EXPECT_EQ(plan_conv_chunks(4096, 0, 0).last, kConvChunkSamples);
}

// Scratch per sample times the chunk stays within the cap; split chunks are multiples of 4 samples
// (so each chunk's tensors start 16-byte aligned) unless the cap allows fewer than 4.
TEST(ConvChunks, ScratchCapBoundsTheChunk) {
  const int64_t per = 137 * 1024;  // bytes of scratch per sample
  for (int64_t cap : {int64_t(1) << 20, int64_t(10) << 20, int64_t(64) << 20}) {
    const ConvChunks c = plan_conv_chunks(4096, per, cap);
    EXPECT_LE(c.size * per, cap) << cap;
    EXPECT_EQ(c.size % 4, 0) << cap;
    EXPECT_GT((c.size + 4) * per, cap) << "the largest multiple of 4 that fits: " << cap;
    expect_tiles(c, 4096);
  }
  const ConvChunks tiny = plan_conv_chunks(10, per, per * 2);  // room for 2 samples
  EXPECT_EQ(tiny.size, 2);
  expect_tiles(tiny, 10);
  const ConvChunks none = plan_conv_chunks(10, per, 1);  // room for none: one sample per call still runs
  EXPECT_EQ(none.size, 1);
  EXPECT_EQ(none.count, 10);
  expect_tiles(none, 10);
  // A chunk that is not split keeps its size even when it is not a multiple of 4.
  EXPECT_EQ(plan_conv_chunks(6, per, per * 100).size, 6);
}
