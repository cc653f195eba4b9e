// AVX2+FMA microkernels: NR = 16 positions in two YMM registers.
// Compiled with AVX2 and FMA flags for this file only.
#include <immintrin.h>
#include "ukernels.h"

namespace adn {
namespace {

struct V {
  using type = __m256;
  static constexpr int width = 8;
  static type zero() { return _mm256_setzero_ps(); }
  static type load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, type v) { _mm256_storeu_ps(p, v); }
  static type set1(float f) { return _mm256_set1_ps(f); }
  static type max(type a, type b) { return _mm256_max_ps(a, b); }
  static type min(type a, type b) { return _mm256_min_ps(a, b); }
  static type fmadd(type a, type b, type c) { return _mm256_fmadd_ps(a, b, c); }
  static type add(type a, type b) { return _mm256_add_ps(a, b); }
};

#include "f32-ukernels-simd.h"

const IsaConfig kAvx2 = {Isa::avx2,
                         {"f32-gemm-fma-6x16-avx2", 6, 16, fma_kernel<V, 6>},
                         {"f32-adder-maxsum-4x16-avx2", 4, 16, maxsum_kernel<V, 4>},
                         {"f32-adder-htgrad-2x16-avx2", 2, 16, htgrad_kernel<V, 2>},
                         {"u8-adder-sad-3x3-avx2", 3, 3, 32, u8_sad_3x3__avx2},
                         {"f32-igemm-fma-6x16-avx2", 6, 16, fma_indirect_kernel<V, 6>},
                         {"f32-adder-imaxsum-4x16-avx2", 4, 16, maxsum_indirect_kernel<V, 4>},
                         {"f32-adder-ihtgrad-2x16-avx2", 2, 16, htgrad_indirect_kernel<V, 2>},
                         {"f32-dot-fma-4x3-avx2", 4, 3, 8, dot_kernel<V, 4, 3>}};
}  // namespace

const IsaConfig* avx2_config() { return &kAvx2; }

}  // namespace adn
