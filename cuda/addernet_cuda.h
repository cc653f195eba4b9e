// Public C++ interface of the CUDA kernels. Plain C++17: no CUDA headers, so
// the binding and the native tests can include it with the host compiler.
//
// Every function takes device pointers and a stream (nullptr = the legacy
// default stream) and only enqueues work: results are ready after
// synchronize(stream). Errors never abort:
//   - bad geometry or arguments throw std::invalid_argument before any CUDA call;
//   - a failing CUDA call throws adn::cuda::Error carrying the CUDA error name,
//     string and the operation (no device, out of memory, launch failure).
//     Errors of kernels that fail while running surface at the next checked
//     call on the stream, typically synchronize().
//
// All reductions are deterministic: fixed partitions chosen from the shapes
// only, per-block partial sums, fixed-order second passes; no floating-point
// atomics. Results are bitwise repeatable on one GPU model.
//
// Index arithmetic is 32-bit: tensors of the structured ops (layers, batch
// norm, pooling, loss) must have fewer than 2^31 elements (checked; throws
// std::invalid_argument otherwise).
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "addernet.h"  // adn::Conv2dShape, adn::Pool2dShape, adn::LossResult

struct CUstream_st;  // cudaStream_t is CUstream_st*

namespace adn {
namespace cuda {

using Stream = CUstream_st*;

// A failed CUDA call. what(): "CUDA error in <operation>: <string> (<name>, <code>)".
class Error : public std::runtime_error {
 public:
  Error(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }  // the cudaError_t value

 private:
  int code_;
};

// ---- Devices ------------------------------------------------------------------
// True when at least one usable device is present. Never throws: no device,
// no driver or an old driver give false (reason() says why).
bool available();
// Why available() is false ("" when it is true): the CUDA error string.
std::string unavailable_reason();
int device_count();  // 0 when unavailable
struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0;        // compute capability
  int multiprocessors = 0;
  size_t total_memory = 0;         // bytes
  int clock_khz = 0, memory_clock_khz = 0;
};
DeviceInfo device_info(int device);
void set_device(int device);
int current_device();
int runtime_version();  // e.g. 13000
int driver_version();   // 0 when no driver

// ---- Memory -------------------------------------------------------------------
// cudaMalloc with accounting. alloc(0) returns nullptr. dealloc(nullptr) is a
// no-op; a pointer that alloc did not return throws std::invalid_argument.
void* alloc(size_t bytes);
void dealloc(void* p);
struct MemoryInfo {
  size_t live_bytes = 0;        // allocated through alloc() and not yet freed
  size_t live_allocations = 0;
  size_t peak_bytes = 0;        // highest live_bytes so far
  size_t device_free = 0, device_total = 0;  // cudaMemGetInfo; 0 when unavailable
};
MemoryInfo memory_info();

// Asynchronous copies (pageable host memory makes them effectively synchronous
// with respect to the host buffer) and a byte fill, all on `stream`.
void copy_to_device(void* dst, const void* src, size_t bytes, Stream stream = nullptr);
void copy_to_host(void* dst, const void* src, size_t bytes, Stream stream = nullptr);
void copy_device(void* dst, const void* src, size_t bytes, Stream stream = nullptr);
void fill_bytes(void* dst, int value, size_t bytes, Stream stream = nullptr);

Stream create_stream();  // non-blocking stream
void destroy_stream(Stream stream);
void synchronize(Stream stream = nullptr);  // waits and reports kernel failures
void synchronize_device();

// ---- Layers (SPEC.md) ------------------------------------------------------------
// y = -sum |Xp - F| (+ bias). bias may be null. Implicit GEMM, shared-memory
// tiles, no unfold buffer.
void adder2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                     float* y, Stream stream = nullptr);
// Full-precision filter gradient (GEMM identity dF = G Xcol^T - F .* rowsum(G),
// split over positions with a fixed-order second pass), HardTanh input
// gradient, bias gradient. Any of gx, gw, gb may be null (not computed).
void adder2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* gy,
                      float* gx, float* gw, float* gb, Stream stream = nullptr);
// Cross-correlation (torch.nn.functional.conv2d), same tiling.
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y, Stream stream = nullptr);
void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* gy,
                     float* gx, float* gw, float* gb, Stream stream = nullptr);
