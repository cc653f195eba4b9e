// The packing/blocking engine shared by adder2d and conv2d. Both layers run
// the same packing, tiling and threading; only the microkernel differs, so an
// adder-vs-conv comparison measures the inner operation.
//
// Positions p in [0, N*HO*WO) are columns; reduction index k = (c, u, v).
#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "addernet.h"
#include "checked_size.h"
#include "thread_pool.h"
#include "ukernels.h"

namespace adn {

// The direct paths, each on unless a test turns it off (ukernels.h).
namespace {
std::atomic<bool> g_forward_indirect{true}, g_direct_input_gradient{true}, g_dot_filter_gradient{true};
}
bool forward_indirect_enabled() { return g_forward_indirect.load(std::memory_order_relaxed); }
void set_forward_indirect(bool on) { g_forward_indirect.store(on); }
bool direct_input_gradient_enabled() { return g_direct_input_gradient.load(std::memory_order_relaxed); }
void set_direct_input_gradient(bool on) { g_direct_input_gradient.store(on); }
bool dot_filter_gradient_enabled() { return g_dot_filter_gradient.load(std::memory_order_relaxed); }
void set_dot_filter_gradient(bool on) { g_dot_filter_gradient.store(on); }

void Conv2dShape::validate() const {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
  };
  need(n >= 1 && c >= 1 && h >= 1 && w >= 1, "input dimensions must be >= 1");
  need(t >= 1 && kh >= 1 && kw >= 1, "filter dimensions must be >= 1");
  need(sh >= 1 && sw >= 1, "stride must be >= 1");
  need(ph >= 0 && pw >= 0, "padding must be >= 0");
  // Each value below 2^40, so sums such as h + 2 * ph cannot overflow; every
  // product is then checked on its own.
  const int64_t lim = int64_t(1) << 40;
  need(n < lim && c < lim && h < lim && w < lim && t < lim && kh < lim && kw < lim &&
           sh < lim && sw < lim && ph < lim && pw < lim, "dimension too large");
  need(h + 2 * ph >= kh && w + 2 * pw >= kw, "output size must be >= 1");
  // Every count the engine derives: tensors, the reduction length, the
  // padded copy of the input and its gradient, the filter-by-reduction GEMM.
  checked_mul(n, c, h, w, "the input");
  const int64_t k_len = checked_mul(checked_mul(c, kh, "the reduction length"), kw, "the reduction length");
  checked_mul(t, k_len, "the weight");
  checked_mul(n, t, ho(), wo(), "the output");
  checked_mul(n, c, h + 2 * ph, w + 2 * pw, "the padded input");
}

namespace {

// Long reductions are summed in blocks: the float32 error of a sequential sum
// grows with its length, and blocking keeps it close to PyTorch's pairwise
// sums. Patch and filter sums of the max trick use the same blocks, so a
// patch equal to its filter still gives exactly 0.
constexpr int64_t kReductionBlock = 64;

// Each of the nr columns of a [K][nr] panel summed in kReductionBlock blocks,
// like the GEMM tiles (a block summed in k order, then added to the total),
// with the columns side by side in the inner loop so that it vectorises.
// nr = 1 sums one contiguous vector (a filter).
void column_sums(const float* panel, int64_t K, int nr, float* sums) {
  constexpr int kMaxNr = 64;
  float part[kMaxNr];
  for (int64_t k0 = 0; k0 < K; k0 += kReductionBlock) {
    for (int n = 0; n < nr; ++n) part[n] = 0.0f;
    for (int64_t k = k0; k < std::min(K, k0 + kReductionBlock); ++k) {
      const float* __restrict row = panel + k * nr;
      for (int n = 0; n < nr; ++n) part[n] += row[n];
    }
    for (int n = 0; n < nr; ++n) sums[n] = k0 == 0 ? part[n] : sums[n] + part[n];
  }
  if (K == 0)
    for (int n = 0; n < nr; ++n) sums[n] = 0.0f;
}

// column_sums over a panel read in place (the indirect kernels' operand):
// row k is the HALF floats at lo + taps[k], then the HALF at hi + taps[k].
// The same additions in the same order, so the same sums; HALF fixed at
// compile time keeps the partial sums in registers.
template <int HALF>
void indirect_column_sums(const float* lo, const float* hi, const int64_t* taps, int64_t K,
                          float* sums) {
  float part[2 * HALF];
  for (int64_t k0 = 0; k0 < K; k0 += kReductionBlock) {
    for (int n = 0; n < 2 * HALF; ++n) part[n] = 0.0f;
    for (int64_t k = k0; k < std::min(K, k0 + kReductionBlock); ++k) {
      const float* __restrict a = lo + taps[k];
      const float* __restrict b = hi + taps[k];
      for (int n = 0; n < HALF; ++n) part[n] += a[n];
      for (int n = 0; n < HALF; ++n) part[HALF + n] += b[n];
    }
    for (int n = 0; n < 2 * HALF; ++n) sums[n] = k0 == 0 ? part[n] : sums[n] + part[n];
  }
}

// The tiles' half widths: scalar 4, AVX2 8, AVX-512 16.
void indirect_column_sums(const float* lo, const float* hi, int half, const int64_t* taps,
                          int64_t K, float* sums) {
  switch (half) {
    case 4: return indirect_column_sums<4>(lo, hi, taps, K, sums);
    case 8: return indirect_column_sums<8>(lo, hi, taps, K, sums);
    case 16: return indirect_column_sums<16>(lo, hi, taps, K, sums);
    default: throw std::logic_error("no column sums for this tile width");
  }
}

// dst[0, len) = src[0, len) for the short runs of packing (often one output
// row of 7-32 values): fixed 8-float chunks, which compile to a couple of
// vector moves, instead of a generic vectorised loop whose alignment peeling
// and remainder handling cost more than the copy at these lengths.
inline void copy_run(const float* __restrict src, int64_t len, float* __restrict dst) {
  int64_t e = 0;
  for (; e + 8 <= len; e += 8) std::memcpy(dst + e, src + e, 8 * sizeof(float));
  for (; e < len; ++e) dst[e] = src[e];
}

// A run of consecutive columns (output positions) in one image and output
// row: their taps are evenly spaced along input rows, so packing and
// scattering move contiguous (or strided) segments instead of single values.
struct Run {
  int64_t col, len;  // columns [col, col + len) of the chunk
  int64_t in_off;    // offset of the first column's top-left tap in the padded input
  int64_t out_base;  // offset of (n, t=0, i, j) in Y for the first column
};

// The runs of a chunk split at every nr-column panel boundary;
// panel j owns runs [first[j], first[j + 1]).
struct Runs {
  Run* run;
  int64_t* first;
  static size_t max_runs(int64_t count, int nr) { return size_t(count + count / nr + 2); }
};

// Carves typed, 64-byte aligned regions out of one scratch buffer.
class Carver {
 public:
  template <class T> void reserve(size_t n) {
    bytes_ = checked_add(bytes_, checked_add(checked_bytes(n, sizeof(T)), 63) / 64 * 64);
  }
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

// Reserves and binds the Runs of a chunk of `count` columns.
inline void reserve_runs(Carver& cv, int64_t count, int nr) {
  cv.reserve<Run>(Runs::max_runs(count, nr));
  cv.reserve<int64_t>(div_up(count, nr) + 1);
}
inline Runs take_runs(Carver& cv, int64_t count, int nr) {
  Run* run = cv.take<Run>(Runs::max_runs(count, nr));
  return {run, cv.take<int64_t>(div_up(count, nr) + 1)};
}

// Layer geometry over a zero-padded view of the input (Hp x Wp planes), so
// packing and scattering never test bounds. Runs use padded coordinates.
struct Geometry {
  const Conv2dShape& s;
  int64_t K, KK, HO, WO, HW, P, T, Hp, Wp, plane;
  explicit Geometry(const Conv2dShape& sh)
      : s(sh), K(sh.k()), KK(sh.kh * sh.kw), HO(sh.ho()), WO(sh.wo()), HW(HO * WO),
        P(sh.positions()), T(sh.t), Hp(sh.h + 2 * sh.ph), Wp(sh.w + 2 * sh.pw),
        plane(Hp * Wp) {}
  bool padded() const { return s.ph > 0 || s.pw > 0; }
  int64_t padded_size() const { return s.n * s.c * plane; }

