// Public C++ interface of the CPU kernels, grouped by op family (conv, quant,
// norm, activation, pool, loss, optim; one .cc each). float32, NCHW, PyTorch
// semantics. No N-API here: the binding, the CUDA backend and the native tests
// all use this header; the plain references are in reference.h.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

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

// ---- conv: adder and convolution layers (active ISA, all threads) ---------
// What a forward does to each output value before storing it, so that an
// eval-mode layer -> BatchNorm -> (+ residual) -> ReLU chain is one pass over
// the output while it is in cache, instead of four over memory:
//   y = relu?( bn?( layer(x) + bias ) + residual? )
// bn is batch_norm_forward in eval mode with its rounding, and the add and
// ReLU are add() and relu_forward(): fused and separate ops give the same
// floats.
struct Epilogue {
  // Eval-mode BatchNorm over the T output channels: all four [T] or none.
  const float* bn_gamma = nullptr;
  const float* bn_beta = nullptr;
  const float* bn_mean = nullptr;
  const float* bn_var = nullptr;
  double bn_eps = 1e-5;
  const float* residual = nullptr;  // [N, T, HO, WO] like y (may be y itself), or null
  bool relu = false;
  bool has_bn() const { return bn_gamma != nullptr; }
};

// Which contents the filters have, for reusing their packed form across
// calls (inference at batch 1 would otherwise repack every layer's filters
// per call): the id of their buffer and a version bumped by every write to
// it, both supplied by the caller (binding/tensor.h HostBuffer). id 0: no
// reuse. A forward with the id and version of an earlier one reuses its
// packing on the same ISA; forget_packed_filters(id) drops them.
struct FilterVersion {
  uint64_t id = 0, version = 0;
};
void forget_packed_filters(uint64_t id);
// Bytes held by packed filters kept for reuse (at most 64 MB, least recently used evicted first).
int64_t packed_filter_bytes();

// Y = -sum |Xp - F| (+ bias), then the epilogue. bias may be null.
void adder2d_forward(const Conv2dShape& s, const float* x, const float* w,
                     const float* bias, float* y, const Epilogue& epilogue = {},
                     FilterVersion filters = {});
// SPEC.md backward: full-precision filter gradient, HardTanh input gradient.
// Any of gx, gw, gb may be null (not computed).
void adder2d_backward(const Conv2dShape& s, const float* x, const float* w,
                      const float* gy, float* gx, float* gw, float* gb);
// Cross-correlation, same semantics as torch.nn.functional.conv2d.
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w,
                    const float* bias, float* y, const Epilogue& epilogue = {},
                    FilterVersion filters = {});
void conv2d_backward(const Conv2dShape& s, const float* x, const float* w,
                     const float* gy, float* gx, float* gw, float* gb);

// ---- quant: quantized adder layers -------------------------------------------
// Input and filters on one grid (x = s * (qx - z), w = s * (qw - z)), so
// |x - w| = s * |qx - qw| and the layer is -s * SAD with SAD exact in int32:
//   sad[n,t,i,j] = sum_{c,u,v} | qxp[n,c,i*SH+u, j*SW+v] - qw[t,c,u,v] |
// where qxp is qx padded with pad_value (the quantized 0.0, i.e. z).
// Active ISA, all threads; the result does not depend on either.
// 255 * K must fit int32: longer reductions are refused.
constexpr int64_t kMaxU8Reduction = INT32_MAX / 255;
// Throws std::invalid_argument for an invalid geometry or K > kMaxU8Reduction,
// LayerMemoryError when the packed operands exceed layer_memory_limit().
void adder2d_u8_forward(const Conv2dShape& s, const uint8_t* qx, const uint8_t* qw,
                        uint8_t pad_value, int32_t* sad);
// A whole quantized adder layer (lib/nn/quantize.ts QuantizedAdder): the
// grid (x = scale * (q - zero_point), 2^bits levels), the filters on it
// ([T, C, KH, KW]) and the folded per-channel epilogue
// y[n,t,i,j] = mul[t] * SAD + add[t] (mul = -bnScale * s, add = bnShift -
// bnScale * clip; in double, as a SAD reaches 2^31). Constant once built.
struct QuantizedAdder {
  double scale = 1;
  int zero_point = 0;
  int bits = 8;
  std::vector<uint8_t> qweight;
  std::vector<double> mul, add;
};
// Quantizes the float input x on the fly (round(x / s + z) clamped to the
// grid, ties to even, NaN to 0: bit for bit what the JavaScript
// quantizeValues gives), pads with zero_point, runs the uint8 SAD and writes
// the float output y [N, T, HO, WO]. Throws like adder2d_u8_forward, and
// std::invalid_argument when q does not match s.
void adder2d_u8_quantized_forward(const Conv2dShape& s, const float* x, const QuantizedAdder& q, float* y);

// ---- norm: batch normalisation over [n, c, hw] (BatchNorm1d is hw = 1) ----
// training: normalise with the batch mean and biased variance, then
//   running = (1 - momentum) * running + momentum * batch, with the unbiased
//   variance for running_var (needs n * hw > 1, else std::invalid_argument).
// eval: normalise with the running statistics, which are left unchanged.
// save_mean / save_invstd get the statistics used ([c] each), for backward.
void batch_norm_forward(int64_t n, int64_t c, int64_t hw, const float* x, const float* gamma,
                        const float* beta, float* running_mean, float* running_var,
                        bool training, double momentum, double eps, float* y, float* save_mean,
                        float* save_invstd);
