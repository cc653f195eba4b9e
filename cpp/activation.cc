// ReLU forward/backward and the residual add: element-wise, threaded over
// element ranges.
#include "addernet.h"

#include <algorithm>

#include "thread_pool.h"

namespace adn {

void relu_forward(const float* x, float* y, int64_t n) {
  parallel_ranges(n, 1, [&](int64_t a, int64_t b) {
    // x < 0 ? 0 : x keeps NaN, as torch.relu does.
    for (int64_t i = a; i < b; ++i) y[i] = x[i] < 0.0f ? 0.0f : x[i];
  });
}

void relu_backward(const float* y_or_x, const float* grad_out, float* grad_in, int64_t n) {
  parallel_ranges(n, 1, [&](int64_t a, int64_t b) {
    // Both loads unconditional, so the select vectorises instead of branching
    // on the sign of random data.
    for (int64_t i = a; i < b; ++i) {
      const float g = grad_out[i], v = y_or_x[i];
      grad_in[i] = v > 0.0f ? g : 0.0f;
    }
  });
}

void add(const float* a, const float* b, float* out, int64_t n) {
  parallel_ranges(n, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) out[i] = a[i] + b[i];
  });
}

}  // namespace adn
