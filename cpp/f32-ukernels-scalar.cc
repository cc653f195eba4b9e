// Portable microkernels: the path every platform has (and ARM uses).
// Each output accumulates strictly in reduction order, like the SIMD kernels,
// so the max-trick forward is exactly 0 when a patch equals its filter.
#include <algorithm>
#include "ukernels.h"

namespace adn {

// In its own file, compiled with -fno-trapping-math (see CMakeLists.txt).
void htgrad_4x8__scalar(size_t kc, const float* a, const float* b, const float* x,
                        size_t x_stride, float* c);

namespace {
constexpr int MR = 4, NR = 8;

void store_tile(const float* acc, float* c, bool accumulate) {
  for (int e = 0; e < MR * NR; ++e) c[e] = accumulate ? c[e] + acc[e] : acc[e];
}

void fma_4x8__scalar(size_t kc, const float* a, const float* b, float* c, bool accumulate) {
  float acc[MR][NR] = {};
  for (size_t r = 0; r < kc; ++r, a += MR, b += NR)
    for (int m = 0; m < MR; ++m)
      for (int n = 0; n < NR; ++n) acc[m][n] += a[m] * b[n];
  store_tile(&acc[0][0], c, accumulate);
}

void maxsum_4x8__scalar(size_t kc, const float* a, const float* b, float* c, bool accumulate) {
  float acc[MR][NR] = {};
  for (size_t r = 0; r < kc; ++r, a += MR, b += NR)
    for (int m = 0; m < MR; ++m)
      for (int n = 0; n < NR; ++n) acc[m][n] += std::max(a[m], b[n]);
  store_tile(&acc[0][0], c, accumulate);
}

const IsaConfig kScalar = {Isa::scalar,
                           {"f32-gemm-fma-4x8-scalar", MR, NR, fma_4x8__scalar},
                           {"f32-adder-maxsum-4x8-scalar", MR, NR, maxsum_4x8__scalar},
                           {"f32-adder-htgrad-4x8-scalar", MR, NR, htgrad_4x8__scalar},
                           {"u8-adder-sad-4x4-scalar", 4, 4, 1, u8_sad_4x4__scalar}};
}  // namespace

const IsaConfig* scalar_config() { return &kScalar; }

}  // namespace adn
