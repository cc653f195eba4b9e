// Portable uint8 sum-of-absolute-differences microkernel: the path every
// platform has, and the one the SIMD kernels are held to bit for bit.
// Any reduction length (kr = 1). Integer sums are exact, so the order of
// accumulation is free: each output sums its own row pair.
#include <cstdlib>
#include "ukernels.h"

namespace adn {

void u8_sad_4x4__scalar(size_t kc, const uint8_t* a, const uint8_t* b, int32_t* c) {
  constexpr int MR = 4, NR = 4;
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) {
      const uint8_t* am = a + m * kc;
      const uint8_t* bn = b + n * kc;
      int32_t acc = 0;
      for (size_t r = 0; r < kc; ++r) acc += std::abs(int32_t(am[r]) - int32_t(bn[r]));
      c[m * NR + n] = acc;
    }
}

}  // namespace adn
