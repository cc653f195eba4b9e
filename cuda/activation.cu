// ReLU and the residual add on the GPU, mirroring cpp/activation.cc.
#include "common.cuh"

namespace adn {
namespace cuda {
using namespace detail;
namespace {

// ---- Element-wise -----------------------------------------------------------------

__global__ void relu_fwd(const float* x, float* y, int64_t n) {
  GRID_STRIDE(i, n) y[i] = x[i] < 0.0f ? 0.0f : x[i];  // keeps NaN, like torch.relu
}
__global__ void relu_bwd(const float* y, const float* g, float* gx, int64_t n) {
  GRID_STRIDE(i, n) gx[i] = y[i] > 0.0f ? g[i] : 0.0f;
}
__global__ void add_kernel(const float* a, const float* b, float* out, int64_t n) {
  GRID_STRIDE(i, n) out[i] = a[i] + b[i];
}

}  // namespace

void relu_forward(const float* x, float* y, int64_t n, Stream stream) {
  need(n >= 0, "relu_forward: n must be >= 0");
  if (n == 0) return;
  relu_fwd<<<grid_for(n), kThreads, 0, raw(stream)>>>(x, y, n);
  check_launch("relu_forward");
}

void relu_backward(const float* y_or_x, const float* grad_out, float* grad_in, int64_t n,
                   Stream stream) {
  need(n >= 0, "relu_backward: n must be >= 0");
  if (n == 0) return;
  relu_bwd<<<grid_for(n), kThreads, 0, raw(stream)>>>(y_or_x, grad_out, grad_in, n);
  check_launch("relu_backward");
}

void add(const float* a, const float* b, float* out, int64_t n, Stream stream) {
  need(n >= 0, "add: n must be >= 0");
  if (n == 0) return;
  add_kernel<<<grid_for(n), kThreads, 0, raw(stream)>>>(a, b, out, n);
  check_launch("add");
}

}  // namespace cuda
}  // namespace adn
