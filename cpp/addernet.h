// Public C++ interface of the CPU kernels. No N-API here: the binding and the
// native tests both use this header.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace adn {

// Geometry of one 2-D layer call (NCHW input, [T, C, KH, KW] filters).
struct Conv2dShape {
  int64_t n, c, h, w;    // input
  int64_t t, kh, kw;     // filters
  int64_t sh, sw;        // stride
  int64_t ph, pw;        // zero padding
  int64_t ho() const { return (h + 2 * ph - kh) / sh + 1; }
  int64_t wo() const { return (w + 2 * pw - kw) / sw + 1; }
  int64_t k() const { return c * kh * kw; }           // reduction length
  int64_t positions() const { return n * ho() * wo(); }
  int64_t input_size() const { return n * c * h * w; }
  int64_t weight_size() const { return t * c * kh * kw; }
  int64_t output_size() const { return n * t * ho() * wo(); }
  // Throws std::invalid_argument when the geometry is not a valid layer.
  void validate() const;
};

enum class Isa { scalar = 0, avx2 = 1, avx512 = 2 };
const char* isa_name(Isa isa);
// Best path this CPU (and OS) supports, honouring ADDERNET_ISA on first use.
Isa active_isa();
bool isa_supported(Isa isa);
// Forces a path; throws std::runtime_error when the CPU lacks it.
void set_isa(Isa isa);
Isa parse_isa(const std::string& name);  // throws std::invalid_argument

constexpr int kMaxThreads = 1024;
int num_threads();
void set_num_threads(int n);  // 1 <= n <= kMaxThreads
// Problems with ADDERNET_ISA / ADDERNET_NUM_THREADS found at first use, each
// already resolved by falling back to the default ("" when none).
std::string environment_warnings();

// The most scratch memory (padded copies, packed operands, partial sums) one
// kernel call may hold. Default: this machine's physical memory, so an absurd
// geometry is refused before an overcommitting allocator hands out pages the
// machine does not have. Exceeding it throws LayerMemoryError.
struct LayerMemoryError : std::length_error {
  using std::length_error::length_error;
};
int64_t layer_memory_limit();
void set_layer_memory_limit(int64_t bytes);  // bytes >= 1

// ---- Layer kernels (active ISA, all threads) ------------------------------
// Y = -sum |Xp - F| (+ bias). bias may be null.
void adder2d_forward(const Conv2dShape& s, const float* x, const float* w,
                     const float* bias, float* y);
// SPEC.md backward: full-precision filter gradient, HardTanh input gradient.
// Any of gx, gw, gb may be null (not computed).
void adder2d_backward(const Conv2dShape& s, const float* x, const float* w,
                      const float* gy, float* gx, float* gw, float* gb);
// Cross-correlation, same semantics as torch.nn.functional.conv2d.
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w,
                    const float* bias, float* y);
void conv2d_backward(const Conv2dShape& s, const float* x, const float* w,
                     const float* gy, float* gx, float* gw, float* gb);
// out = g * eta * sqrt(n) / max(||g||_2, 1e-12); out may alias g.
void adaptive_scale(const float* g, int64_t n, float eta, float* out);

// ---- Plain references: direct loops over the SPEC formulas, double sums ----
namespace ref {
void adder2d_forward(const Conv2dShape& s, const float* x, const float* w,
                     const float* bias, float* y);
void adder2d_backward(const Conv2dShape& s, const float* x, const float* w,
                      const float* gy, float* gx, float* gw, float* gb);
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w,
                    const float* bias, float* y);
void conv2d_backward(const Conv2dShape& s, const float* x, const float* w,
                     const float* gy, float* gx, float* gw, float* gb);
void adaptive_scale(const float* g, int64_t n, float eta, float* out);
}  // namespace ref

}  // namespace adn
