// Double-precision sums in one fixed order, for the memory-bound ops: their
// results must not depend on the thread count or the ISA.
#pragma once
#include <cstdint>

namespace adn {

// Double sums with four interleaved accumulators: breaks the add latency
// chain while keeping one fixed order.
inline double sum(const float* p, int64_t n) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a0 += p[i];
    a1 += p[i + 1];
    a2 += p[i + 2];
    a3 += p[i + 3];
  }
  for (; i < n; ++i) a0 += p[i];
  return (a0 + a1) + (a2 + a3);
}

inline double sum_sq_dev(const float* p, int64_t n, double mean) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const double d0 = p[i] - mean, d1 = p[i + 1] - mean, d2 = p[i + 2] - mean,
                 d3 = p[i + 3] - mean;
    a0 += d0 * d0;
    a1 += d1 * d1;
    a2 += d2 * d2;
    a3 += d3 * d3;
  }
  for (; i < n; ++i) {
    const double d = p[i] - mean;
    a0 += d * d;
  }
  return (a0 + a1) + (a2 + a3);
}

// sum g * (x - mean). Kept apart from sum(g): two simple loops measured
// faster than one loop with eight accumulators.
inline double dot_dev(const float* g, const float* x, int64_t n, double mean) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a0 += double(g[i]) * (x[i] - mean);
    a1 += double(g[i + 1]) * (x[i + 1] - mean);
    a2 += double(g[i + 2]) * (x[i + 2] - mean);
    a3 += double(g[i + 3]) * (x[i + 3] - mean);
  }
  for (; i < n; ++i) a0 += double(g[i]) * (x[i] - mean);
  return (a0 + a1) + (a2 + a3);
}

// A half-open index range.

}  // namespace adn
