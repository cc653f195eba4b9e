// The optimiser's in-place updates: torch.optim.SGD, torch.optim.Adam / AdamW
// and AdderNet's adaptive learning-rate scaling (SPEC.md).
#include "addernet.h"

#include <algorithm>
#include <cmath>

#include "adam_math.h"
#include "thread_pool.h"

namespace adn {

void sgd_update(int64_t n, float* param, const float* grad, float* momentum_buf, double lr,
                double momentum, double dampening, double weight_decay, bool nesterov,
                bool first_step) {
  if (momentum != 0.0 && !momentum_buf)
    throw std::invalid_argument("SGD with momentum needs a momentum buffer");
  const float wd = float(weight_decay), mom = float(momentum), keep = float(1.0 - dampening),
              neg_lr = float(-lr);
  const bool use_wd = weight_decay != 0.0, use_mom = momentum != 0.0;
  parallel_ranges(n, 1, [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i) {
      float d = grad[i];
      if (use_wd) d = d + wd * param[i];
      if (use_mom) {
        const float buf = first_step ? d : mom * momentum_buf[i] + keep * d;
        momentum_buf[i] = buf;
        d = nesterov ? d + mom * buf : buf;
      }
      param[i] = param[i] + neg_lr * d;
    }
  });
}

void adam_update(int64_t n, float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                 float* max_exp_avg_sq, int64_t step, const AdamOptions& o) {
  const AdamScalars a = adam_scalars(step, o, max_exp_avg_sq);
  // Elementwise, so any split gives the same bits.
  parallel_ranges(n, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) adam_element(a, i, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq);
  });
}

void adaptive_scale(const float* g, int64_t n, float eta, float* out) {
  double sq = 0.0;
  for (int64_t i = 0; i < n; ++i) sq += double(g[i]) * g[i];
  const double alpha = double(eta) * std::sqrt(double(n)) / std::max(std::sqrt(sq), 1e-12);
  for (int64_t i = 0; i < n; ++i) out[i] = float(g[i] * alpha);
}

}  // namespace adn