  void make_runs(int64_t p0, int64_t count, int nr, Runs r) const {
    int64_t n = p0 / HW, q = p0 % HW, col = 0, nruns = 0;
    const int64_t panels = div_up(count, nr);
    for (int64_t j = 0; j < panels; ++j) {
      r.first[j] = nruns;
      const int64_t end = std::min<int64_t>(count, (j + 1) * nr);
      while (col < end) {
        const int64_t oh = q / WO, ow = q % WO, len = std::min(end - col, WO - ow);
        r.run[nruns++] = {col, len, n * s.c * plane + oh * s.sh * Wp + ow * s.sw, n * T * HW + q};
        col += len;
        q += len;
        if (q == HW) { q = 0; ++n; }
      }
    }
    r.first[panels] = nruns;
  }

  // Offset of tap k = (c, u, v) from a patch's top-left corner.
  int64_t tap(int64_t k) const {
    const int64_t c = k / KK, u = (k % KK) / s.kw, v = k % s.kw;
    return c * plane + u * Wp + v;
  }

  // Walks taps k, k + 1, ... without dividing per step (the packing loops
  // move runs as short as one output row, where a division per run dominates).
  struct TapCursor {
    const Geometry& g;
    int64_t u, v, offset;
    TapCursor(const Geometry& geo, int64_t k)
        : g(geo), u((k % geo.KK) / geo.s.kw), v(k % geo.s.kw), offset(geo.tap(k)) {}
    void next() {
      ++offset;
      if (++v < g.s.kw) return;
      v = 0;
      offset += g.Wp - g.s.kw;
      if (++u < g.s.kh) return;
      u = 0;
      offset += g.plane - g.s.kh * g.Wp;
    }
  };

  // Tap offsets of k = 0 .. K-1 from a patch's top-left corner.
  void tap_offsets(int64_t* out) const {
    TapCursor tc(*this, 0);
    for (int64_t k = 0; k < K; ++k, tc.next()) out[k] = tc.offset;
  }

  // Where columns [from, from + len) of panel j start in the padded input when
  // they are one contiguous segment of it (inside one run, stride 1), else -1:
  // then the indirect kernels read them in place instead of a packed copy.
  int64_t contiguous_start(Runs runs, int64_t j, int64_t from, int64_t len) const {
    if (s.sw != 1) return -1;
    for (int64_t ri = runs.first[j]; ri < runs.first[j + 1]; ++ri) {
      const Run& r = runs.run[ri];
      if (from >= r.col && from < r.col + r.len)
        return from + len <= r.col + r.len ? r.in_off + (from - r.col) : -1;
    }
    return -1;
  }

  // Unfolded patches as column panels [count/nr][kpad][nr] for k in
  // [k0, k0 + krows); rows >= krows and columns >= count are zero.
  // sums (optional) gets each column's patch sum, accumulated in k order.
  void pack_columns(const float* xp, Runs runs, int64_t count, int64_t k0, int64_t krows,
                    int64_t kpad, int nr, float* out, float* sums) const {
    for (int64_t j = 0; j < div_up(count, nr); ++j)
      pack_panel(xp, runs, j, count, k0, krows, kpad, nr, out + j * kpad * nr, sums ? sums + j * nr : nullptr);
  }

