// The portable HardTanh input-gradient microkernel (see f32-ukernels-scalar.cc).
// A file of its own because it is compiled with -fno-trapping-math: without
// it GCC keeps the clamps as compare-and-branch (to preserve FP exception
// flags, which nothing reads), and on random signs that mispredicts: 3.6x
// slower. The same flag on the max-trick forward makes GCC's code for it
// 2.3x slower, hence the split. Results are the same bits either way.
#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace adn {

namespace {
constexpr int MR = 4, NR = 8;

// row(r, out) gives row r of b: packed, or its two halves read in place.
template <class Row>
void htgrad_body(size_t kc, const float* a, Row row, const float* x, size_t x_stride, float* c) {
  float acc[MR][NR] = {}, xt[MR][NR];
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) xt[m][n] = x[m * x_stride + n];
  for (size_t r = 0; r < kc; ++r, a += MR) {
    float b[NR];
    row(r, b);
    for (int m = 0; m < MR; ++m)
      for (int n = 0; n < NR; ++n) {
        float d = a[m] - xt[m][n];
        d = d < -1.0f ? -1.0f : d;
        d = d > 1.0f ? 1.0f : d;
        acc[m][n] += d * b[n];
      }
  }
  std::copy(&acc[0][0], &acc[0][0] + MR * NR, c);
}
}  // namespace

void htgrad_4x8__scalar(size_t kc, const float* a, const float* b, const float* x,
                        size_t x_stride, float* c) {
  htgrad_body(kc, a, [b](size_t r, float* out) { std::copy(b + r * NR, b + r * NR + NR, out); },
              x, x_stride, c);
}

void htgrad_4x8__scalar_indirect(size_t kc, const float* a, const float* b_lo, const float* b_hi,
                                 const int64_t* offsets, const float* x, size_t x_stride,
                                 float* c) {
  const auto row = [=](size_t r, float* out) {
    std::copy(b_lo + offsets[r], b_lo + offsets[r] + NR / 2, out);
    std::copy(b_hi + offsets[r], b_hi + offsets[r] + NR / 2, out + NR / 2);
  };
  htgrad_body(kc, a, row, x, x_stride, c);
}

}  // namespace adn
