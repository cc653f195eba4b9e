// The packing/blocking engine shared by adder2d and conv2d. Both layers run
// the same packing, tiling and threading; only the microkernel differs, so an
// adder-vs-conv comparison measures the inner operation.
//
// Positions p in [0, N*HO*WO) are columns; reduction index k = (c, u, v).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "addernet.h"
#include "thread_pool.h"
#include "ukernels.h"

namespace adn {

void Conv2dShape::validate() const {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
  };
  need(n >= 1 && c >= 1 && h >= 1 && w >= 1, "input dimensions must be >= 1");
  need(t >= 1 && kh >= 1 && kw >= 1, "filter dimensions must be >= 1");
  need(sh >= 1 && sw >= 1, "stride must be >= 1");
  need(ph >= 0 && pw >= 0, "padding must be >= 0");
  const int64_t lim = int64_t(1) << 40;
  need(n < lim && c < lim && h < lim && w < lim && t < lim && kh < lim && kw < lim &&
           sh < lim && sw < lim && ph < lim && pw < lim, "dimension too large");
  need(h + 2 * ph >= kh && w + 2 * pw >= kw, "output size must be >= 1");
  // Every element count must fit comfortably in int64 (and a JS array length).
  const double lim_elems = 9.0e15;
  need(double(n) * c * h * w < lim_elems && double(t) * c * kh * kw < lim_elems &&
           double(n) * t * ho() * wo() < lim_elems, "tensor too large");
}

