// AVX-512 microkernels: NR = 32 positions in two ZMM registers, MR rows
// broadcast. Compiled with AVX-512 flags for this file only.
#include <immintrin.h>
#include "ukernels.h"

namespace adn {
namespace {
constexpr int NR = 32;

template <int MR>
void fma__avx512(size_t kc, const float* a, const float* b, float* c) {
  __m512 lo[MR], hi[MR];
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) lo[m] = hi[m] = _mm512_setzero_ps();
  for (size_t r = 0; r < kc; ++r, a += MR, b += NR) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
      const __m512 am = _mm512_set1_ps(a[m]);
      lo[m] = _mm512_fmadd_ps(am, b0, lo[m]);
      hi[m] = _mm512_fmadd_ps(am, b1, hi[m]);
    }
  }
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    _mm512_storeu_ps(c + m * NR, lo[m]);
    _mm512_storeu_ps(c + m * NR + 16, hi[m]);
  }
}

template <int MR>
void maxsum__avx512(size_t kc, const float* a, const float* b, float* c) {
  __m512 lo[MR], hi[MR];
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) lo[m] = hi[m] = _mm512_setzero_ps();
  for (size_t r = 0; r < kc; ++r, a += MR, b += NR) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
      const __m512 am = _mm512_set1_ps(a[m]);
      lo[m] = _mm512_add_ps(lo[m], _mm512_max_ps(am, b0));
      hi[m] = _mm512_add_ps(hi[m], _mm512_max_ps(am, b1));
    }
  }
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    _mm512_storeu_ps(c + m * NR, lo[m]);
    _mm512_storeu_ps(c + m * NR + 16, hi[m]);
  }
}

template <int MR>
void htgrad__avx512(size_t kc, const float* a, const float* b, const float* x,
                    size_t x_stride, float* c) {
  __m512 lo[MR], hi[MR], xlo[MR], xhi[MR];
  const __m512 one = _mm512_set1_ps(1.0f), minus_one = _mm512_set1_ps(-1.0f);
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    lo[m] = hi[m] = _mm512_setzero_ps();
    xlo[m] = _mm512_loadu_ps(x + m * x_stride);
    xhi[m] = _mm512_loadu_ps(x + m * x_stride + 16);
  }
  for (size_t r = 0; r < kc; ++r, a += MR, b += NR) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
      const __m512 am = _mm512_set1_ps(a[m]);
      __m512 d0 = _mm512_sub_ps(am, xlo[m]), d1 = _mm512_sub_ps(am, xhi[m]);
      d0 = _mm512_min_ps(_mm512_max_ps(d0, minus_one), one);
      d1 = _mm512_min_ps(_mm512_max_ps(d1, minus_one), one);
      lo[m] = _mm512_fmadd_ps(d0, b0, lo[m]);
      hi[m] = _mm512_fmadd_ps(d1, b1, hi[m]);
    }
  }
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    _mm512_storeu_ps(c + m * NR, lo[m]);
    _mm512_storeu_ps(c + m * NR + 16, hi[m]);
  }
}

const IsaConfig kAvx512 = {Isa::avx512,
                           {8, NR, fma__avx512<8>},
                           {8, NR, maxsum__avx512<8>},
                           {4, NR, htgrad__avx512<4>}};
}  // namespace

const IsaConfig* avx512_config() { return &kAvx512; }

}  // namespace adn
