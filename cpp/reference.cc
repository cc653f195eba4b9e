// Plain references: the SPEC.md formulas as direct loops with double sums.
// Slow on purpose; every optimised path is tested against these.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "reference.h"

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

void adder2d_u8_forward(const Conv2dShape& s, const uint8_t* qx, const uint8_t* qw,
                        uint8_t pad_value, int32_t* sad) {
  s.validate();
  std::vector<int64_t> acc(s.output_size(), 0);
  for_each_tap(s, [&](int64_t xi, int64_t wi, int64_t yi) {
    const int32_t xv = xi >= 0 ? qx[xi] : pad_value;
    acc[yi] += std::abs(xv - int32_t(qw[wi]));
  });
  for (size_t i = 0; i < acc.size(); ++i) sad[i] = int32_t(acc[i]);
}

void adaptive_scale(const float* g, int64_t n, float eta, float* out) {
  double sq = 0.0;
  for (int64_t i = 0; i < n; ++i) sq += double(g[i]) * g[i];
  const double alpha = double(eta) * std::sqrt(double(n)) / std::max(std::sqrt(sq), 1e-12);
  for (int64_t i = 0; i < n; ++i) out[i] = float(double(g[i]) * alpha);
}


void batch_norm_forward(int64_t n, int64_t c, int64_t hw, const float* x, const float* gamma,
                        const float* beta, float* running_mean, float* running_var,
                        bool training, double momentum, double eps, float* y, float* save_mean,
                        float* save_invstd) {
  const int64_t m = n * hw;
  if (training && m < 2)
    throw std::invalid_argument("batch norm in training needs more than 1 value per channel");
  for (int64_t ch = 0; ch < c; ++ch) {
    auto at = [&](int64_t i, int64_t q) { return (i * c + ch) * hw + q; };
    double mean, var;
    if (training) {
      double s = 0.0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t q = 0; q < hw; ++q) s += x[at(i, q)];
      mean = s / m;
      double ss = 0.0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t q = 0; q < hw; ++q) ss += (x[at(i, q)] - mean) * (x[at(i, q)] - mean);
      var = ss / m;
      running_mean[ch] = float((1.0 - momentum) * running_mean[ch] + momentum * mean);
      running_var[ch] = float((1.0 - momentum) * running_var[ch] + momentum * ss / (m - 1));
    } else {
      mean = running_mean[ch];
      var = running_var[ch];
    }
    const double invstd = 1.0 / std::sqrt(var + eps);
    save_mean[ch] = float(mean);
    save_invstd[ch] = float(invstd);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t q = 0; q < hw; ++q)
        y[at(i, q)] = float((x[at(i, q)] - mean) * invstd * gamma[ch] + beta[ch]);
  }
}

void batch_norm_backward(int64_t n, int64_t c, int64_t hw, const float* x, const float* gamma,
                         const float* grad_out, const float* save_mean,
                         const float* save_invstd, float* grad_in, float* grad_gamma,
                         float* grad_beta) {
  const double m = double(n * hw);
  for (int64_t ch = 0; ch < c; ++ch) {
    auto at = [&](int64_t i, int64_t q) { return (i * c + ch) * hw + q; };
    const double mean = save_mean[ch], invstd = save_invstd[ch];
    double sg = 0.0, sgxhat = 0.0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t q = 0; q < hw; ++q) {
        sg += grad_out[at(i, q)];
        sgxhat += grad_out[at(i, q)] * (x[at(i, q)] - mean) * invstd;
      }
    if (grad_beta) grad_beta[ch] = float(sg);
    if (grad_gamma) grad_gamma[ch] = float(sgxhat);
    if (grad_in)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t q = 0; q < hw; ++q) {
          const double xhat = (x[at(i, q)] - mean) * invstd;
          grad_in[at(i, q)] =
              float(gamma[ch] * invstd / m * (m * grad_out[at(i, q)] - sg - xhat * sgxhat));
        }
  }
}

namespace {
// Calls fn(plane, out_index, in_index_or_-1) for every tap of every window,
// in PyTorch's scan order; padding taps get -1.
template <class Fn>
void for_each_window_tap(const Pool2dShape& s, Fn fn) {
  const int64_t HO = s.ho(), WO = s.wo();
  for (int64_t p = 0; p < s.planes(); ++p)
    for (int64_t oh = 0; oh < HO; ++oh)
      for (int64_t ow = 0; ow < WO; ++ow)
        for (int64_t u = 0; u < s.kh; ++u)
          for (int64_t v = 0; v < s.kw; ++v) {
            const int64_t ih = oh * s.sh - s.ph + u, iw = ow * s.sw - s.pw + v;
            const bool inside = ih >= 0 && ih < s.h && iw >= 0 && iw < s.w;
            fn(p, oh * WO + ow, inside ? ih * s.w + iw : -1);
          }
}
}  // namespace

