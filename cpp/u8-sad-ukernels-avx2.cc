// AVX2 uint8 SAD microkernel: vpsadbw sums |a - b| over each 8-byte group of
// a 32-byte YMM into four 64-bit lanes; kr = 32.
//
// Tile 3x3 from the 16 YMM registers: 9 accumulators + 3 filter rows + one
// patch row + one vpsadbw result = 14. 4x3 or 3x4 would need 17 and spill;
// 2x4 fits but loads 6 rows per 8 SADs where 3x3 loads 6 per 9 (measured at
// kc = 576 on Zen 4: 3x3 349, 3x4 388 but spilling, 2x4 282 G-ops/s).
#include <immintrin.h>
#include "ukernels.h"

namespace adn {
namespace {

struct V {
  using type = __m256i;
  static constexpr size_t bytes = 32;
  static type zero() { return _mm256_setzero_si256(); }
  static type load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static type sad(type a, type b) { return _mm256_sad_epu8(a, b); }
  static type add64(type a, type b) { return _mm256_add_epi64(a, b); }
  template <int NR>
  static void store_row(const type* acc, int32_t* c) {
#pragma GCC unroll 16
    for (int n = 0; n < NR; ++n) {
      const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(acc[n]), _mm256_extracti128_si256(acc[n], 1));
      c[n] = _mm_cvtsi128_si32(s) + _mm_extract_epi32(s, 2);
    }
  }
};

#include "u8-sad-ukernels-simd.h"

}  // namespace

void u8_sad_3x3__avx2(size_t kc, const uint8_t* a, const uint8_t* b, int32_t* c) {
  sad_kernel<V, 3, 3>(kc, a, b, c);
}

}  // namespace adn
