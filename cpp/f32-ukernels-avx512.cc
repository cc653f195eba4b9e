// AVX-512 microkernels: NR = 32 positions in two ZMM registers.
// Compiled with AVX-512 flags for this file only.
#include <immintrin.h>
#include "ukernels.h"

namespace adn {
namespace {

struct V {
  using type = __m512;
  static constexpr int width = 16;
  static type zero() { return _mm512_setzero_ps(); }
  static type load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, type v) { _mm512_storeu_ps(p, v); }
  static type set1(float f) { return _mm512_set1_ps(f); }
  static type max(type a, type b) { return _mm512_max_ps(a, b); }
  static type min(type a, type b) { return _mm512_min_ps(a, b); }
  static type fmadd(type a, type b, type c) { return _mm512_fmadd_ps(a, b, c); }
  static type add(type a, type b) { return _mm512_add_ps(a, b); }
};

#include "f32-ukernels-simd.h"

const IsaConfig kAvx512 = {Isa::avx512,
                           {"f32-gemm-fma-8x32-avx512", 8, 32, fma_kernel<V, 8>},
                           {"f32-adder-maxsum-8x32-avx512", 8, 32, maxsum_kernel<V, 8>},
                           {"f32-adder-htgrad-4x32-avx512", 4, 32, htgrad_kernel<V, 4>},
                           {"u8-adder-sad-4x4-avx512", 4, 4, 64, u8_sad_4x4__avx512},
                           {"f32-igemm-fma-8x32-avx512", 8, 32, fma_indirect_kernel<V, 8>},
                           {"f32-adder-imaxsum-8x32-avx512", 8, 32, maxsum_indirect_kernel<V, 8>},
                           {"f32-adder-ihtgrad-4x32-avx512", 4, 32, htgrad_indirect_kernel<V, 4>},
                           {"f32-dot-fma-4x6-avx512", 4, 6, 16, dot_kernel<V, 4, 6>}};
}  // namespace

const IsaConfig* avx512_config() { return &kAvx512; }

}  // namespace adn