void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax) {
  s.validate();
  const int64_t in_plane = s.h * s.w, out_plane = s.ho() * s.wo();
  std::vector<int64_t> best(s.output_size(), -1);
  for_each_window_tap(s, [&](int64_t p, int64_t o, int64_t i) {
    if (i < 0) return;  // -inf padding never wins
    int64_t& b = best[p * out_plane + o];
    const float v = x[p * in_plane + i];
    if (b < 0 || v > x[p * in_plane + b] || std::isnan(v)) b = i;
  });
  for (int64_t e = 0; e < s.output_size(); ++e) {
    y[e] = x[(e / out_plane) * in_plane + best[e]];
    argmax[e] = int32_t(best[e]);
  }
}

void max_pool2d_backward(const Pool2dShape& s, const float* x, const float* grad_out,
                         float* grad_in) {
  std::vector<float> y(s.output_size());
  std::vector<int32_t> arg(s.output_size());
  ref::max_pool2d_forward(s, x, y.data(), arg.data());
  const int64_t in_plane = s.h * s.w, out_plane = s.ho() * s.wo();
  std::vector<double> acc(s.input_size(), 0.0);
  for (int64_t e = 0; e < s.output_size(); ++e)
    acc[(e / out_plane) * in_plane + arg[e]] += grad_out[e];
  for (int64_t e = 0; e < s.input_size(); ++e) grad_in[e] = float(acc[e]);
}

void avg_pool2d_forward(const Pool2dShape& s, const float* x, float* y) {
  s.validate();
  const int64_t in_plane = s.h * s.w, out_plane = s.ho() * s.wo();
  std::vector<double> acc(s.output_size(), 0.0);
  for_each_window_tap(s, [&](int64_t p, int64_t o, int64_t i) {
    if (i >= 0) acc[p * out_plane + o] += x[p * in_plane + i];
  });
  for (int64_t e = 0; e < s.output_size(); ++e) y[e] = float(acc[e] / double(s.kh * s.kw));
}

void avg_pool2d_backward(const Pool2dShape& s, const float* grad_out, float* grad_in) {
  s.validate();
  const int64_t in_plane = s.h * s.w, out_plane = s.ho() * s.wo();
  std::vector<double> acc(s.input_size(), 0.0);
  for_each_window_tap(s, [&](int64_t p, int64_t o, int64_t i) {
    if (i >= 0) acc[p * in_plane + i] += double(grad_out[p * out_plane + o]) / double(s.kh * s.kw);
  });
  for (int64_t e = 0; e < s.input_size(); ++e) grad_in[e] = float(acc[e]);
}

LossResult softmax_cross_entropy(int64_t n, int64_t k, const float* logits,
                                 const int32_t* labels, float* grad_logits) {
  if (n < 1 || k < 1) throw std::invalid_argument("softmax cross-entropy needs n >= 1 and k >= 1");
  LossResult out{0.0, 0};
  for (int64_t r = 0; r < n; ++r) {
    if (labels[r] < 0 || labels[r] >= k) throw std::invalid_argument("label out of range");
    const float* z = logits + r * k;
    // Softmax of z - max(z), in double.
    double zmax = z[0];
    int64_t top = 0;
    for (int64_t j = 0; j < k; ++j)
      if (z[j] > zmax) zmax = z[top = j];
    std::vector<double> e(k);
    double total = 0.0;
    for (int64_t j = 0; j < k; ++j) total += e[j] = std::exp(z[j] - zmax);
    out.loss += -std::log(e[labels[r]] / total);
    out.correct += top == labels[r];
    if (grad_logits)
      for (int64_t j = 0; j < k; ++j)
        grad_logits[r * k + j] = float((e[j] / total - (j == labels[r] ? 1.0 : 0.0)) / n);
  }
  out.loss /= n;
  return out;
}

void sgd_update(int64_t n, float* param, const float* grad, float* momentum_buf, double lr,
                double momentum, double dampening, double weight_decay, bool nesterov,
                bool first_step) {
  for (int64_t i = 0; i < n; ++i) {
    double d = double(grad[i]) + weight_decay * param[i];
    if (momentum != 0.0) {
      const double buf = first_step ? d : momentum * momentum_buf[i] + (1.0 - dampening) * d;
      momentum_buf[i] = float(buf);
      d = nesterov ? d + momentum * buf : buf;
    }
    param[i] = float(param[i] - lr * d);
  }
}

void adam_update(int64_t n, float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                 float* max_exp_avg_sq, int64_t step, const AdamOptions& o) {
  const double bias1 = 1.0 - std::pow(o.beta1, double(step));
  const double bias2 = 1.0 - std::pow(o.beta2, double(step));
  for (int64_t i = 0; i < n; ++i) {
    double p = param[i], g = grad[i];
    if (o.decoupled) p *= 1.0 - o.lr * o.weight_decay;
    else g += o.weight_decay * p;
    const double m = o.beta1 * exp_avg[i] + (1.0 - o.beta1) * g;
    const double v = o.beta2 * exp_avg_sq[i] + (1.0 - o.beta2) * g * g;
    double s = v;
    if (o.amsgrad) {
      s = std::max(double(max_exp_avg_sq[i]), v);
      max_exp_avg_sq[i] = float(s);
    }
    exp_avg[i] = float(m);
    exp_avg_sq[i] = float(v);
    param[i] = float(p - o.lr / bias1 * m / (std::sqrt(s / bias2) + o.eps));
  }
}

}  // namespace ref
}  // namespace adn
