// The portable HardTanh input-gradient microkernel (see f32-ukernels-scalar.cc).
// A file of its own because it is compiled with -fno-trapping-math: without
// it GCC keeps the clamps as compare-and-branch (to preserve FP exception
// flags, which nothing reads), and on random signs that mispredicts: 3.6x
// slower. The same flag on the max-trick forward makes GCC's code for it
// 2.3x slower, hence the split. Results are the same bits either way.
#include <algorithm>
#include <cstddef>

namespace adn {

void htgrad_4x8__scalar(size_t kc, const float* a, const float* b, const float* x,
                        size_t x_stride, float* c) {
  constexpr int MR = 4, NR = 8;
  float acc[MR][NR] = {}, xt[MR][NR];
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) xt[m][n] = x[m * x_stride + n];
  for (size_t r = 0; r < kc; ++r, a += MR, b += NR)
    for (int m = 0; m < MR; ++m)
      for (int n = 0; n < NR; ++n) {
        float d = a[m] - xt[m][n];
        d = d < -1.0f ? -1.0f : d;
        d = d > 1.0f ? 1.0f : d;
        acc[m][n] += d * b[n];
      }
  std::copy(&acc[0][0], &acc[0][0] + MR * NR, c);
}

}  // namespace adn
