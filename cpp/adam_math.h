// One Adam / AdamW element step, shared by the CPU kernel (cpp/optim.cc) and
// the CUDA kernel (cuda/optim.cu) so that both round exactly alike: the same
// float operations in the same order, with explicit fused multiply-adds
// where ATen's vectorised CPU kernels contract (see adn::adam_update in
// addernet.h). Division and square root are IEEE (nvcc's defaults), so the
// two backends agree bitwise.
#pragma once
#include <math.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "addernet.h"

#if defined(__CUDACC__)
#define ADN_HOST_DEVICE __host__ __device__
#else
#define ADN_HOST_DEVICE
#endif

namespace adn {

// The step's scalars, each computed in double and rounded to float once, as
// ATen does with the Python numbers of _single_tensor_adam.
struct AdamScalars {
  float decay;          // 1 - lr * wd (decoupled)
  float wd;             // wd (coupled)
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float bias2_sqrt;     // sqrt(1 - beta2^step)
  float eps;
  float neg_step_size;  // -lr / (1 - beta1^step)
  bool decoupled, use_wd, amsgrad;
};

// Throws std::invalid_argument for step < 1, or amsgrad without its buffer.
inline AdamScalars adam_scalars(int64_t step, const AdamOptions& o, const float* max_exp_avg_sq) {
  if (step < 1) throw std::invalid_argument("adam_update: step must be >= 1 (it is 1-based)");
  if (o.amsgrad && !max_exp_avg_sq)
    throw std::invalid_argument("Adam with amsgrad needs a max_exp_avg_sq buffer");
  const double s = double(step);
  AdamScalars a;
  a.decay = float(1.0 - o.lr * o.weight_decay);
  a.wd = float(o.weight_decay);
  a.beta1 = float(o.beta1);
  a.one_minus_beta1 = float(1.0 - o.beta1);
  a.beta2 = float(o.beta2);
  a.one_minus_beta2 = float(1.0 - o.beta2);
  a.bias2_sqrt = float(std::sqrt(1.0 - std::pow(o.beta2, s)));
  a.eps = float(o.eps);
  a.neg_step_size = float(-(o.lr / (1.0 - std::pow(o.beta1, s))));
  a.decoupled = o.decoupled;
  a.use_wd = o.weight_decay != 0.0;
  a.amsgrad = o.amsgrad;
  return a;
}

// Element i of the update; max_exp_avg_sq is read only with amsgrad.
ADN_HOST_DEVICE inline void adam_element(const AdamScalars& a, int64_t i, float* param,
                                         const float* grad, float* exp_avg, float* exp_avg_sq,
                                         float* max_exp_avg_sq) {
  float p = param[i], g = grad[i];
  if (a.decoupled) {
    p = p * a.decay;                                     // param.mul_(1 - lr * wd)
  } else if (a.use_wd) {
    g = fmaf(a.wd, p, g);                                // grad.add(param, alpha=wd)
  }
  const float m = fmaf(a.one_minus_beta1, g, exp_avg[i] * a.beta1);
  const float v = fmaf(a.one_minus_beta2 * g, g, exp_avg_sq[i] * a.beta2);
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  float s = v;
  if (a.amsgrad) {
    const float old = max_exp_avg_sq[i];  // torch.maximum: NaN propagates
    s = (old != old || old > v) ? old : v;
    max_exp_avg_sq[i] = s;
  }
  const float denom = sqrtf(s) / a.bias2_sqrt + a.eps;
  param[i] = p + (a.neg_step_size * m) / denom;          // addcdiv_(value=-step_size)
}

}  // namespace adn