// out = g * eta * sqrt(n) / max(||g||_2, 1e-12), all on the device (no host
// round trip); out may alias g. alpha_out (may be null) gets the factor.
void adaptive_scale(const float* g, int64_t n, float eta, float* out, Stream stream = nullptr,
                    float* alpha_out = nullptr);

// ---- norm, activation, pool, loss, optim (same semantics as cpp/addernet.h) ------
// Batch norm over [n, c, hw] (BatchNorm1d: hw = 1). See adn::batch_norm_forward.
void batch_norm_forward(int64_t n, int64_t c, int64_t hw, const float* x, const float* gamma,
                        const float* beta, float* running_mean, float* running_var,
                        bool training, double momentum, double eps, float* y, float* save_mean,
                        float* save_invstd, Stream stream = nullptr);
// Training-mode backward; any of grad_in, grad_gamma, grad_beta may be null.
void batch_norm_backward(int64_t n, int64_t c, int64_t hw, const float* x, const float* gamma,
                         const float* grad_out, const float* save_mean,
                         const float* save_invstd, float* grad_in, float* grad_gamma,
                         float* grad_beta, Stream stream = nullptr);

void relu_forward(const float* x, float* y, int64_t n, Stream stream = nullptr);
void relu_backward(const float* y_or_x, const float* grad_out, float* grad_in, int64_t n,
                   Stream stream = nullptr);
void add(const float* a, const float* b, float* out, int64_t n, Stream stream = nullptr);

// Padding is -inf; argmax is the flat index h * W + w inside the (n, c) plane.
void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax,
                        Stream stream = nullptr);
// Unlike the CPU version this takes the whole geometry: it gathers (each input
// element sums, in output order, the gradients of the windows covering it whose
// argmax points at it) so it needs no atomics. argmax must come from
// max_pool2d_forward with the same shape; an argmax outside its window is
// ignored (never an out-of-bounds access).
void max_pool2d_backward(const Pool2dShape& s, const float* grad_out, const int32_t* argmax,
                         float* grad_in, Stream stream = nullptr);
// count_include_pad=True.
void avg_pool2d_forward(const Pool2dShape& s, const float* x, float* y, Stream stream = nullptr);
void avg_pool2d_backward(const Pool2dShape& s, const float* grad_out, float* grad_in,
                         Stream stream = nullptr);
// Mean over each of `planes` planes of `plane` elements: [n, c, h, w] -> [n, c].
void global_avg_pool_forward(int64_t planes, int64_t plane, const float* x, float* y,
                             Stream stream = nullptr);
void global_avg_pool_backward(int64_t planes, int64_t plane, const float* grad_out,
                              float* grad_in, Stream stream = nullptr);

// Written to device memory by softmax_cross_entropy.
struct LossOut {
  double loss;               // mean over the batch (NaN when a label is invalid)
  int64_t correct;           // rows whose first maximal logit is the label
  int64_t invalid_label_row; // -1, or the first row whose label is outside [0, k)
};
// logits [n, k], labels int32; grad_logits (may be null) gets (softmax - onehot)/n.
// With an invalid label nothing but *result is written. result is a device pointer.
void softmax_cross_entropy(int64_t n, int64_t k, const float* logits, const int32_t* labels,
                           float* grad_logits, LossOut* result, Stream stream = nullptr);
// Convenience: runs the above, waits, and returns the numbers; throws
// std::invalid_argument for an invalid label, like the CPU version.
LossResult softmax_cross_entropy_sync(int64_t n, int64_t k, const float* logits,
                                      const int32_t* labels, float* grad_logits,
                                      Stream stream = nullptr);

// torch.optim.SGD in place; see adn::sgd_update.
void sgd_update(int64_t n, float* param, const float* grad, float* momentum_buf, double lr,
                double momentum, double dampening, double weight_decay, bool nesterov,
                bool first_step, Stream stream = nullptr);
// torch.optim.Adam / AdamW in place; see adn::adam_update (bitwise the same
// results: both run adn::adam_element, cpp/adam_math.h).
void adam_update(int64_t n, float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                 float* max_exp_avg_sq, int64_t step, const AdamOptions& o,
                 Stream stream = nullptr);

}  // namespace cuda
}  // namespace adn
