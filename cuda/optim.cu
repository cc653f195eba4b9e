// In-place optimiser updates on the GPU, mirroring cpp/optim.cc: SGD, Adam /
// AdamW (the same element step as the CPU, cpp/adam_math.h) and the adaptive
// learning-rate scale (its norm is a fixed-partition sum).
#include <algorithm>
#include <cmath>

#include "adam_math.h"
#include "common.cuh"

namespace adn {
namespace cuda {
using namespace detail;
namespace {

// ---- SGD ----------------------------------------------------------------------------

__global__ void sgd_kernel(int64_t n, float* param, const float* grad, float* buf, float wd,
                           float mom, float keep, float neg_lr, bool use_wd, bool use_mom,
                           bool nesterov, bool first_step) {
  GRID_STRIDE(i, n) {
    float d = grad[i];
    if (use_wd) d = d + wd * param[i];
    if (use_mom) {
      const float b = first_step ? d : mom * buf[i] + keep * d;
      buf[i] = b;
      d = nesterov ? d + mom * b : b;
    }
    param[i] = param[i] + neg_lr * d;
  }
}

// ---- Adam / AdamW ---------------------------------------------------------------

__global__ void adam_kernel(int64_t n, AdamScalars a, float* param, const float* grad,
                            float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq) {
  GRID_STRIDE(i, n) { adam_element(a, i, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq); }
}

// ---- Adaptive learning-rate scale -------------------------------------------------

__global__ void __launch_bounds__(kThreads)
    sum_squares_partials(const float* g, int64_t n, int64_t chunk, double* part) {
  __shared__ double sh[kThreads];
  const int64_t begin = int64_t(blockIdx.x) * chunk;
  const int64_t end = begin + chunk < n ? begin + chunk : n;
  double a = 0.0;
  for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
    const double v = g[i];
    a += v * v;
  }
  a = block_sum(a, sh);
  if (threadIdx.x == 0) part[blockIdx.x] = a;
}

__global__ void __launch_bounds__(kThreads)
    scale_factor(const double* part, int parts, int64_t n, float eta, double* alpha,
                 float* alpha_out) {
  __shared__ double sh[kThreads];
  double a = 0.0;
  for (int i = threadIdx.x; i < parts; i += kThreads) a += part[i];
  a = block_sum(a, sh);
  if (threadIdx.x == 0) {
    const double f = double(eta) * sqrt(double(n)) / fmax(sqrt(a), 1e-12);
    *alpha = f;
    if (alpha_out) *alpha_out = float(f);
  }
}

__global__ void scale_kernel(const float* g, int64_t n, const double* alpha, float* out) {
  const double f = *alpha;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = float(double(g[i]) * f);
}

}  // namespace

void sgd_update(int64_t n, float* param, const float* grad, float* momentum_buf, double lr,
                double momentum, double dampening, double weight_decay, bool nesterov,
                bool first_step, Stream stream) {
  need(n >= 0, "sgd_update: n must be >= 0");
  if (momentum != 0.0 && !momentum_buf)
    throw std::invalid_argument("SGD with momentum needs a momentum buffer");
  if (n == 0) return;
  // The scalars are rounded to float once, as the CPU version (and ATen) does.
  sgd_kernel<<<grid_for(n), kThreads, 0, raw(stream)>>>(
      n, param, grad, momentum_buf, float(weight_decay), float(momentum), float(1.0 - dampening),
      float(-lr), weight_decay != 0.0, momentum != 0.0, nesterov, first_step);
  check_launch("sgd_update");
}

void adam_update(int64_t n, float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                 float* max_exp_avg_sq, int64_t step, const AdamOptions& o, Stream stream) {
  need(n >= 0, "adam_update: n must be >= 0");
  const AdamScalars a = adam_scalars(step, o, max_exp_avg_sq);
  if (n == 0) return;
  adam_kernel<<<grid_for(n), kThreads, 0, raw(stream)>>>(n, a, param, grad, exp_avg, exp_avg_sq,
                                                         max_exp_avg_sq);
  check_launch("adam_update");
}

void adaptive_scale(const float* g, int64_t n, float eta, float* out, Stream stream,
                    float* alpha_out) {
  need(n >= 0, "adaptive_scale: n must be >= 0");
  const cudaStream_t st = raw(stream);
  if (n == 0) {
    if (alpha_out) fill_bytes(alpha_out, 0, sizeof(float), stream);  // eta * 0 / 1e-12
    return;
  }
  // Fixed partition from n alone: <= 1024 blocks of >= 8192 elements.
  int64_t chunk = std::max<int64_t>(8192, div_up(n, 1024));
  chunk = div_up(chunk, kThreads) * kThreads;
  const int parts = int(div_up(n, chunk));
  Workspace ws(aligned(sizeof(double)) + sizeof(double) * parts, stream);
  double* alpha = ws.as<double>();
  double* part = ws.as<double>(aligned(sizeof(double)));
  sum_squares_partials<<<parts, kThreads, 0, st>>>(g, n, chunk, part);
  check_launch("adaptive_scale");
  scale_factor<<<1, kThreads, 0, st>>>(part, parts, n, eta, alpha, alpha_out);
  check_launch("adaptive_scale");
  scale_kernel<<<grid_for(n), kThreads, 0, st>>>(g, n, alpha, out);
  check_launch("adaptive_scale");
  ws.release();
}

}  // namespace cuda
}  // namespace adn
