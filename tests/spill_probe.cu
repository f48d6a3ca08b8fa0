// A kernel that must spill when held to 24 registers: 64 live accumulators. Compiled only by
// tests/check_spill_flags.sh, never into the project.
__global__ void spill_probe(const float* x, float* y, int n) {
  float acc[64];
#pragma unroll
  for (int k = 0; k < 64; ++k) acc[k] = x[(threadIdx.x + k * 37) % n];
  for (int it = 0; it < n; ++it)
#pragma unroll
    for (int k = 0; k < 64; ++k) acc[k] = acc[k] * acc[(k + 1) & 63] + x[(it + k) % n];
  float s = 0.0f;
#pragma unroll
  for (int k = 0; k < 64; ++k) s += acc[k];
  y[threadIdx.x] = s;
}