// Training-mode backward (the batch statistics depend on x). Any of grad_in,
// grad_gamma, grad_beta may be null (not computed).
void batch_norm_backward(int64_t n, int64_t c, int64_t hw, const float* x, const float* gamma,
                         const float* grad_out, const float* save_mean,
                         const float* save_invstd, float* grad_in, float* grad_gamma,
                         float* grad_beta);

// ---- activation: element-wise ReLU and the residual add -----------------------
void relu_forward(const float* x, float* y, int64_t n);
// grad_in = grad_out where the forward input (or, equivalently, its output) is > 0;
// grad_in may alias grad_out.
void relu_backward(const float* y_or_x, const float* grad_out, float* grad_in, int64_t n);
// out = a + b; out may alias a or b.
void add(const float* a, const float* b, float* out, int64_t n);

// ---- pool ----------------------------------------------------------------------
// Geometry of a 2-D pooling call (no dilation, floor output size like
// PyTorch's ceil_mode=False).
struct Pool2dShape {
  int64_t n, c, h, w;   // input
  int64_t kh, kw;       // window
  int64_t sh, sw;       // stride
  int64_t ph, pw;       // implicit padding on each side
  int64_t ho() const { return (h + 2 * ph - kh) / sh + 1; }
  int64_t wo() const { return (w + 2 * pw - kw) / sw + 1; }
  int64_t planes() const { return n * c; }
  int64_t input_size() const { return n * c * h * w; }
  int64_t output_size() const { return n * c * ho() * wo(); }
  // Throws std::invalid_argument unless PyTorch would accept it (padding at
  // most half the window, so no window lies entirely in the padding), or a
  // plane has 2^31 elements or more (argmax is int32).
  void validate() const;
};
// Padding is -inf; argmax is the flat index h * W + w inside the (n, c) plane.
void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax);
// A scatter through argmax: needs only the plane sizes. Throws
// std::invalid_argument for an argmax outside [0, in_plane).
void max_pool2d_backward(int64_t planes, int64_t in_plane, int64_t out_plane,
                         const float* grad_out, const int32_t* argmax, float* grad_in);
// count_include_pad=True: every window divides by kh * kw.
void avg_pool2d_forward(const Pool2dShape& s, const float* x, float* y);
void avg_pool2d_backward(const Pool2dShape& s, const float* grad_out, float* grad_in);

// ---- loss ----------------------------------------------------------------------
struct LossResult {
  double loss;      // mean over the batch
  int64_t correct;  // rows whose first maximal logit is the label
};
// logits [n, k], labels in [0, k) (else std::invalid_argument). grad_logits
// (may be null) gets (softmax - onehot) / n.
LossResult softmax_cross_entropy(int64_t n, int64_t k, const float* logits,
                                 const int32_t* labels, float* grad_logits);

// ---- optim: in-place parameter updates ----------------------------------------
// torch.optim.SGD for one parameter tensor, in place:
//   d = grad + weight_decay * param
//   momentum != 0: buf = first_step ? d : momentum * buf + (1 - dampening) * d
//                  d = nesterov ? d + momentum * buf : buf
//   param -= lr * d
// The scalars are rounded to float once, as ATen does with Python numbers.
// momentum_buf may be null only when momentum == 0.
void sgd_update(int64_t n, float* param, const float* grad, float* momentum_buf, double lr,
                double momentum, double dampening, double weight_decay, bool nesterov,
                bool first_step);
// out = g * eta * sqrt(n) / max(||g||_2, 1e-12); out may alias g.
void adaptive_scale(const float* g, int64_t n, float eta, float* out);

// torch.optim.Adam / AdamW hyperparameters (PyTorch's names and defaults).
struct AdamOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  bool decoupled = false;  // AdamW: param *= 1 - lr * weight_decay; else grad += weight_decay * param
  bool amsgrad = false;    // normalise by the running maximum of exp_avg_sq
};
// One torch.optim.Adam (AdamW when decoupled) step for one parameter tensor,
// in place, with PyTorch 1.13's single-tensor arithmetic (adam.py, adamw.py;
// _single_tensor_adam) as ATen's CPU kernels round it:
//   decoupled:         param = param * (1 - lr * wd)
//   else, wd != 0:     g = fma(wd, param, grad)                 (grad.add(param, alpha=wd))
//   exp_avg    = fma(1 - beta1, g, exp_avg * beta1)             (mul_, add_(alpha=1-beta1))
//   exp_avg_sq = fma((1 - beta2) * g, g, exp_avg_sq * beta2)    (mul_, addcmul_)
//   amsgrad:           max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq), used below
//   denom = sqrt(exp_avg_sq) / sqrt(1 - beta2^step) + eps
//   param = param + (-lr / (1 - beta1^step)) * exp_avg / denom  (addcdiv_)
// step is 1-based (the bias corrections). The bias corrections and step size
// are computed in double and every scalar is rounded to float once, as ATen
// does with Python numbers; the fused multiply-adds are where ATen's AVX2/
// AVX-512 kernels contract (they match torch's CPU results bitwise there).
// grad is only read. max_exp_avg_sq may be null unless amsgrad.
void adam_update(int64_t n, float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                 float* max_exp_avg_sq, int64_t step, const AdamOptions& o);

}  // namespace adn
