// Softmax cross-entropy, threaded over rows; the batch mean is summed in
// row order, so the loss does not depend on the thread count.
#include "addernet.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "thread_pool.h"

namespace adn {

LossResult softmax_cross_entropy(int64_t n, int64_t k, const float* logits,
                                 const int32_t* labels, float* grad_logits) {
  if (n < 1 || k < 1) throw std::invalid_argument("softmax cross-entropy needs n >= 1 and k >= 1");
  // Check every label before writing anything.
  for (int64_t r = 0; r < n; ++r)
    if (labels[r] < 0 || labels[r] >= k)
      throw std::invalid_argument("label " + std::to_string(labels[r]) + " at index " +
                                  std::to_string(r) + " is outside [0, " + std::to_string(k) +
                                  ")");
  // Per-row results, summed in row order afterwards: thread-count independent.
  std::vector<double> row_loss(n);
  std::vector<unsigned char> row_hit(n);
  parallel_ranges(n, 3 * k, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* z = logits + r * k;
      const int64_t label = labels[r];
      int64_t top = 0;
      for (int64_t j = 1; j < k; ++j)
        if (z[j] > z[top]) top = j;
      const double zmax = z[top];
      double total = 0.0;  // log-sum-exp shifted by the max: no overflow
      for (int64_t j = 0; j < k; ++j) total += std::exp(double(z[j]) - zmax);
      row_loss[r] = zmax + std::log(total) - double(z[label]);
      row_hit[r] = top == label;
      if (grad_logits) {
        // Subtract the one-hot in double: p - 1 cancels when p is near 1.
        float* g = grad_logits + r * k;
        const double inv_total = 1.0 / total, inv_n = 1.0 / double(n);
        for (int64_t j = 0; j < k; ++j) {
          const double p = std::exp(double(z[j]) - zmax) * inv_total;
          g[j] = float((j == label ? p - 1.0 : p) * inv_n);
        }
      }
    }
  });
  LossResult out{0.0, 0};
  for (int64_t r = 0; r < n; ++r) {
    out.loss += row_loss[r];
    out.correct += row_hit[r];
  }
  out.loss /= double(n);
  return out;
}

}  // namespace adn