namespace {

inline int64_t div_up(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Where one output position reads its patch and writes its outputs.
struct Pos {
  int64_t in_base;   // offset of image n in X
  int64_t ih0, iw0;  // top-left tap in unpadded input coordinates
  int64_t out_base;  // offset of (n, t=0, i, j) in Y
};

// Carves typed, 64-byte aligned regions out of one scratch buffer.
class Carver {
 public:
  template <class T> void reserve(size_t n) { bytes_ += round(n * sizeof(T)); }
  void bind(float* base) { next_ = reinterpret_cast<char*>(base); }
  template <class T> T* take(size_t n) {
    T* p = reinterpret_cast<T*>(next_);
    next_ += round(n * sizeof(T));
    return p;
  }
  size_t floats() const { return bytes_ / sizeof(float) + 16; }
 private:
  static size_t round(size_t b) { return (b + 63) / 64 * 64; }
  size_t bytes_ = 0;
  char* next_ = nullptr;
};

struct Geometry {
  const Conv2dShape& s;
  int64_t K, KK, HO, WO, HW, P, T, CHW;
  explicit Geometry(const Conv2dShape& sh)
      : s(sh), K(sh.k()), KK(sh.kh * sh.kw), HO(sh.ho()), WO(sh.wo()), HW(HO * WO),
        P(sh.positions()), T(sh.t), CHW(sh.c * sh.h * sh.w) {}

  void positions(int64_t p0, int64_t count, Pos* out) const {
    int64_t n = p0 / HW, q = p0 % HW;
    for (int64_t i = 0; i < count; ++i) {
      const int64_t oh = q / WO, ow = q % WO;
      out[i] = {n * CHW, oh * s.sh - s.ph, ow * s.sw - s.pw, n * T * HW + q};
      if (++q == HW) { q = 0; ++n; }
    }
  }

  // Input value of tap k for a position, zero where it falls in the padding.
  float tap(const float* x, const Pos& p, int64_t k) const {
    const int64_t c = k / KK, r = k % KK;
    const int64_t ih = p.ih0 + r / s.kw, iw = p.iw0 + r % s.kw;
    if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) return 0.0f;
    return x[p.in_base + (c * s.h + ih) * s.w + iw];
  }

  // Unfolded patches as column panels [count/nr][kpad][nr] for k in
  // [k0, k0 + krows); rows >= krows and columns >= count are zero.
  // sums (optional) gets each position's patch sum, accumulated in k order.
  void pack_columns(const float* x, const Pos* pos, int64_t count, int64_t k0, int64_t krows,
                    int64_t kpad, int nr, float* out, float* sums) const {
    const int64_t panels = div_up(count, nr);
    if (sums) std::fill(sums, sums + panels * nr, 0.0f);
    for (int64_t j = 0; j < panels; ++j) {
      float* panel = out + j * kpad * nr;
      const int64_t cols = std::min<int64_t>(nr, count - j * nr);
      const Pos* pj = pos + j * nr;
      float* sj = sums ? sums + j * nr : nullptr;
      for (int64_t kk = 0; kk < krows; ++kk) {
        float* row = panel + kk * nr;
        const int64_t k = k0 + kk;
        const int64_t c = k / KK, r = k % KK, u = r / s.kw, v = r % s.kw;
        const float* xc = x + c * s.h * s.w;
        for (int64_t n = 0; n < cols; ++n) {
          const int64_t ih = pj[n].ih0 + u, iw = pj[n].iw0 + v;
          row[n] = (ih >= 0 && ih < s.h && iw >= 0 && iw < s.w)
                       ? xc[pj[n].in_base + ih * s.w + iw] : 0.0f;
        }
        std::fill(row + cols, row + nr, 0.0f);
        if (sj) for (int64_t n = 0; n < cols; ++n) sj[n] += row[n];
      }
      std::fill(panel + krows * nr, panel + kpad * nr, 0.0f);
    }
  }

  // Unfolded patches as row panels [K/nr][count][nr]: panel j holds k in
  // [j*nr, j*nr + nr) for each position (the B operand of the filter gradient).
  void pack_rows(const float* x, const Pos* pos, int64_t count, int nr, float* out) const {
    const int64_t panels = div_up(K, nr);
    for (int64_t j = 0; j < panels; ++j) {
      const int64_t rows = std::min<int64_t>(nr, K - j * nr);
      for (int64_t p = 0; p < count; ++p) {
        float* dst = out + (j * count + p) * nr;
        for (int64_t n = 0; n < rows; ++n) dst[n] = tap(x, pos[p], j * nr + n);
        std::fill(dst + rows, dst + nr, 0.0f);
      }
    }
  }

  // Output-gradient panels [count/nr][T][nr] (B operand of the input gradient).
  void pack_grad_columns(const float* gy, const Pos* pos, int64_t count, int nr, float* out) const {
    const int64_t panels = div_up(count, nr);
    for (int64_t j = 0; j < panels; ++j) {
      const int64_t cols = std::min<int64_t>(nr, count - j * nr);
      for (int64_t t = 0; t < T; ++t) {
        float* row = out + (j * T + t) * nr;
        for (int64_t n = 0; n < cols; ++n) row[n] = gy[pos[j * nr + n].out_base + t * HW];
        std::fill(row + cols, row + nr, 0.0f);
      }
    }
  }

  // Output-gradient transposed panels [T/mr][count][mr] (A operand of the
  // filter gradient).
  void pack_grad_rows(const float* gy, const Pos* pos, int64_t count, int mr, float* out) const {
    const int64_t panels = div_up(T, mr);
    for (int64_t i = 0; i < panels; ++i) {
      const int64_t rows = std::min<int64_t>(mr, T - i * mr);
      for (int64_t p = 0; p < count; ++p) {
        float* dst = out + (i * count + p) * mr;
        for (int64_t m = 0; m < rows; ++m) dst[m] = gy[pos[p].out_base + (i * mr + m) * HW];
        std::fill(dst + rows, dst + mr, 0.0f);
      }
    }
  }
};

// Filters as panels [T/mr][K][mr] (A operand of the forward); optional row sums.
void pack_filters(const float* w, int64_t T, int64_t K, int mr, float* out, float* sums) {
  const int64_t panels = div_up(T, mr);
  for (int64_t i = 0; i < panels; ++i)
    for (int64_t m = 0; m < mr; ++m) {
      const int64_t t = i * mr + m;
      float* dst = out + i * K * mr + m;
      if (t < T) {
        const float* src = w + t * K;
        float sum = 0.0f;
        for (int64_t k = 0; k < K; ++k) { dst[k * mr] = src[k]; sum += src[k]; }
        if (sums) sums[t] = sum;
      } else {
        for (int64_t k = 0; k < K; ++k) dst[k * mr] = 0.0f;
      }
    }
}

// Filters transposed, rows k in [k0, k0 + krows): panels [krows/mr][T][mr].
void pack_filters_transposed(const float* w, int64_t T, int64_t K, int64_t k0, int64_t krows,
                             int mr, float* out) {
  const int64_t panels = div_up(krows, mr);
  for (int64_t i = 0; i < panels; ++i)
    for (int64_t t = 0; t < T; ++t) {
      float* dst = out + (i * T + t) * mr;
      for (int64_t m = 0; m < mr; ++m) {
        const int64_t kk = i * mr + m;
        dst[m] = kk < krows ? w[t * K + k0 + kk] : 0.0f;
      }
    }
}

// Positions per task: whole register tiles, enough tasks to balance threads.
int64_t position_block(int64_t P, int nr, int threads) {
  const int64_t tiles = div_up(P, nr);
  const int64_t per_task = std::max<int64_t>(1, std::min<int64_t>(8, tiles / (4 * threads)));
  return per_task * nr;
}

void forward(bool adder, const Conv2dShape& s, const float* x, const float* w,
             const float* bias, float* y) {
  s.validate();
  const Geometry g(s);
  const GemmUkernel uk = adder ? active_config().maxsum : active_config().fma;
  const int mr = uk.mr, nr = uk.nr;
  ThreadPool::Session ses(ThreadPool::instance());

  const int64_t tpanels = div_up(g.T, mr);
  float* wpack = ses.shared(0, tpanels * g.K * mr);
  float* wsum = ses.shared(1, g.T);
  pack_filters(w, g.T, g.K, mr, wpack, adder ? wsum : nullptr);

  const int64_t block = position_block(g.P, nr, ses.threads());
  ses.parallel_for(div_up(g.P, block), [&](size_t task, int worker) {
    const int64_t p0 = int64_t(task) * block, count = std::min(block, g.P - p0);
    const int64_t ppanels = div_up(count, nr);
    Carver cv;
    cv.reserve<Pos>(count);
    cv.reserve<float>(ppanels * g.K * nr);
    cv.reserve<float>(ppanels * nr);
    cv.reserve<float>(mr * nr);
    cv.bind(ses.scratch(worker, cv.floats()));
    Pos* pos = cv.take<Pos>(count);
    float* xpack = cv.take<float>(ppanels * g.K * nr);
    float* xsum = cv.take<float>(ppanels * nr);
    float* tile = cv.take<float>(mr * nr);

    g.positions(p0, count, pos);
    g.pack_columns(x, pos, count, 0, g.K, g.K, nr, xpack, adder ? xsum : nullptr);
    for (int64_t j = 0; j < ppanels; ++j) {
      const int64_t cols = std::min<int64_t>(nr, count - j * nr);
      const Pos* pj = pos + j * nr;
      for (int64_t i = 0; i < tpanels; ++i) {
        uk.fn(g.K, wpack + i * g.K * mr, xpack + j * g.K * nr, tile);
        const int64_t rows = std::min<int64_t>(mr, g.T - i * mr);
        for (int64_t m = 0; m < rows; ++m) {
          const int64_t t = i * mr + m;
          const float b = bias ? bias[t] : 0.0f;
          const float* tm = tile + m * nr;
          float* yt = y + t * g.HW;
          if (adder) {
            // sum|x - w| = 2 sum max(x, w) - sum x - sum w; never positive.
            const float* sj = xsum + j * nr;
            for (int64_t n = 0; n < cols; ++n) {
              const float l1 = 2.0f * tm[n] - sj[n] - wsum[t];
              yt[pj[n].out_base] = std::min(-l1, 0.0f) + b;
            }
          } else {
            for (int64_t n = 0; n < cols; ++n) yt[pj[n].out_base] = tm[n] + b;
          }
        }
      }
    }
  });
}

// sum over (n, i, j) of gy, per filter, in double.
void grad_sums(const Geometry& g, const float* gy, double* out) {
  std::fill(out, out + g.T, 0.0);
  for (int64_t n = 0; n < g.s.n; ++n)
    for (int64_t t = 0; t < g.T; ++t) {
      const float* src = gy + (n * g.T + t) * g.HW;
      double acc = 0.0;
      for (int64_t q = 0; q < g.HW; ++q) acc += src[q];
      out[t] += acc;
    }
}

// gw[t][k] = sum_p gy[t,p] * Xcol[k,p]: a GEMM reduced over positions.
// Each task owns a contiguous range of positions and a private partial sum;
// partials are added in task order, so results do not depend on scheduling.
void filter_gradient(ThreadPool::Session& ses, const Geometry& g, const float* x,
                     const float* gy, float* gw) {
  const GemmUkernel uk = active_config().fma;
  const int mr = uk.mr, nr = uk.nr;
  const int64_t tpanels = div_up(g.T, mr), kpanels = div_up(g.K, nr);
  const int64_t chunk = 8 * 32;
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(ses.threads(), div_up(g.P, chunk)));
  std::vector<float*> partial(parts);
  for (int64_t i = 0; i < parts; ++i) partial[i] = ses.shared(8 + int(i), g.T * g.K);

