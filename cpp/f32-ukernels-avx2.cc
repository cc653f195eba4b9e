// AVX2+FMA microkernels: NR = 16 positions in two YMM registers, MR rows
// broadcast. Compiled with AVX2 and FMA flags for this file only.
#include <immintrin.h>
#include "ukernels.h"

namespace adn {
namespace {
constexpr int NR = 16;

template <int MR>
void fma__avx2(size_t kc, const float* a, const float* b, float* c) {
  __m256 lo[MR], hi[MR];
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) lo[m] = hi[m] = _mm256_setzero_ps();
  for (size_t r = 0; r < kc; ++r, a += MR, b += NR) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
      const __m256 am = _mm256_set1_ps(a[m]);
      lo[m] = _mm256_fmadd_ps(am, b0, lo[m]);
      hi[m] = _mm256_fmadd_ps(am, b1, hi[m]);
    }
  }
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    _mm256_storeu_ps(c + m * NR, lo[m]);
    _mm256_storeu_ps(c + m * NR + 8, hi[m]);
  }
}

template <int MR>
void maxsum__avx2(size_t kc, const float* a, const float* b, float* c) {
  __m256 lo[MR], hi[MR];
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) lo[m] = hi[m] = _mm256_setzero_ps();
  for (size_t r = 0; r < kc; ++r, a += MR, b += NR) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
      const __m256 am = _mm256_set1_ps(a[m]);
      lo[m] = _mm256_add_ps(lo[m], _mm256_max_ps(am, b0));
      hi[m] = _mm256_add_ps(hi[m], _mm256_max_ps(am, b1));
    }
  }
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    _mm256_storeu_ps(c + m * NR, lo[m]);
    _mm256_storeu_ps(c + m * NR + 8, hi[m]);
  }
}

template <int MR>
void htgrad__avx2(size_t kc, const float* a, const float* b, const float* x,
                    size_t x_stride, float* c) {
  __m256 lo[MR], hi[MR], xlo[MR], xhi[MR];
  const __m256 one = _mm256_set1_ps(1.0f), minus_one = _mm256_set1_ps(-1.0f);
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    lo[m] = hi[m] = _mm256_setzero_ps();
    xlo[m] = _mm256_loadu_ps(x + m * x_stride);
    xhi[m] = _mm256_loadu_ps(x + m * x_stride + 8);
  }
  for (size_t r = 0; r < kc; ++r, a += MR, b += NR) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
      const __m256 am = _mm256_set1_ps(a[m]);
      __m256 d0 = _mm256_sub_ps(am, xlo[m]), d1 = _mm256_sub_ps(am, xhi[m]);
      d0 = _mm256_min_ps(_mm256_max_ps(d0, minus_one), one);
      d1 = _mm256_min_ps(_mm256_max_ps(d1, minus_one), one);
      lo[m] = _mm256_fmadd_ps(d0, b0, lo[m]);
      hi[m] = _mm256_fmadd_ps(d1, b1, hi[m]);
    }
  }
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    _mm256_storeu_ps(c + m * NR, lo[m]);
    _mm256_storeu_ps(c + m * NR + 8, hi[m]);
  }
}

const IsaConfig kAvx2 = {Isa::avx2,
                           {6, NR, fma__avx2<6>},
                           {4, NR, maxsum__avx2<4>},
                           {2, NR, htgrad__avx2<2>}};
}  // namespace

const IsaConfig* avx2_config() { return &kAvx2; }

}  // namespace adn
