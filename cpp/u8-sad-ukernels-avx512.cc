// AVX-512BW uint8 SAD microkernel: vpsadbw on ZMM sums |a - b| over 64 bytes
// (eight 8-byte groups into eight 64-bit lanes) per instruction; kr = 64.
//
// Tile 4x4 from the 32 ZMM registers: 16 accumulators + 4 filter rows + one
// patch row + one vpsadbw result = 22, 8 row loads per 16 SADs. 4x6 or 6x4
// (30 registers) load less per SAD and measured faster at kc = 576 (693 vs
// 586 G-ops/s on Zen 4 before the row reduction below) but no faster at
// kc = 4096, leave the compiler no slack, and a 6-wide panel wastes more of
// the 8x8 maps and 16- to 64-filter layers of ResNet-20 in padding.
#include <immintrin.h>
#include "ukernels.h"

namespace adn {
namespace {

struct V {
  using type = __m512i;
  static constexpr size_t bytes = 64;
  static type zero() { return _mm512_setzero_si512(); }
  static type load(const uint8_t* p) { return _mm512_loadu_si512(p); }
  static type sad(type a, type b) { return _mm512_sad_epu8(a, b); }
  static type add64(type a, type b) { return _mm512_add_epi64(a, b); }
  // One row's four sums at once, 12 instructions where four
  // _mm512_reduce_add_epi64 take 28 (a quarter of the loop at kc = 576):
  // n = 1 and 3 move into the high dwords of n = 0 and 2, without carries.
  template <int NR>
  static void store_row(const type* acc, int32_t* c) {
    static_assert(NR == 4, "the row reduction packs four sums into one XMM");
    const __m512i s01 = _mm512_add_epi64(acc[0], _mm512_slli_epi64(acc[1], 32));
    const __m512i s23 = _mm512_add_epi64(acc[2], _mm512_slli_epi64(acc[3], 32));
    // dwords of each 128-bit lane: partial sums of n = 0, 1, 2, 3.
    __m512i t = _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
    t = _mm512_add_epi32(t, _mm512_shuffle_i32x4(t, t, 0x4e));  // + the other 256-bit half
    t = _mm512_add_epi32(t, _mm512_shuffle_i32x4(t, t, 0xb1));  // + the neighbouring 128-bit lane
    _mm_storeu_si128(reinterpret_cast<__m128i*>(c), _mm512_castsi512_si128(t));
  }
};

#include "u8-sad-ukernels-simd.h"

}  // namespace

void u8_sad_4x4__avx512(size_t kc, const uint8_t* a, const uint8_t* b, int32_t* c) {
  sad_kernel<V, 4, 4>(kc, a, b, c);
}

}  // namespace adn