  ses.parallel_for(parts, [&](size_t part, int worker) {
    float* acc = partial[part];
    std::fill(acc, acc + g.T * g.K, 0.0f);
    const int64_t pa = g.P * int64_t(part) / parts, pb = g.P * int64_t(part + 1) / parts;
    Carver cv;
    cv.reserve<Pos>(chunk);
    cv.reserve<float>(tpanels * chunk * mr);
    cv.reserve<float>(kpanels * chunk * nr);
    cv.reserve<float>(mr * nr);
    cv.bind(ses.scratch(worker, cv.floats()));
    Pos* pos = cv.take<Pos>(chunk);
    float* apack = cv.take<float>(tpanels * chunk * mr);
    float* bpack = cv.take<float>(kpanels * chunk * nr);
    float* tile = cv.take<float>(mr * nr);
    for (int64_t p0 = pa; p0 < pb; p0 += chunk) {
      const int64_t count = std::min(chunk, pb - p0);
      g.positions(p0, count, pos);
      g.pack_grad_rows(gy, pos, count, mr, apack);
      g.pack_rows(x, pos, count, nr, bpack);
      for (int64_t i = 0; i < tpanels; ++i)
        for (int64_t j = 0; j < kpanels; ++j) {
          uk.fn(count, apack + i * count * mr, bpack + j * count * nr, tile);
          const int64_t rows = std::min<int64_t>(mr, g.T - i * mr);
          const int64_t cols = std::min<int64_t>(nr, g.K - j * nr);
          for (int64_t m = 0; m < rows; ++m) {
            float* dst = acc + (i * mr + m) * g.K + j * nr;
            for (int64_t n = 0; n < cols; ++n) dst[n] += tile[m * nr + n];
          }
        }
    }
  });
  const int64_t total = g.T * g.K;
  std::copy(partial[0], partial[0] + total, gw);
  for (int64_t i = 1; i < parts; ++i)
    for (int64_t e = 0; e < total; ++e) gw[e] += partial[i][e];
}

