// Max and average pooling, threaded over (n, c) planes. Each output is
// written by exactly one task and every sum runs in a fixed order inside it,
// so results are bitwise the same for any thread count.
#include "addernet.h"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

#include "checked_size.h"
#include "fixed_sums.h"
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

}  // namespace adn