  // Panel j of pack_columns into panel ([kpad][nr]); sums gets its nr column sums.
  void pack_panel(const float* xp, Runs runs, int64_t j, int64_t count, int64_t k0, int64_t krows,
                  int64_t kpad, int nr, float* panel, float* sums) const {
    const int64_t sw = s.sw;
    const int64_t cols = std::min<int64_t>(nr, count - j * nr);
    const Run* pr = runs.run + runs.first[j];
    const int64_t nrun = runs.first[j + 1] - runs.first[j];
    TapCursor tc(*this, k0);
    for (int64_t kk = 0; kk < krows; ++kk, tc.next()) {
      float* __restrict row = panel + kk * nr - j * nr;  // indexed by chunk column
      const float* tap_base = xp + tc.offset;
      for (int64_t ri = 0; ri < nrun; ++ri) {
        const Run& r = pr[ri];
        const float* __restrict src = tap_base + r.in_off;
        float* __restrict dst = row + r.col;
        if (sw == 1) copy_run(src, r.len, dst);
        else for (int64_t e = 0; e < r.len; ++e) dst[e] = src[e * sw];
      }
      for (int64_t n = cols; n < nr; ++n) panel[kk * nr + n] = 0.0f;
    }
    for (int64_t e = krows * nr; e < kpad * nr; ++e) panel[e] = 0.0f;
    if (sums) column_sums(panel, krows, nr, sums);
  }

  // The inverse of pack_columns for one register tile: adds tile rows
  // (k = k0 + m) and panel-j columns onto the padded input gradient.
  // taps: tap_offsets() (a division-free lookup: this runs once per tile).
  void scatter_tile(const float* tile, int nr, int64_t rows, int64_t k0, Runs runs, int64_t j,
                    const int64_t* taps, float* gxp) const {
    const int64_t sw = s.sw;
    for (int64_t m = 0; m < rows; ++m) {
      const float* src_row = tile + m * nr - j * nr;
      for (int64_t ri = runs.first[j]; ri < runs.first[j + 1]; ++ri) {
        const Run& r = runs.run[ri];
        const float* __restrict src = src_row + r.col;
        float* __restrict dst = gxp + r.in_off + taps[k0 + m];
        if (sw == 1) for (int64_t e = 0; e < r.len; ++e) dst[e] += src[e];
        else for (int64_t e = 0; e < r.len; ++e) dst[e * sw] += src[e];
      }
    }
  }

  // Unfolded patches as row panels [K/nr][count][nr]: panel j holds k in
  // [j*nr, j*nr + nr) for each column (the B operand of the filter gradient).
  // Tap by tap: the columns of a run read consecutive (strided) input values.
  void pack_rows(const float* xp, Runs runs, int64_t count, int nr, float* out) const {
    const int64_t panels = div_up(K, nr), nruns = runs.first[div_up(count, nr)];
    const int64_t pstride = count * nr, sw = s.sw;
    if (K % nr) {
      float* last = out + (panels - 1) * pstride;
      for (int64_t col = 0; col < count; ++col)
        for (int64_t n = K % nr; n < nr; ++n) last[col * nr + n] = 0.0f;
    }
    TapCursor tc(*this, 0);
    for (int64_t k = 0; k < K; ++k, tc.next()) {
      float* panel = out + (k / nr) * pstride + k % nr;
      const float* base = xp + tc.offset;
      for (int64_t ri = 0; ri < nruns; ++ri) {
        const Run& r = runs.run[ri];
        const float* __restrict src = base + r.in_off;
        float* __restrict dst = panel + r.col * nr;
        for (int64_t e = 0; e < r.len; ++e) dst[e * nr] = src[e * sw];
      }
    }
  }

  // Output-gradient panels [count/nr][T][nr] (B operand of the input gradient).
  void pack_grad_columns(const float* gy, Runs runs, int64_t count, int nr, float* out) const {
    const int64_t panels = div_up(count, nr);
    for (int64_t j = 0; j < panels; ++j) {
      const int64_t cols = std::min<int64_t>(nr, count - j * nr);
      for (int64_t t = 0; t < T; ++t) {
        float* __restrict row = out + (j * T + t) * nr;
        for (int64_t ri = runs.first[j]; ri < runs.first[j + 1]; ++ri) {
          const Run& r = runs.run[ri];
          const float* __restrict src = gy + r.out_base + t * HW;
          float* __restrict dst = row + (r.col - j * nr);
          for (int64_t e = 0; e < r.len; ++e) dst[e] = src[e];
        }
        for (int64_t n = cols; n < nr; ++n) row[n] = 0.0f;
      }
    }
  }

