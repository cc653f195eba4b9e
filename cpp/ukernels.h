// Microkernel families and the per-ISA configuration that the engine drives.
//
// Packed layouts (r = reduction index, m < MR, n < NR):
//   a: [r][MR]   b: [r][NR]   c: dense MR x NR tile, row stride NR (overwritten)
#pragma once
#include <cstddef>
#include "addernet.h"

namespace adn {

// c[m][n] (+)= sum_r a[r][m] * b[r][n]            (conv, and every gradient GEMM)
// c[m][n] (+)= sum_r max(a[r][m], b[r][n])        (adder forward, max trick)
// With accumulate, the block's sum is added to c (c + sum, in that order).
typedef void (*gemm_ukernel_fn)(size_t kc, const float* a, const float* b, float* c,
                                bool accumulate);
// c[m][n] = sum_r clamp(a[r][m] - x[m][n], -1, 1) * b[r][n]   (adder input gradient)
// x rows are x + m * x_stride, NR wide.
typedef void (*htgrad_ukernel_fn)(size_t kc, const float* a, const float* b,
                                  const float* x, size_t x_stride, float* c);

struct GemmUkernel { int mr, nr; gemm_ukernel_fn fn; };
struct HtgradUkernel { int mr, nr; htgrad_ukernel_fn fn; };

struct IsaConfig {
  Isa isa;
  GemmUkernel fma;
  GemmUkernel maxsum;
  HtgradUkernel htgrad;
};

// Each ISA's table; the avx2/avx512 tables are null where not compiled in.
const IsaConfig* scalar_config();
const IsaConfig* avx2_config();
const IsaConfig* avx512_config();
const IsaConfig& active_config();

}  // namespace adn