// dXcol[k][p] = sum_t op(W[t][k], X[k][p]) * gy[t][p], scattered back onto gx.
// Tasks never write the same input element: when patches overlap, each task
// owns one image and a range of channels; otherwise a range of positions.
void input_gradient(ThreadPool::Session& ses, bool adder, const Geometry& g, const float* x,
                    const float* w, const float* gy, float* gx) {
  const Conv2dShape& s = g.s;
  const HtgradUkernel ht = active_config().htgrad;
  const GemmUkernel fm = active_config().fma;
  const int mr = adder ? ht.mr : fm.mr, nr = adder ? ht.nr : fm.nr;
  std::fill(gx, gx + s.input_size(), 0.0f);

  const bool overlap = s.kh > s.sh || s.kw > s.sw;
  const int64_t chunk = 8 * 32;
  int64_t ntasks, cblocks = 1;
  if (overlap) {
    const int64_t want = 4 * ses.threads();
    cblocks = s.n >= want ? 1 : std::min<int64_t>(s.c, div_up(want, s.n));
    ntasks = s.n * cblocks;
  } else {
    ntasks = div_up(g.P, chunk);
  }
  const int64_t max_k = overlap ? div_up(s.c, cblocks) * g.KK : g.K;
  const int64_t max_kpad = div_up(max_k, mr) * mr;

  ses.parallel_for(ntasks, [&](size_t task, int worker) {
    int64_t c0 = 0, c1 = s.c, pa, pb;
    if (overlap) {
      const int64_t n = int64_t(task) / cblocks, cb = int64_t(task) % cblocks;
      c0 = s.c * cb / cblocks;
      c1 = s.c * (cb + 1) / cblocks;
      pa = n * g.HW;
      pb = pa + g.HW;
    } else {
      pa = int64_t(task) * chunk;
      pb = std::min(g.P, pa + chunk);
    }
    const int64_t k0 = c0 * g.KK, krows = (c1 - c0) * g.KK;
    const int64_t kpanels = div_up(krows, mr), kpad = kpanels * mr;
    const int64_t ppanels_max = div_up(chunk, nr);
    Carver cv;
    cv.reserve<Pos>(chunk);
    cv.reserve<float>(div_up(max_kpad, mr) * g.T * mr);
    cv.reserve<float>(ppanels_max * g.T * nr);
    cv.reserve<float>(adder ? ppanels_max * max_kpad * nr : 0);
    cv.reserve<float>(mr * nr);
    cv.bind(ses.scratch(worker, cv.floats()));
    Pos* pos = cv.take<Pos>(chunk);
    float* apack = cv.take<float>(div_up(max_kpad, mr) * g.T * mr);
    float* bpack = cv.take<float>(ppanels_max * g.T * nr);
    float* xpack = cv.take<float>(adder ? ppanels_max * max_kpad * nr : 0);
    float* tile = cv.take<float>(mr * nr);

    pack_filters_transposed(w, g.T, g.K, k0, krows, mr, apack);
    for (int64_t p0 = pa; p0 < pb; p0 += chunk) {
      const int64_t count = std::min(chunk, pb - p0), ppanels = div_up(count, nr);
      g.positions(p0, count, pos);
      g.pack_grad_columns(gy, pos, count, nr, bpack);
      if (adder) g.pack_columns(x, pos, count, k0, krows, kpad, nr, xpack, nullptr);
      for (int64_t j = 0; j < ppanels; ++j) {
        const int64_t cols = std::min<int64_t>(nr, count - j * nr);
        const Pos* pj = pos + j * nr;
        for (int64_t i = 0; i < kpanels; ++i) {
          const float* a = apack + i * g.T * mr;
          const float* b = bpack + j * g.T * nr;
          if (adder)
            ht.fn(g.T, a, b, xpack + (j * kpad + i * mr) * nr, nr, tile);
          else
            fm.fn(g.T, a, b, tile);
          const int64_t rows = std::min<int64_t>(mr, krows - i * mr);
          for (int64_t m = 0; m < rows; ++m) {
            const int64_t k = k0 + i * mr + m;
            const int64_t c = k / g.KK, r = k % g.KK, u = r / s.kw, v = r % s.kw;
            float* gc = gx + c * s.h * s.w;
            for (int64_t n = 0; n < cols; ++n) {
              const int64_t ih = pj[n].ih0 + u, iw = pj[n].iw0 + v;
              if (ih >= 0 && ih < s.h && iw >= 0 && iw < s.w)
                gc[pj[n].in_base + ih * s.w + iw] += tile[m * nr + n];
            }
          }
        }
      }
    }
  });
}

