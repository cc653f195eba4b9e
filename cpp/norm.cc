// Batch normalisation (training and eval forward, training backward),
// threaded over channels. Each output is written by exactly one task and
// every sum runs in a fixed order inside it, so results are bitwise the same
// for any thread count.
#include "addernet.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "fixed_sums.h"
#include "thread_pool.h"

namespace adn {

void batch_norm_forward(int64_t n, int64_t c, int64_t hw, const float* x, const float* gamma,
                        const float* beta, float* running_mean, float* running_var,
                        bool training, double momentum, double eps, float* y, float* save_mean,
                        float* save_invstd) {
  const int64_t m = n * hw;
  if (training && m < 2)
    throw std::invalid_argument("batch norm in training needs more than 1 value per channel");
  parallel_ranges(c, m, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      double mean, invstd;
      if (training) {
        // Two passes (mean, then squared deviations): no cancellation when
        // |mean| >> std, and faster than one-pass shifted sums on cached data.
        double s1 = 0.0;
        for (int64_t i = 0; i < n; ++i) s1 += sum(x + (i * c + ch) * hw, hw);
        mean = s1 / double(m);
        double q = 0.0;
        for (int64_t i = 0; i < n; ++i) q += sum_sq_dev(x + (i * c + ch) * hw, hw, mean);
        const double var = q / double(m);  // biased: what the batch is normalised with
        invstd = 1.0 / std::sqrt(var + eps);
        running_mean[ch] = float((1.0 - momentum) * running_mean[ch] + momentum * mean);
        running_var[ch] =
            float((1.0 - momentum) * running_var[ch] + momentum * (q / double(m - 1)));
      } else {
        mean = running_mean[ch];
        invstd = 1.0 / std::sqrt(double(running_var[ch]) + eps);
      }
      save_mean[ch] = float(mean);
      save_invstd[ch] = float(invstd);
      // (x - mean) first: x * scale + shift would cancel badly when |mean| >> std.
      const float mf = float(mean), scale = float(gamma[ch] * invstd), b = beta[ch];
      for (int64_t i = 0; i < n; ++i) {
        const float* xr = x + (i * c + ch) * hw;
        float* yr = y + (i * c + ch) * hw;
        for (int64_t q = 0; q < hw; ++q) yr[q] = (xr[q] - mf) * scale + b;
      }
    }
  });
}

void batch_norm_backward(int64_t n, int64_t c, int64_t hw, const float* x, const float* gamma,
                         const float* grad_out, const float* save_mean,
                         const float* save_invstd, float* grad_in, float* grad_gamma,
                         float* grad_beta) {
  const double m = double(n * hw);
  parallel_ranges(c, n * hw, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      const double mean = save_mean[ch], invstd = save_invstd[ch];
      double sg = 0.0, sgx = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t off = (i * c + ch) * hw;
        sg += sum(grad_out + off, hw);
        sgx += dot_dev(grad_out + off, x + off, hw, mean);
      }
      if (grad_beta) grad_beta[ch] = float(sg);
      if (grad_gamma) grad_gamma[ch] = float(sgx * invstd);
      if (!grad_in) continue;
      // gx = gamma * invstd * (gy - mean(gy) - xhat * mean(gy * xhat))
      const float k = float(gamma[ch] * invstd), mf = float(mean), mean_g = float(sg / m),
                  slope = float(sgx * invstd * invstd / m);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t off = (i * c + ch) * hw;
        const float *xr = x + off, *gr = grad_out + off;
        float* out = grad_in + off;
        for (int64_t q = 0; q < hw; ++q) out[q] = k * (gr[q] - mean_g - (xr[q] - mf) * slope);
      }
    }
  });
}

}  // namespace adn
