// Training operations: memory-bound loops, threaded over channels (batch
// norm), planes (pooling), rows (loss) or element ranges. Each output is
// written by exactly one task and every sum runs in a fixed order inside it,
// so results are bitwise the same for any thread count.
#include "train_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "checked_size.h"
#include "thread_pool.h"

namespace adn {

void Pool2dShape::validate() const {
  auto need = [](bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(what);
  };
  need(n >= 1 && c >= 1 && h >= 1 && w >= 1, "input dimensions must be >= 1");
  need(kh >= 1 && kw >= 1, "kernel size must be >= 1");
  need(sh >= 1 && sw >= 1, "stride must be >= 1");
  need(ph >= 0 && pw >= 0, "padding must be >= 0");
  const int64_t lim = int64_t(1) << 40;
  need(n < lim && c < lim && h < lim && w < lim && kh < lim && kw < lim && sh < lim &&
           sw < lim && ph < lim && pw < lim, "dimension too large");
  need(2 * ph <= kh && 2 * pw <= kw, "padding must be at most half the kernel size");
  need(h + 2 * ph >= kh && w + 2 * pw >= kw, "output size must be >= 1");
  // argmax holds an int32 index within one plane.
  need(double(h) * w <= std::numeric_limits<int32_t>::max(), "an input plane must have < 2^31 elements");
  checked_mul(n, c, h, w, "the input");
  checked_mul(n, c, ho(), wo(), "the output");
}

namespace {

inline int64_t div_up(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Below this many touched elements a job runs inline: waking the pool costs more.
constexpr int64_t kMinTaskWork = int64_t(1) << 15;

// fn(begin, end) over contiguous ranges of [0, count). item_cost is the
// elements one item touches; it sizes the ranges so small jobs stay inline.
template <class Fn>
void parallel_ranges(int64_t count, int64_t item_cost, Fn fn) {
  if (count <= 0) return;
  const int64_t min_items = std::max<int64_t>(1, kMinTaskWork / std::max<int64_t>(1, item_cost));
  if (count <= min_items) {
    fn(int64_t(0), count);
    return;
  }
  ThreadPool::Session ses(ThreadPool::instance());
  const int64_t tasks = std::min(div_up(count, min_items), int64_t(4) * ses.threads());
  ses.parallel_for(size_t(tasks), [&](size_t t, int) {
    fn(count * int64_t(t) / tasks, count * int64_t(t + 1) / tasks);
  });
}

// Double sums with four interleaved accumulators: breaks the add latency
// chain while keeping one fixed order.
double sum(const float* p, int64_t n) {
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

double sum_sq_dev(const float* p, int64_t n, double mean) {
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
double dot_dev(const float* g, const float* x, int64_t n, double mean) {
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
struct Span {
  int64_t lo, hi;
};
// Input rows (or columns) [lo, hi) that one output's window covers, padding dropped.
inline Span window(int64_t out, int64_t stride, int64_t pad, int64_t kernel, int64_t size) {
  const int64_t start = out * stride - pad;
  return {std::max<int64_t>(start, 0), std::min(start + kernel, size)};
}

// Below this many output columns the tap-by-tap loops have too little to
// overlap; average pooling then walks whole window rows instead.
constexpr int64_t kFewColumns = 4;

// Output columns [lo, hi) whose tap at window offset v lands inside the
// input: 0 <= out * stride - pad + v < size. May be empty.
inline Span outputs_reaching(int64_t v, int64_t stride, int64_t pad, int64_t size, int64_t outs) {
  const int64_t lo = pad > v ? (pad - v + stride - 1) / stride : 0;
  const int64_t last = size - 1 + pad - v;  // largest out * stride that fits
  const int64_t hi = last < 0 ? 0 : std::min(outs, last / stride + 1);
  return {lo, std::max(lo, hi)};
}

}  // namespace

// ---- Batch norm ------------------------------------------------------------------

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

// ---- Element-wise ------------------------------------------------------------------

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

// ---- Pooling ---------------------------------------------------------------------
//
// Each output row is built tap by tap: for a tap (input row ih, column offset
// v) the inner loop runs over the output columns. Outputs are independent
// there, so the loop pipelines, where a window-at-a-time loop waits on one
// compare/select chain per tap. Per output the taps still come in PyTorch's
// row-major window order.

void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax) {
  s.validate();
  const int64_t HO = s.ho(), WO = s.wo(), in_plane = s.h * s.w, out_plane = HO * WO;
  parallel_ranges(s.planes(), in_plane + out_plane * s.kh * s.kw, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* xp = x + p * in_plane;
      for (int64_t oh = 0; oh < HO; ++oh) {
        float* best = y + p * out_plane + oh * WO;
        int32_t* at = argmax + p * out_plane + oh * WO;
        const Span rows = window(oh, s.sh, s.ph, s.kh, s.h);
        // -inf start pointing at the window's first element: an all -inf
        // window reports that element, as PyTorch does.
        for (int64_t ow = 0; ow < WO; ++ow) {
          best[ow] = -std::numeric_limits<float>::infinity();
          at[ow] = int32_t(rows.lo * s.w + std::max<int64_t>(ow * s.sw - s.pw, 0));
        }
        for (int64_t ih = rows.lo; ih < rows.hi; ++ih) {
          const float* xr = xp + ih * s.w;
          for (int64_t v = 0; v < s.kw; ++v) {
            const Span outs = outputs_reaching(v, s.sw, s.pw, s.w, WO);
            for (int64_t ow = outs.lo; ow < outs.hi; ++ow) {
              const int64_t iw = ow * s.sw - s.pw + v;
              const float val = xr[iw];
              // First strict maximum wins; NaN always wins (PyTorch's scan).
              const bool take = val > best[ow] || val != val;
              best[ow] = take ? val : best[ow];
              at[ow] = take ? int32_t(ih * s.w + iw) : at[ow];
            }
          }
        }
      }
    }
  });
}

void max_pool2d_backward(int64_t planes, int64_t in_plane, int64_t out_plane,
                         const float* grad_out, const int32_t* argmax, float* grad_in) {
  // Tasks own whole planes and argmax stays inside its plane: no write races.
  parallel_ranges(planes, in_plane + out_plane, [&](int64_t p0, int64_t p1) {
    std::fill(grad_in + p0 * in_plane, grad_in + p1 * in_plane, 0.0f);
    for (int64_t p = p0; p < p1; ++p) {
      float* gp = grad_in + p * in_plane;
      const float* go = grad_out + p * out_plane;
      const int32_t* ap = argmax + p * out_plane;
      for (int64_t j = 0; j < out_plane; ++j) {
        const int64_t at = ap[j];
        if (at < 0 || at >= in_plane)
          throw std::invalid_argument("argmax " + std::to_string(at) + " at index " +
                                      std::to_string(p * out_plane + j) + " is outside the " +
                                      std::to_string(in_plane) + "-element input plane");
        gp[at] += go[j];
      }
    }
  });
}

void avg_pool2d_forward(const Pool2dShape& s, const float* x, float* y) {
  s.validate();
  const int64_t HO = s.ho(), WO = s.wo(), in_plane = s.h * s.w, out_plane = HO * WO;
  const double area = double(s.kh * s.kw);  // count_include_pad: padding counts
  parallel_ranges(s.planes(), in_plane + out_plane * s.kh * s.kw, [&](int64_t p0, int64_t p1) {
    std::vector<double> acc(WO);
    for (int64_t p = p0; p < p1; ++p) {
      const float* xp = x + p * in_plane;
      for (int64_t oh = 0; oh < HO; ++oh) {
        const Span rows = window(oh, s.sh, s.ph, s.kh, s.h);
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t ih = rows.lo; ih < rows.hi; ++ih) {
          const float* xr = xp + ih * s.w;
          if (WO < kFewColumns) {  // e.g. global pooling: sum whole window rows
            for (int64_t ow = 0; ow < WO; ++ow) {
              const Span cols = window(ow, s.sw, s.pw, s.kw, s.w);
              acc[ow] += sum(xr + cols.lo, cols.hi - cols.lo);
            }
            continue;
          }
          for (int64_t v = 0; v < s.kw; ++v) {
            const Span outs = outputs_reaching(v, s.sw, s.pw, s.w, WO);
            for (int64_t ow = outs.lo; ow < outs.hi; ++ow) acc[ow] += xr[ow * s.sw - s.pw + v];
          }
        }
        float* yr = y + p * out_plane + oh * WO;
        for (int64_t ow = 0; ow < WO; ++ow) yr[ow] = float(acc[ow] / area);
      }
    }
  });
}

void avg_pool2d_backward(const Pool2dShape& s, const float* grad_out, float* grad_in) {
  s.validate();
  const int64_t HO = s.ho(), WO = s.wo(), in_plane = s.h * s.w, out_plane = HO * WO;
  const float area = float(s.kh * s.kw);
  parallel_ranges(s.planes(), in_plane + out_plane * s.kh * s.kw, [&](int64_t p0, int64_t p1) {
    std::vector<float> share(WO);
    std::fill(grad_in + p0 * in_plane, grad_in + p1 * in_plane, 0.0f);
    for (int64_t p = p0; p < p1; ++p) {
      float* gp = grad_in + p * in_plane;
      for (int64_t oh = 0; oh < HO; ++oh) {
        const float* go = grad_out + p * out_plane + oh * WO;
        for (int64_t ow = 0; ow < WO; ++ow) share[ow] = go[ow] / area;
        const Span rows = window(oh, s.sh, s.ph, s.kh, s.h);
        for (int64_t ih = rows.lo; ih < rows.hi; ++ih) {
          float* gr = gp + ih * s.w;
          if (WO < kFewColumns) {
            for (int64_t ow = 0; ow < WO; ++ow) {
              const Span cols = window(ow, s.sw, s.pw, s.kw, s.w);
              for (int64_t iw = cols.lo; iw < cols.hi; ++iw) gr[iw] += share[ow];
            }
            continue;
          }
          // One tap of distinct outputs hits distinct input columns.
          for (int64_t v = 0; v < s.kw; ++v) {
            const Span outs = outputs_reaching(v, s.sw, s.pw, s.w, WO);
            for (int64_t ow = outs.lo; ow < outs.hi; ++ow) gr[ow * s.sw - s.pw + v] += share[ow];
          }
        }
      }
    }
  });
}

// ---- Loss ------------------------------------------------------------------------

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

// ---- Optimiser ---------------------------------------------------------------------

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

// ---- Plain references ---------------------------------------------------------------

namespace ref {

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

}  // namespace ref
}  // namespace adn
