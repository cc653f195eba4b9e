// Portable microkernels: the path every platform has (and ARM uses).
// Each output accumulates strictly in reduction order, like the SIMD kernels,
// so the max-trick forward is exactly 0 when a patch equals its filter.
#include <algorithm>
#include "ukernels.h"

namespace adn {

// In its own file, compiled with -fno-trapping-math (see CMakeLists.txt).
void htgrad_4x8__scalar(size_t kc, const float* a, const float* b, const float* x,
                        size_t x_stride, float* c);
void htgrad_4x8__scalar_indirect(size_t kc, const float* a, const float* b_lo, const float* b_hi,
                                 const int64_t* offsets, const float* x, size_t x_stride, float* c);

namespace {
constexpr int MR = 4, NR = 8;

void store_tile(const float* acc, float* c, bool accumulate) {
  for (int e = 0; e < MR * NR; ++e) c[e] = accumulate ? c[e] + acc[e] : acc[e];
}

// Row r of b at row(r): a packed panel, or the two halves read in place.
template <class Row, class Op>
void gemm_body(size_t kc, const float* a, Row row, Op op, float* c, bool accumulate) {
  float acc[MR][NR] = {};
  for (size_t r = 0; r < kc; ++r, a += MR) {
    float b[NR];
    row(r, b);
    for (int m = 0; m < MR; ++m)
      for (int n = 0; n < NR; ++n) acc[m][n] += op(a[m], b[n]);
  }
  store_tile(&acc[0][0], c, accumulate);
}

const auto kMul = [](float x, float y) { return x * y; };
const auto kMax = [](float x, float y) { return std::max(x, y); };

auto packed(const float* b) {
  return [b](size_t r, float* out) { std::copy(b + r * NR, b + r * NR + NR, out); };
}
auto in_place(const float* lo, const float* hi, const int64_t* offsets) {
  return [=](size_t r, float* out) {
    std::copy(lo + offsets[r], lo + offsets[r] + NR / 2, out);
    std::copy(hi + offsets[r], hi + offsets[r] + NR / 2, out + NR / 2);
  };
}

void fma_4x8__scalar(size_t kc, const float* a, const float* b, float* c, bool accumulate) {
  gemm_body(kc, a, packed(b), kMul, c, accumulate);
}
void maxsum_4x8__scalar(size_t kc, const float* a, const float* b, float* c, bool accumulate) {
  gemm_body(kc, a, packed(b), kMax, c, accumulate);
}
void fma_4x8__scalar_indirect(size_t kc, const float* a, const float* b_lo, const float* b_hi,
                              const int64_t* offsets, float* c, bool accumulate) {
  gemm_body(kc, a, in_place(b_lo, b_hi, offsets), kMul, c, accumulate);
}
void maxsum_4x8__scalar_indirect(size_t kc, const float* a, const float* b_lo, const float* b_hi,
                                 const int64_t* offsets, float* c, bool accumulate) {
  gemm_body(kc, a, in_place(b_lo, b_hi, offsets), kMax, c, accumulate);
}

// Dot products along rows (ukernels.h dot_ukernel_fn), one lane.
void dot_4x3__scalar(size_t rows, size_t len, const float* const* a, const int64_t* a_off,
                     const float* b, const int64_t* b_taps, const int64_t* b_off, float* c) {
  constexpr int DM = 4, DN = 3;
  float acc[DM][DN] = {};
  for (size_t q = 0; q < rows; ++q)
    for (size_t e = 0; e < len; ++e)
      for (int m = 0; m < DM; ++m)
        for (int n = 0; n < DN; ++n) acc[m][n] += a[m][a_off[q] + e] * b[b_taps[n] + b_off[q] + e];
  std::copy(&acc[0][0], &acc[0][0] + DM * DN, c);
}

const IsaConfig kScalar = {Isa::scalar,
                           {"f32-gemm-fma-4x8-scalar", MR, NR, fma_4x8__scalar},
                           {"f32-adder-maxsum-4x8-scalar", MR, NR, maxsum_4x8__scalar},
                           {"f32-adder-htgrad-4x8-scalar", MR, NR, htgrad_4x8__scalar},
                           {"u8-adder-sad-4x4-scalar", 4, 4, 1, u8_sad_4x4__scalar},
                           {"f32-igemm-fma-4x8-scalar", MR, NR, fma_4x8__scalar_indirect},
                           {"f32-adder-imaxsum-4x8-scalar", MR, NR, maxsum_4x8__scalar_indirect},
                           {"f32-adder-ihtgrad-4x8-scalar", MR, NR, htgrad_4x8__scalar_indirect},
                           {"f32-dot-fma-4x3-scalar", 4, 3, 1, dot_4x3__scalar}};
}  // namespace

const IsaConfig* scalar_config() { return &kScalar; }

}  // namespace adn