void backward(bool adder, const Conv2dShape& s, const float* x, const float* w,
              const float* gy, float* gx, float* gw, float* gb) {
  s.validate();
  const Geometry g(s);
  ThreadPool::Session ses(ThreadPool::instance());
  std::vector<double> sums;
  if (gb || (adder && gw)) {
    sums.resize(g.T);
    grad_sums(g, gy, sums.data());
  }
  if (gb)
    for (int64_t t = 0; t < g.T; ++t) gb[t] = float(sums[t]);
  if (gw) {
    filter_gradient(ses, g, x, gy, gw);
    // SPEC identity: dF = Gm * Xcol^T - F .* rowsum(Gm).
    if (adder)
      for (int64_t t = 0; t < g.T; ++t)
        for (int64_t k = 0; k < g.K; ++k) gw[t * g.K + k] -= w[t * g.K + k] * float(sums[t]);
  }
  if (gx) input_gradient(ses, adder, g, x, w, gy, gx);
}

}  // namespace

void adder2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                     float* y) {
  forward(true, s, x, w, bias, y);
}
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y) {
  forward(false, s, x, w, bias, y);
}
void adder2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* gy,
                      float* gx, float* gw, float* gb) {
  backward(true, s, x, w, gy, gx, gw, gb);
}
void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* gy,
                     float* gx, float* gw, float* gb) {
  backward(false, s, x, w, gy, gx, gw, gb);
}

void adaptive_scale(const float* g, int64_t n, float eta, float* out) {
  double sq = 0.0;
  for (int64_t i = 0; i < n; ++i) sq += double(g[i]) * g[i];
  const double alpha = double(eta) * std::sqrt(double(n)) / std::max(std::sqrt(sq), 1e-12);
  for (int64_t i = 0; i < n; ++i) out[i] = float(g[i] * alpha);
}

}  // namespace adn