  // Output-gradient transposed panels [T/mr][count][mr] (A operand of the
  // filter gradient).
  void pack_grad_rows(const float* gy, Runs runs, int64_t count, int nr, int mr, float* out) const {
    const int64_t panels = div_up(T, mr), nruns = runs.first[div_up(count, nr)];
    for (int64_t i = 0; i < panels; ++i) {
      const int64_t rows = std::min<int64_t>(mr, T - i * mr);
      float* panel = out + i * count * mr;
      for (int64_t ri = 0; ri < nruns; ++ri) {
        const Run& r = runs.run[ri];
        for (int64_t m = 0; m < mr; ++m) {
          float* __restrict dst = panel + r.col * mr + m;
          if (m >= rows) {
            for (int64_t e = 0; e < r.len; ++e) dst[e * mr] = 0.0f;
            continue;
          }
          const float* __restrict src = gy + r.out_base + (i * mr + m) * HW;
          for (int64_t e = 0; e < r.len; ++e) dst[e * mr] = src[e];
        }
      }
    }
  }
};

// The input with zero padding made explicit (x itself when there is none).
const float* padded_input(ThreadPool::Session& ses, int slot, const Geometry& g, const float* x) {
  if (!g.padded()) return x;
  const Conv2dShape& s = g.s;
  float* xp = ses.shared(slot, g.padded_size());
  ses.parallel_for(s.n * s.c, [&](size_t plane, int) {
    const float* src = x + int64_t(plane) * s.h * s.w;
    float* dst = xp + int64_t(plane) * g.plane;
    std::fill(dst, dst + s.ph * g.Wp, 0.0f);
    for (int64_t i = 0; i < s.h; ++i) {
      float* row = dst + (s.ph + i) * g.Wp;
      std::fill(row, row + s.pw, 0.0f);
      std::copy(src + i * s.w, src + (i + 1) * s.w, row + s.pw);
      std::fill(row + s.pw + s.w, row + g.Wp, 0.0f);
    }
    std::fill(dst + (s.ph + s.h) * g.Wp, dst + g.plane, 0.0f);
  });
  return xp;
}

// Filters as panels [T/mr][K][mr] (A operand of the forward); optional row sums.
void pack_filters(const float* w, int64_t T, int64_t K, int mr, float* out, float* sums) {
  const int64_t panels = div_up(T, mr);
  for (int64_t i = 0; i < panels; ++i)
    for (int64_t m = 0; m < mr; ++m) {
      const int64_t t = i * mr + m;
      float* dst = out + i * K * mr + m;
      if (t < T) {
        const float* src = w + t * K;
        for (int64_t k = 0; k < K; ++k) dst[k * mr] = src[k];
        if (sums) column_sums(src, K, 1, sums + t);
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

// Positions per task: whole register tiles, enough tasks to balance threads,
// few enough that the task's packed patches (K x positions) stay in L2 next
// to the packed filters. A small layer (batch 1: a few M ops) is split into
// fewer, equal tasks, each worth at least kMinTaskOps, rather than into
// 8-tile tasks the threads would share unevenly (or not at all); below
// 2 * kMinTaskOps it runs on one thread.
int64_t position_block(int64_t P, int64_t K, int64_t T, int nr, int threads) {
  constexpr int64_t kPackBytes = 160 << 10;
  constexpr int64_t kMinTaskOps = 1 << 20;
  const int64_t tiles = div_up(P, nr);
  const int64_t fit = std::max<int64_t>(1, kPackBytes / (K * nr * int64_t(sizeof(float))));
  const int64_t fine = std::max<int64_t>(1, std::min<int64_t>({8, fit, tiles / (4 * threads)}));
  const double ops = 2.0 * double(P) * double(K) * double(T);
  const int64_t worth = std::max<int64_t>(1, int64_t(ops / double(kMinTaskOps)));
  int64_t tasks = div_up(tiles, fine);
  if (tasks > worth) {
    // Round down to whole rounds of the threads, so each gets an equal share.
    tasks = worth >= threads ? worth / threads * threads : worth;
  }
  return div_up(tiles, tasks) * nr;
}

// The epilogue's BatchNorm as batch_norm_forward rounds it: (v - mean) * scale + beta.
struct FoldedNorm {
  std::vector<float> mean, scale, beta;
  FoldedNorm(const Epilogue& ep, int64_t T) {
    if (!ep.has_bn()) return;
    mean.resize(T);
    scale.resize(T);
    beta.resize(T);
    for (int64_t t = 0; t < T; ++t) {
      const double invstd = 1.0 / std::sqrt(double(ep.bn_var[t]) + ep.bn_eps);
      mean[t] = ep.bn_mean[t];
      scale[t] = float(ep.bn_gamma[t] * invstd);
      beta[t] = ep.bn_beta[t];
    }
  }
};

// The epilogue after the layer value of a run: separate short loops over
// values still in L1, each of which vectorises (one fused loop with
// run-time flags would not).
inline void finish_run(const Epilogue& ep, const FoldedNorm& bn, int64_t t, float* __restrict yt,
                       const float* __restrict rt, int64_t len) {
  if (ep.has_bn()) {
    const float mf = bn.mean[t], sc = bn.scale[t], b = bn.beta[t];
    for (int64_t e = 0; e < len; ++e) yt[e] = (yt[e] - mf) * sc + b;
  }
  if (rt)
    for (int64_t e = 0; e < len; ++e) yt[e] = yt[e] + rt[e];
  if (ep.relu)
    for (int64_t e = 0; e < len; ++e) yt[e] = yt[e] < 0.0f ? 0.0f : yt[e];
}

// Filters packed for the forward (panels and, for the adder, row sums) kept
// for calls with the same filter contents (FilterVersion): a small LRU list.
struct PackedFilters {
  FilterVersion key;
  Isa isa;
  int op, mr;
  int64_t T, K;
  std::vector<float> pack, sums;
  uint64_t used;
};

class PackedFilterCache {
 public:
  static PackedFilterCache& instance() {
    static PackedFilterCache* cache = new PackedFilterCache();  // leaked: used until exit
    return *cache;
  }
  // The kept packing for these contents, made (and kept) when missing;
  // null when it would not fit the budget.
  template <class Make>
  std::shared_ptr<const PackedFilters> get(FilterVersion key, Isa isa, int op, int mr, int64_t T,
                                           int64_t K, Make make) {
    std::lock_guard<std::mutex> g(m_);
    for (auto& e : entries_)
      if (e->key.id == key.id && e->key.version == key.version && e->isa == isa && e->op == op &&
          e->mr == mr && e->T == T && e->K == K) {
        e->used = ++clock_;
        return e;
      }
    drop_locked(key.id);  // an older version of these filters
    const int64_t bytes = (div_up(T, mr) * mr * K + T) * int64_t(sizeof(float));
    if (bytes > kBudget) return nullptr;
    while (bytes_ + bytes > kBudget && !entries_.empty()) {
      auto lru = std::min_element(entries_.begin(), entries_.end(),
                                  [](const auto& a, const auto& b) { return a->used < b->used; });
      bytes_ -= footprint(**lru);
      entries_.erase(lru);
    }
    auto e = std::make_shared<PackedFilters>();
    e->key = key;
    e->isa = isa;
    e->op = op;
    e->mr = mr;
    e->T = T;
    e->K = K;
    e->pack.resize(size_t(div_up(T, mr) * mr * K));
    e->sums.resize(size_t(T));
    make(e->pack.data(), e->sums.data());
    e->used = ++clock_;
    bytes_ += footprint(*e);
    entries_.push_back(e);
    return e;
  }
  void drop(uint64_t id) {
    std::lock_guard<std::mutex> g(m_);
    drop_locked(id);
  }
  int64_t bytes() {
    std::lock_guard<std::mutex> g(m_);
    return bytes_;
  }

 private:
  static constexpr int64_t kBudget = int64_t(64) << 20;
  static int64_t footprint(const PackedFilters& e) {
    return int64_t((e.pack.size() + e.sums.size()) * sizeof(float));
  }
  void drop_locked(uint64_t id) {
    for (size_t i = entries_.size(); i-- > 0;)
      if (entries_[i]->key.id == id) {
        bytes_ -= footprint(*entries_[i]);
        entries_.erase(entries_.begin() + long(i));
      }
  }
  std::mutex m_;
  std::vector<std::shared_ptr<PackedFilters>> entries_;
  int64_t bytes_ = 0;
  uint64_t clock_ = 0;
};

// What the forward engine computes per output: the adder's max-trick sum,
// the convolution's products, or (the adder's input gradient, run as a
// forward over the output gradient) HardTanh differences with the layer
// input, clamp(w - x, -1, 1) * gy.
enum class EngineOp { adder, conv, htgrad };

std::shared_ptr<const PackedFilters> packed_filters(FilterVersion key, Isa isa, EngineOp op, int mr,
                                                   int64_t T, int64_t K, const float* w) {
  return PackedFilterCache::instance().get(key, isa, int(op), mr, T, K, [&](float* pack, float* sums) {
    pack_filters(w, T, K, mr, pack, op == EngineOp::adder ? sums : nullptr);
  });
}

// The forward engine inside a held session. htgrad_x: for EngineOp::htgrad,
// the tensor whose value at each output position the filters are compared
// with (shaped like y; every panel must lie inside one image: HW % nr == 0).
// Uses shared slots 0, 1, 2 and 4.
void forward_in(ThreadPool::Session& ses, EngineOp op, const Conv2dShape& s, const float* x,
                const float* w, const float* bias, float* y, const Epilogue& ep,
                const float* htgrad_x, FilterVersion filters = {}) {
  const Geometry g(s);
  const FoldedNorm bn(ep, s.t);
  const bool plain = !ep.has_bn() && !ep.residual && !ep.relu, adder = op == EngineOp::adder;
  const IsaConfig& cfg = active_config();
  const GemmUkernel uk = adder ? cfg.maxsum : cfg.fma;
  const IgemmUkernel ik = adder ? cfg.maxsum_indirect : cfg.fma_indirect;
  const HtgradUkernel hk = cfg.htgrad;
  const IhtgradUkernel hik = cfg.htgrad_indirect;
  const bool ht = op == EngineOp::htgrad;
  const int mr = ht ? hk.mr : uk.mr, nr = ht ? hk.nr : uk.nr, half = nr / 2;
  if (ht && g.HW % nr != 0) throw std::logic_error("htgrad panels must not span images");

  const int64_t tpanels = div_up(g.T, mr);
  const float *wpack, *wsum;
  std::shared_ptr<const PackedFilters> kept;
  if (filters.id != 0 && (kept = packed_filters(filters, cfg.isa, op, mr, g.T, g.K, w))) {
    wpack = kept->pack.data();
    wsum = kept->sums.data();
  } else {
    float* pack = ses.shared(0, tpanels * g.K * mr);
    float* sums = ses.shared(1, g.T);
    pack_filters(w, g.T, g.K, mr, pack, adder ? sums : nullptr);
    wpack = pack;
    wsum = sums;
  }
  const float* xp = padded_input(ses, 2, g, x);
  // Stride 1: panels whose two halves are each a contiguous row segment of
  // xp are read in place by the indirect kernels (no packing; the same floats).
  const bool has_indirect = ht ? hik.fn && hik.mr == mr && hik.nr == nr : ik.fn && ik.mr == mr && ik.nr == nr;
  const bool indirect = forward_indirect_enabled() && has_indirect && s.sw == 1 &&
                        (half == 4 || half == 8 || half == 16);
  int64_t* taps = nullptr;
  if (indirect) {
    taps = reinterpret_cast<int64_t*>(ses.shared(4, 2 * g.K));
    g.tap_offsets(taps);
  }

  const int64_t block = position_block(g.P, g.K, g.T, nr, ses.threads());
  ses.parallel_for(div_up(g.P, block), [&](size_t task, int worker) {
    const int64_t p0 = int64_t(task) * block, count = std::min(block, g.P - p0);
    const int64_t ppanels = div_up(count, nr);
    Carver cv;
    reserve_runs(cv, count, nr);
    cv.reserve<float>(g.K * nr);
    cv.reserve<float>(ppanels * nr);
    cv.reserve<float>(tpanels * mr * nr);
    cv.reserve<float>(ht ? mr * nr : 0);
    cv.bind(ses.scratch(worker, cv.floats()));
    const Runs runs = take_runs(cv, count, nr);
    float* xpack = cv.take<float>(g.K * nr);  // one panel, packed just before use
    float* xsum = cv.take<float>(ppanels * nr);
    float* tiles = cv.take<float>(tpanels * mr * nr);
    float* xtile = cv.take<float>(ht ? mr * nr : 0);
    alignas(64) float run_buf[64];  // a run is at most nr <= 64 columns

    g.make_runs(p0, count, nr, runs);
    for (int64_t j = 0; j < ppanels; ++j) {
      int64_t lo = -1, hi = -1;
      if (indirect && count - j * nr >= nr) {
        lo = g.contiguous_start(runs, j, j * nr, half);
        if (lo >= 0) hi = g.contiguous_start(runs, j, j * nr + half, half);
      }
      const bool direct = lo >= 0 && hi >= 0;
      if (!direct) g.pack_panel(xp, runs, j, count, 0, g.K, g.K, nr, xpack, adder ? xsum + j * nr : nullptr);
      else if (adder) indirect_column_sums(xp + lo, xp + hi, half, taps, g.K, xsum + j * nr);
      if (ht) {
        // One call over the whole reduction per tile; the compared values
        // are rows of htgrad_x (one per output channel, nr positions each).
        const int64_t p = p0 + j * nr, n = p / g.HW, q = p % g.HW;
        for (int64_t i = 0; i < tpanels; ++i) {
          const float* xrows = htgrad_x + (n * g.T + i * mr) * g.HW + q;
          size_t stride = size_t(g.HW);
          if (i * mr + mr > g.T) {  // the last rows lie past the channels: a zero-padded copy
            for (int m = 0; m < mr; ++m)
              for (int e = 0; e < nr; ++e) xtile[m * nr + e] = i * mr + m < g.T ? xrows[m * g.HW + e] : 0.0f;
            xrows = xtile;
            stride = size_t(nr);
          }
          const float* a = wpack + i * g.K * mr;
          if (direct) hik.fn(size_t(g.K), a, xp + lo, xp + hi, taps, xrows, stride, tiles + i * mr * nr);
          else hk.fn(size_t(g.K), a, xpack, xrows, stride, tiles + i * mr * nr);
        }
      } else {
        // Reduction block outside the filter panels: the block's kReductionBlock
        // x nr slice of patches stays in L1 while every filter panel streams
        // past it. Each tile still sums block by block in k order.
        for (int64_t k0 = 0; k0 < g.K; k0 += kReductionBlock) {
          const int64_t kc = std::min(kReductionBlock, g.K - k0);
          for (int64_t i = 0; i < tpanels; ++i) {
            const float* a = wpack + (i * g.K + k0) * mr;
            if (direct) ik.fn(kc, a, xp + lo, xp + hi, taps + k0, tiles + i * mr * nr, k0 > 0);
            else uk.fn(kc, a, xpack + k0 * nr, tiles + i * mr * nr, k0 > 0);
          }
        }
      }
      for (int64_t i = 0; i < tpanels; ++i) {
        const float* tile = tiles + i * mr * nr;
        const int64_t rows = std::min<int64_t>(mr, g.T - i * mr);
        for (int64_t m = 0; m < rows; ++m) {
          const int64_t t = i * mr + m;
          const float b = bias ? bias[t] : 0.0f, ws = adder ? wsum[t] : 0.0f;
          for (int64_t ri = runs.first[j]; ri < runs.first[j + 1]; ++ri) {
            const Run& r = runs.run[ri];
            const int64_t c0 = r.col - j * nr;
            const float* tm = tile + m * nr + c0;
            float* yt = y + r.out_base + t * g.HW;
            // With an epilogue the run is finished in L1 (v) and stored
            // once: y is written in one pass, never read back.
            float* v = plain ? yt : run_buf;
            if (adder) {
              // sum|x - w| = 2 sum max(x, w) - sum x - sum w; never positive.
              const float* sx = xsum + j * nr + c0;
              for (int64_t e = 0; e < r.len; ++e)
                v[e] = std::min(-(2.0f * tm[e] - sx[e] - ws), 0.0f) + b;
            } else {
              for (int64_t e = 0; e < r.len; ++e) v[e] = tm[e] + b;
            }
            if (!plain) {
              finish_run(ep, bn, t, v, ep.residual ? ep.residual + r.out_base + t * g.HW : nullptr, r.len);
              copy_run(v, r.len, yt);
            }
          }
        }
      }
    }
  });
}

void forward(bool adder, const Conv2dShape& s, const float* x, const float* w,
             const float* bias, float* y, const Epilogue& ep, FilterVersion filters) {
  s.validate();
  ThreadPool::Session ses(ThreadPool::instance());
  forward_in(ses, adder ? EngineOp::adder : EngineOp::conv, s, x, w, bias, y, ep, nullptr, filters);
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
void filter_gradient(ThreadPool::Session& ses, const Geometry& g, const float* xp,
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
    reserve_runs(cv, chunk, nr);
    cv.reserve<float>(tpanels * chunk * mr);
    cv.reserve<float>(kpanels * chunk * nr);
    cv.reserve<float>(mr * nr);
    cv.bind(ses.scratch(worker, cv.floats()));
    const Runs runs = take_runs(cv, chunk, nr);
    float* apack = cv.take<float>(tpanels * chunk * mr);
    float* bpack = cv.take<float>(kpanels * chunk * nr);
    float* tile = cv.take<float>(mr * nr);
    for (int64_t p0 = pa; p0 < pb; p0 += chunk) {
      const int64_t count = std::min(chunk, pb - p0);
      g.make_runs(p0, count, nr, runs);
      g.pack_grad_rows(gy, runs, count, nr, mr, apack);
      g.pack_rows(xp, runs, count, nr, bpack);
      for (int64_t i = 0; i < tpanels; ++i)
        for (int64_t j = 0; j < kpanels; ++j) {
          uk.fn(count, apack + i * count * mr, bpack + j * count * nr, tile, false);
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

// Column stride 1 with whole vectors per output row: gw[t][k] = sum over output rows
// (n, i) of the dot product of gy's row and the tap's input row, both
// contiguous, so nothing is transposed or packed (the dot kernels). Output
// rows are cut into chunks of a size that depends on the layer only, each
// summed into its own partial, and the partials are added in chunk order:
// the result does not depend on the thread count.
bool dot_filter_gradient_fits(const Geometry& g) {
  const DotUkernel& dk = active_config().dot;
  return dk.fn && dk.mr <= 16 && dk.nr <= 16 && g.s.sw == 1 && g.WO % dk.lanes == 0 &&
         dot_filter_gradient_enabled();
}

void dot_filter_gradient(ThreadPool::Session& ses, const Geometry& g, const float* xp,
                         const float* gy, float* gw) {
  const DotUkernel& dk = active_config().dot;
  const int mr = dk.mr, nr = dk.nr;
  const Conv2dShape& s = g.s;
  const int64_t rows_total = s.n * g.HO;
  // About 256 KB of gy and input rows per chunk, so a chunk's operands stay
  // in L2 while every tile streams over them.
  const int64_t row_bytes = (g.T * g.WO + s.c * g.Wp * s.kh) * int64_t(sizeof(float));
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(rows_total, (256 << 10) / row_bytes));
  const int64_t chunks = div_up(rows_total, chunk);
  float* partial = ses.shared(7, checked_mul(checked_mul(chunks, g.T, "the filter gradient"), g.K, "the filter gradient"));
  int64_t* taps = reinterpret_cast<int64_t*>(ses.shared(4, 2 * g.K));
  g.tap_offsets(taps);
  const int64_t tpanels = div_up(g.T, mr), kpanels = div_up(g.K, nr);

  ses.parallel_for(chunks, [&](size_t task, int worker) {
    const int64_t q0 = int64_t(task) * chunk, rows = std::min(chunk, rows_total - q0);
    Carver cv;
    cv.reserve<int64_t>(rows);
    cv.reserve<int64_t>(rows);
    cv.bind(ses.scratch(worker, cv.floats()));
    int64_t* a_off = cv.take<int64_t>(rows);
    int64_t* b_off = cv.take<int64_t>(rows);
    for (int64_t q = 0; q < rows; ++q) {
      const int64_t n = (q0 + q) / g.HO, i = (q0 + q) % g.HO;
      a_off[q] = n * g.T * g.HW + i * g.WO;
      b_off[q] = n * s.c * g.plane + i * s.sh * g.Wp;  // output row i reads input rows i * sh + u
    }
    float* acc = partial + int64_t(task) * g.T * g.K;
    const float* a[16];
    int64_t bt[16];
    float tile[16 * 16];
    for (int64_t ti = 0; ti < tpanels; ++ti) {
      const int64_t t0 = ti * mr, mrows = std::min<int64_t>(mr, g.T - t0);
      // Rows past T or K repeat the last one: valid memory, results dropped.
      for (int m = 0; m < mr; ++m) a[m] = gy + (t0 + std::min<int64_t>(m, mrows - 1)) * g.HW;
      for (int64_t kj = 0; kj < kpanels; ++kj) {
        const int64_t k0 = kj * nr, ncols = std::min<int64_t>(nr, g.K - k0);
        for (int n = 0; n < nr; ++n) bt[n] = taps[k0 + std::min<int64_t>(n, ncols - 1)];
        dk.fn(size_t(rows), size_t(g.WO), a, a_off, xp, bt, b_off, tile);
        for (int64_t m = 0; m < mrows; ++m)
          for (int64_t n = 0; n < ncols; ++n) acc[(t0 + m) * g.K + k0 + n] = tile[m * nr + n];
      }
    }
  });
  const int64_t total = g.T * g.K;
  std::copy(partial, partial + total, gw);
  for (int64_t c = 1; c < chunks; ++c)
    for (int64_t e = 0; e < total; ++e) gw[e] += partial[c * total + e];
}

// dXcol[k][p] = sum_t op(W[t][k], X[k][p]) * gy[t][p], scattered back onto gx.
// Tasks never write the same input element: when patches overlap, each task
// owns one image and a range of channels; otherwise a range of positions.
void input_gradient(ThreadPool::Session& ses, bool adder, const Geometry& g, const float* xp,
                    const float* w, const float* gy, float* gx) {
  const Conv2dShape& s = g.s;
  const HtgradUkernel ht = active_config().htgrad;
  const GemmUkernel fm = active_config().fma;
  const int mr = adder ? ht.mr : fm.mr, nr = adder ? ht.nr : fm.nr;
  // Scatter onto a padded gradient (no bounds tests), then crop.
  float* gxp = g.padded() ? ses.shared(3, g.padded_size()) : gx;
  ses.parallel_for(s.n * s.c, [&](size_t plane, int) {
    std::fill(gxp + int64_t(plane) * g.plane, gxp + int64_t(plane + 1) * g.plane, 0.0f);
  });

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
  int64_t* taps = reinterpret_cast<int64_t*>(ses.shared(4, 2 * g.K));
  g.tap_offsets(taps);
  // Every task reads all the filters when the channels are not split: packed once.
  const int64_t apanel_floats = div_up(max_kpad, mr) * g.T * mr;
  float* shared_apack = nullptr;
  if (cblocks == 1) {
    shared_apack = ses.shared(5, apanel_floats);
    pack_filters_transposed(w, g.T, g.K, 0, g.K, mr, shared_apack);
  }

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
    reserve_runs(cv, chunk, nr);
    cv.reserve<float>(shared_apack ? 0 : apanel_floats);
    cv.reserve<float>(ppanels_max * g.T * nr);
    cv.reserve<float>(adder ? ppanels_max * max_kpad * nr : 0);
    cv.reserve<float>(mr * nr);
    cv.bind(ses.scratch(worker, cv.floats()));
    const Runs runs = take_runs(cv, chunk, nr);
    float* apack = shared_apack ? shared_apack : cv.take<float>(apanel_floats);
    float* bpack = cv.take<float>(ppanels_max * g.T * nr);
    float* xpack = cv.take<float>(adder ? ppanels_max * max_kpad * nr : 0);
    float* tile = cv.take<float>(mr * nr);

    if (!shared_apack) pack_filters_transposed(w, g.T, g.K, k0, krows, mr, apack);
    for (int64_t p0 = pa; p0 < pb; p0 += chunk) {
      const int64_t count = std::min(chunk, pb - p0), ppanels = div_up(count, nr);
      g.make_runs(p0, count, nr, runs);
      g.pack_grad_columns(gy, runs, count, nr, bpack);
      if (adder) g.pack_columns(xp, runs, count, k0, krows, kpad, nr, xpack, nullptr);
      for (int64_t j = 0; j < ppanels; ++j) {
        for (int64_t i = 0; i < kpanels; ++i) {
          const float* a = apack + i * g.T * mr;
          const float* b = bpack + j * g.T * nr;
          if (adder)
            ht.fn(g.T, a, b, xpack + (j * kpad + i * mr) * nr, nr, tile);
          else
            fm.fn(g.T, a, b, tile, false);
          const int64_t rows = std::min<int64_t>(mr, krows - i * mr);
          g.scatter_tile(tile, nr, rows, k0 + i * mr, runs, j, taps, gxp);
        }
      }
    }
  });
  if (g.padded())
    ses.parallel_for(s.n * s.c, [&](size_t plane, int) {
      const float* src = gxp + int64_t(plane) * g.plane + s.ph * g.Wp + s.pw;
      float* dst = gx + int64_t(plane) * s.h * s.w;
      for (int64_t i = 0; i < s.h; ++i) std::copy(src + i * g.Wp, src + i * g.Wp + s.w, dst + i * s.w);
    });
}

// Stride 1: the input gradient is a forward over the output gradient
// padded by k - 1 - p, with the filters transposed and flipped,
//   conv:  gx[c] = sum_{t,u,v} W[t,c,kh-1-u,kw-1-v] * gyp[t, h+u, w+v]
//   adder: gx[c] = sum_{t,u,v} clamp(W[t,c,kh-1-u,kw-1-v] - x[c,h,w], -1, 1) * gyp[t, h+u, w+v]
// so it runs on the forward engine (in-place panels, no scatter-add onto a
// padded gradient, each value written once). Needs p <= k - 1, and for the
// adder whole tiles per image (HW % nr == 0, to compare with x row by row).
bool direct_input_gradient_fits(bool adder, const Conv2dShape& s) {
  if (s.sh != 1 || s.sw != 1 || s.ph > s.kh - 1 || s.pw > s.kw - 1) return false;
  return !adder || (s.h * s.w) % active_config().htgrad.nr == 0;
}

void direct_input_gradient(ThreadPool::Session& ses, bool adder, const Conv2dShape& s,
                           const float* x, const float* w, const float* gy, float* gx) {
  Conv2dShape t{};
  t.n = s.n;
  t.c = s.t;
  t.h = s.ho();
  t.w = s.wo();
  t.t = s.c;
  t.kh = s.kh;
  t.kw = s.kw;
  t.sh = t.sw = 1;
  t.ph = s.kh - 1 - s.ph;
  t.pw = s.kw - 1 - s.pw;
  t.validate();
  // wt[c][t][u][v] = w[t][c][kh-1-u][kw-1-v]
  float* wt = ses.shared(6, s.weight_size());
  const int64_t KK = s.kh * s.kw;
  for (int64_t f = 0; f < s.t; ++f)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t e = 0; e < KK; ++e) wt[(c * s.t + f) * KK + (KK - 1 - e)] = w[(f * s.c + c) * KK + e];
  forward_in(ses, adder ? EngineOp::htgrad : EngineOp::conv, t, gy, wt, nullptr, gx, Epilogue{},
             adder ? x : nullptr);
}

void backward(bool adder, const Conv2dShape& s, const float* x, const float* w,
              const float* gy, float* gx, float* gw, float* gb) {
  s.validate();
  const Geometry g(s);
  ThreadPool::Session ses(ThreadPool::instance());
  const float* xp = (gw || gx) ? padded_input(ses, 2, g, x) : x;
  std::vector<double> sums;
  if (gb || (adder && gw)) {
    sums.resize(g.T);
    grad_sums(g, gy, sums.data());
  }
  if (gb)
    for (int64_t t = 0; t < g.T; ++t) gb[t] = float(sums[t]);
  if (gw) {
    if (dot_filter_gradient_fits(g)) dot_filter_gradient(ses, g, xp, gy, gw);
    else filter_gradient(ses, g, xp, gy, gw);
    // SPEC identity: dF = Gm * Xcol^T - F .* rowsum(Gm).
    if (adder)
      for (int64_t t = 0; t < g.T; ++t)
        for (int64_t k = 0; k < g.K; ++k) gw[t * g.K + k] -= w[t * g.K + k] * float(sums[t]);
  }
  // Last: the direct path reuses the shared slots that held xp.
  if (gx && direct_input_gradient_enabled() && direct_input_gradient_fits(adder, s))
    direct_input_gradient(ses, adder, s, x, w, gy, gx);
  else if (gx)
    input_gradient(ses, adder, g, xp, w, gy, gx);
}

}  // namespace

void adder2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                     float* y, const Epilogue& epilogue, FilterVersion filters) {
  forward(true, s, x, w, bias, y, epilogue, filters);
}
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y, const Epilogue& epilogue, FilterVersion filters) {
  forward(false, s, x, w, bias, y, epilogue, filters);
}
void adder2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* gy,
                      float* gx, float* gw, float* gb) {
  backward(true, s, x, w, gy, gx, gw, gb);
}
void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* gy,
                     float* gx, float* gw, float* gb) {
  backward(false, s, x, w, gy, gx, gw, gb);
}

void forget_packed_filters(uint64_t id) {
  if (id != 0) PackedFilterCache::instance().drop(id);
}
int64_t packed_filter_bytes() { return PackedFilterCache::instance().bytes(); }

}  // namespace adn
