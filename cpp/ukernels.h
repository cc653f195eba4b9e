// Microkernel families and the per-ISA configuration that the engine drives.
//
// Packed layouts of the fp32 kernels (r = reduction index, m < MR, n < NR):
//   a: [r][MR]   b: [r][NR]   c: dense MR x NR tile, row stride NR (overwritten)
// The uint8 kernels keep the reduction contiguous instead (what vpsadbw wants):
//   a: [MR][kc]  b: [NR][kc]  c: dense MR x NR int32 tile, row stride NR
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>
#include "addernet.h"

namespace adn {

// c[m][n] (+)= sum_r a[r][m] * b[r][n]            (conv, and every gradient GEMM)
// c[m][n] (+)= sum_r max(a[r][m], b[r][n])        (adder forward, max trick)
// With accumulate, the block's sum is added to c (c + sum, in that order).
typedef void (*gemm_ukernel_fn)(size_t kc, const float* a, const float* b, float* c,
                                bool accumulate);
// Indirect B (XNNPACK's IGEMM idea, here without a pointer buffer): row r of
// b is not packed but read in place from the padded input, as the NR/2
// floats at b_lo + offsets[r] followed by the NR/2 at b_hi + offsets[r]
// (offsets: the layer's tap offsets; b_lo, b_hi: where each half of the
// panel's positions starts). Same operations in the same order as the packed
// kernel, so bit-identical to it on the gathered panel.
typedef void (*igemm_ukernel_fn)(size_t kc, const float* a, const float* b_lo, const float* b_hi,
                                 const int64_t* offsets, float* c, bool accumulate);
// c[m][n] = sum_r clamp(a[r][m] - x[m][n], -1, 1) * b[r][n]   (adder input gradient)
// x rows are x + m * x_stride, NR wide.
typedef void (*htgrad_ukernel_fn)(size_t kc, const float* a, const float* b,
                                  const float* x, size_t x_stride, float* c);
// The same with b read in place, as igemm_ukernel_fn reads it.
typedef void (*ihtgrad_ukernel_fn)(size_t kc, const float* a, const float* b_lo, const float* b_hi,
                                   const int64_t* offsets, const float* x, size_t x_stride, float* c);

// Dot products along contiguous positions (the filter gradient of stride-1
// layers, where both operands are rows of NCHW tensors and need no transposing):
//   c[m][n] = sum_{q < rows} sum_{e < len} a[m][a_off[q] + e] * b[b_taps[n] + b_off[q] + e]
// a: MR row pointers, b: one buffer with NR tap offsets. len a multiple of
// the kernel's lanes. Each lane sums in q, e order; the lanes are added
// pairwise at the end.
typedef void (*dot_ukernel_fn)(size_t rows, size_t len, const float* const* a, const int64_t* a_off,
                               const float* b, const int64_t* b_taps, const int64_t* b_off, float* c);

// c[m][n] = sum_r |a[m][r] - b[n][r]|, exact in int32 (quantized adder forward).
// kc is a multiple of kr; callers pad K with one byte value in both a and b,
// so the padding adds 0.
typedef void (*u8_sad_ukernel_fn)(size_t kc, const uint8_t* a, const uint8_t* b, int32_t* c);

// name says dtype, op, tile and ISA (XNNPACK style), e.g. "u8-adder-sad-4x4-avx512".
struct GemmUkernel { const char* name; int mr, nr; gemm_ukernel_fn fn; };
struct IgemmUkernel { const char* name; int mr, nr; igemm_ukernel_fn fn; };
struct HtgradUkernel { const char* name; int mr, nr; htgrad_ukernel_fn fn; };
struct IhtgradUkernel { const char* name; int mr, nr; ihtgrad_ukernel_fn fn; };
struct DotUkernel { const char* name; int mr, nr, lanes; dot_ukernel_fn fn; };
struct U8SadUkernel { const char* name; int mr, nr, kr; u8_sad_ukernel_fn fn; };

// What the engine dispatches to on one ISA. A kernel family added here must
// also be listed by ukernel_registry() (ukernel-registry.cc).
struct IsaConfig {
  Isa isa;
  GemmUkernel fma;
  GemmUkernel maxsum;
  HtgradUkernel htgrad;
  U8SadUkernel sad;
  // fma and maxsum with indirect B, same tiles (the forward's unpacked panels).
  IgemmUkernel fma_indirect;
  IgemmUkernel maxsum_indirect;
  IhtgradUkernel htgrad_indirect;
  DotUkernel dot;
};

// Whether the forward reads contiguous panels in place with the indirect
// kernels (default on). Off, every panel is packed: the native tests compare
// the two, which must give the same floats.
bool forward_indirect_enabled();
void set_forward_indirect(bool on);
// Whether a stride-1 input gradient runs as a forward over the output
// gradient (default on) instead of the scatter-add path; the native tests
// hold each to the reference.
bool direct_input_gradient_enabled();
void set_direct_input_gradient(bool on);
// Whether a stride-1 filter gradient uses the dot kernels (default on).
bool dot_filter_gradient_enabled();
void set_dot_filter_gradient(bool on);

// Each ISA's table; the avx2/avx512 tables are null where not compiled in.
const IsaConfig* scalar_config();
const IsaConfig* avx2_config();
const IsaConfig* avx512_config();
const IsaConfig& active_config();

// The uint8 SAD kernels, one file per ISA (u8-sad-ukernels-*.cc).
void u8_sad_4x4__scalar(size_t kc, const uint8_t* a, const uint8_t* b, int32_t* c);
void u8_sad_3x3__avx2(size_t kc, const uint8_t* a, const uint8_t* b, int32_t* c);
void u8_sad_4x4__avx512(size_t kc, const uint8_t* a, const uint8_t* b, int32_t* c);

// ---- registry: every microkernel compiled into this build --------------------
// Walked by the microkernel test and benchmark (cpp/tests/test_ukernels.cc,
// bench_ukernels.cc), so no kernel escapes testing and each can be timed alone.
enum class UkernelKind {
  f32_gemm_fma, f32_adder_maxsum, f32_adder_htgrad, u8_adder_sad, f32_igemm_fma, f32_adder_imaxsum,
  f32_adder_ihtgrad, f32_dot_fma
};
const char* ukernel_kind_name(UkernelKind kind);

struct UkernelEntry {
  const char* name;
  Isa isa;  // may be unsupported by this CPU: check isa_supported() before calling
  UkernelKind kind;
  int mr, nr;
  int kr;  // the reduction length must be a multiple of kr (1: any length)
  // Exactly one is set, by kind: gemm for fma and maxsum, htgrad, sad,
  // igemm for the indirect fma and maxsum, ihtgrad, or dot.
  gemm_ukernel_fn gemm;
  htgrad_ukernel_fn htgrad;
  u8_sad_ukernel_fn sad;
  igemm_ukernel_fn igemm = nullptr;
  ihtgrad_ukernel_fn ihtgrad = nullptr;
  dot_ukernel_fn dot = nullptr;  // len a multiple of kr
};
// Every ISA's kernels, scalar first, in IsaConfig order.
const std::vector<UkernelEntry>& ukernel_registry();
// The scalar kernel of a kind: what every other kernel of that kind is held to.
const UkernelEntry& scalar_ukernel(UkernelKind kind);

}  // namespace adn
