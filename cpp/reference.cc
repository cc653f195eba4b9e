// Plain references: the SPEC.md formulas as direct loops with double sums.
// Slow on purpose; every optimised path is tested against these.
#include <algorithm>
#include <cmath>
#include <vector>

#include "addernet.h"

namespace adn {
namespace ref {
namespace {

// Calls fn(n, t, i, j, c, u, v, x_index_or_-1, w_index, y_index) for every tap.
template <class Fn>
void for_each_tap(const Conv2dShape& s, Fn fn) {
  const int64_t HO = s.ho(), WO = s.wo();
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t t = 0; t < s.t; ++t)
      for (int64_t i = 0; i < HO; ++i)
        for (int64_t j = 0; j < WO; ++j) {
          const int64_t yi = ((n * s.t + t) * HO + i) * WO + j;
          for (int64_t c = 0; c < s.c; ++c)
            for (int64_t u = 0; u < s.kh; ++u)
              for (int64_t v = 0; v < s.kw; ++v) {
                const int64_t h = i * s.sh + u - s.ph, w = j * s.sw + v - s.pw;
                const bool inside = h >= 0 && h < s.h && w >= 0 && w < s.w;
                const int64_t xi = inside ? ((n * s.c + c) * s.h + h) * s.w + w : -1;
                const int64_t wi = ((t * s.c + c) * s.kh + u) * s.kw + v;
                fn(xi, wi, yi);
              }
        }
}

template <class Op>
void forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
             Op op) {
  s.validate();
  std::vector<double> acc(s.output_size(), 0.0);
  for_each_tap(s, [&](int64_t xi, int64_t wi, int64_t yi) {
    acc[yi] += op(xi >= 0 ? double(x[xi]) : 0.0, double(w[wi]));
  });
  const int64_t HW = s.ho() * s.wo();
  for (int64_t e = 0; e < s.output_size(); ++e)
    y[e] = float(acc[e] + (bias ? double(bias[(e / HW) % s.t]) : 0.0));
}

void bias_gradient(const Conv2dShape& s, const float* gy, float* gb) {
  const int64_t HW = s.ho() * s.wo();
  for (int64_t t = 0; t < s.t; ++t) {
    double acc = 0.0;
    for (int64_t n = 0; n < s.n; ++n)
      for (int64_t q = 0; q < HW; ++q) acc += gy[(n * s.t + t) * HW + q];
    gb[t] = float(acc);
  }
}

// gx_term(x, w) and gw_term(x, w) give each tap's factor multiplying G.
template <class GxTerm, class GwTerm>
void backward(const Conv2dShape& s, const float* x, const float* w, const float* gy, float* gx,
              float* gw, float* gb, GxTerm gx_term, GwTerm gw_term) {
  s.validate();
  std::vector<double> dx(gx ? s.input_size() : 0, 0.0), dw(gw ? s.weight_size() : 0, 0.0);
  for_each_tap(s, [&](int64_t xi, int64_t wi, int64_t yi) {
    const double xv = xi >= 0 ? double(x[xi]) : 0.0, wv = w[wi], g = gy[yi];
    if (gw) dw[wi] += gw_term(xv, wv) * g;
    if (gx && xi >= 0) dx[xi] += gx_term(xv, wv) * g;  // padding gets no gradient
  });
  if (gx) std::transform(dx.begin(), dx.end(), gx, [](double v) { return float(v); });
  if (gw) std::transform(dw.begin(), dw.end(), gw, [](double v) { return float(v); });
  if (gb) bias_gradient(s, gy, gb);
}

}  // namespace

void adder2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                     float* y) {
  forward(s, x, w, bias, y, [](double a, double b) { return -std::fabs(a - b); });
}

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y) {
  forward(s, x, w, bias, y, [](double a, double b) { return a * b; });
}

void adder2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* gy,
                      float* gx, float* gw, float* gb) {
  backward(s, x, w, gy, gx, gw, gb,
           [](double xv, double wv) { return std::min(1.0, std::max(-1.0, wv - xv)); },
           [](double xv, double wv) { return xv - wv; });
}

void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* gy,
                     float* gx, float* gw, float* gb) {
  backward(s, x, w, gy, gx, gw, gb, [](double, double wv) { return wv; },
           [](double xv, double) { return xv; });
}

void adaptive_scale(const float* g, int64_t n, float eta, float* out) {
  double sq = 0.0;
  for (int64_t i = 0; i < n; ++i) sq += double(g[i]) * g[i];
  const double alpha = double(eta) * std::sqrt(double(n)) / std::max(std::sqrt(sq), 1e-12);
  for (int64_t i = 0; i < n; ++i) out[i] = float(double(g[i]) * alpha);
}

}  // namespace ref
}  // namespace adn
