// SIMD microkernel bodies, written once over a vector-traits type V and
// instantiated by each ISA's file (compiled with that ISA's flags only).
// Include inside an anonymous namespace after defining V.
//
// NR = 2 vectors of positions, MR broadcast rows. Every output accumulates in
// reduction order in one register lane, which keeps the max-trick forward
// exactly 0 when a patch equals its filter.
//
// Additions are issued as FMA with 1.0 (exact: m * 1 + acc == m + acc): on
// CPUs with separate FMA and FADD pipes (AMD Zen 4/5) max/min/sub go to the
// FADD pipes and the accumulation to the FMA pipes, doubling throughput.

template <class V, int MR>
inline void store_tile(float* c, const typename V::type* lo, const typename V::type* hi,
                       bool accumulate) {
  constexpr int W = V::width, NR = 2 * W;
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    auto l = lo[m], h = hi[m];
    if (accumulate) {
      l = V::add(V::load(c + m * NR), l);
      h = V::add(V::load(c + m * NR + W), h);
    }
    V::store(c + m * NR, l);
    V::store(c + m * NR + W, h);
  }
}

// Where row r of the b operand is: a packed panel [r][NR] (Packed), or read
// in place, the two halves at lo/hi + offsets[r] (Indirect: ukernels.h).
template <class V>
struct Packed {
  const float* b;
  const float* row(size_t r) const { return b + r * 2 * V::width; }
  const float* row_hi(size_t r) const { return b + r * 2 * V::width + V::width; }
};
struct Indirect {
  const float *lo, *hi;
  const int64_t* offsets;
  const float* row(size_t r) const { return lo + offsets[r]; }
  const float* row_hi(size_t r) const { return hi + offsets[r]; }
};

template <class V, int MR, class Rows>
inline void fma_body(size_t kc, const float* a, Rows b, float* c, bool accumulate) {
  typename V::type lo[MR], hi[MR];
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) lo[m] = hi[m] = V::zero();
  for (size_t r = 0; r < kc; ++r, a += MR) {
    const auto b0 = V::load(b.row(r)), b1 = V::load(b.row_hi(r));
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
      const auto am = V::set1(a[m]);
      lo[m] = V::fmadd(am, b0, lo[m]);
      hi[m] = V::fmadd(am, b1, hi[m]);
    }
  }
  store_tile<V, MR>(c, lo, hi, accumulate);
}

template <class V, int MR, class Rows>
inline void maxsum_body(size_t kc, const float* a, Rows b, float* c, bool accumulate) {
  typename V::type lo[MR], hi[MR];
  const auto one = V::set1(1.0f);
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) lo[m] = hi[m] = V::zero();
  for (size_t r = 0; r < kc; ++r, a += MR) {
    const auto b0 = V::load(b.row(r)), b1 = V::load(b.row_hi(r));
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
      const auto am = V::set1(a[m]);
      lo[m] = V::fmadd(V::max(am, b0), one, lo[m]);
      hi[m] = V::fmadd(V::max(am, b1), one, hi[m]);
    }
  }
  store_tile<V, MR>(c, lo, hi, accumulate);
}

template <class V, int MR>
void fma_kernel(size_t kc, const float* a, const float* b, float* c, bool accumulate) {
  fma_body<V, MR>(kc, a, Packed<V>{b}, c, accumulate);
}

template <class V, int MR>
void maxsum_kernel(size_t kc, const float* a, const float* b, float* c, bool accumulate) {
  maxsum_body<V, MR>(kc, a, Packed<V>{b}, c, accumulate);
}

// The indirect forms: b rows read in place (ukernels.h, igemm_ukernel_fn).
template <class V, int MR>
void fma_indirect_kernel(size_t kc, const float* a, const float* b_lo, const float* b_hi,
                         const int64_t* offsets, float* c, bool accumulate) {
  fma_body<V, MR>(kc, a, Indirect{b_lo, b_hi, offsets}, c, accumulate);
}

template <class V, int MR>
void maxsum_indirect_kernel(size_t kc, const float* a, const float* b_lo, const float* b_hi,
                            const int64_t* offsets, float* c, bool accumulate) {
  maxsum_body<V, MR>(kc, a, Indirect{b_lo, b_hi, offsets}, c, accumulate);
}

template <class V, int MR, class Rows>
inline void htgrad_body(size_t kc, const float* a, Rows b, const float* x, size_t x_stride,
                        float* c) {
  constexpr int W = V::width, NR = 2 * W;
  typename V::type lo[MR], hi[MR], xlo[MR], xhi[MR];
  const auto one = V::set1(1.0f), minus_one = V::set1(-1.0f);
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    lo[m] = hi[m] = V::zero();
    xlo[m] = V::load(x + m * x_stride);
    xhi[m] = V::load(x + m * x_stride + W);
  }
  for (size_t r = 0; r < kc; ++r, a += MR) {
    const auto b0 = V::load(b.row(r)), b1 = V::load(b.row_hi(r));
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
      const auto am = V::set1(a[m]);
      // a - x as an FMA (x * -1 + a) keeps the FADD pipes for max and min.
      auto d0 = V::fmadd(xlo[m], minus_one, am), d1 = V::fmadd(xhi[m], minus_one, am);
      d0 = V::min(V::max(d0, minus_one), one);
      d1 = V::min(V::max(d1, minus_one), one);
      lo[m] = V::fmadd(d0, b0, lo[m]);
      hi[m] = V::fmadd(d1, b1, hi[m]);
    }
  }
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    V::store(c + m * NR, lo[m]);
    V::store(c + m * NR + W, hi[m]);
  }
}

template <class V, int MR>
void htgrad_kernel(size_t kc, const float* a, const float* b, const float* x, size_t x_stride,
                   float* c) {
  htgrad_body<V, MR>(kc, a, Packed<V>{b}, x, x_stride, c);
}

template <class V, int MR>
void htgrad_indirect_kernel(size_t kc, const float* a, const float* b_lo, const float* b_hi,
                            const int64_t* offsets, const float* x, size_t x_stride, float* c) {
  htgrad_body<V, MR>(kc, a, Indirect{b_lo, b_hi, offsets}, x, x_stride, c);
}

template <class V, int MR, int NR>
void dot_kernel(size_t rows, size_t len, const float* const* a, const int64_t* a_off,
                const float* b, const int64_t* b_taps, const int64_t* b_off, float* c) {
  constexpr int W = V::width;
  typename V::type acc[MR][NR];
#pragma GCC unroll 32
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 32
    for (int n = 0; n < NR; ++n) acc[m][n] = V::zero();
  for (size_t q = 0; q < rows; ++q) {
    const float* ar[MR];
    const float* br[NR];
#pragma GCC unroll 32
    for (int m = 0; m < MR; ++m) ar[m] = a[m] + a_off[q];
#pragma GCC unroll 32
    for (int n = 0; n < NR; ++n) br[n] = b + b_taps[n] + b_off[q];
    for (size_t e = 0; e < len; e += W) {
      typename V::type bv[NR];
#pragma GCC unroll 32
      for (int n = 0; n < NR; ++n) bv[n] = V::load(br[n] + e);
#pragma GCC unroll 32
      for (int m = 0; m < MR; ++m) {
        const auto av = V::load(ar[m] + e);
#pragma GCC unroll 32
        for (int n = 0; n < NR; ++n) acc[m][n] = V::fmadd(av, bv[n], acc[m][n]);
      }
    }
  }
  alignas(64) float lane[W];
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) {
      V::store(lane, acc[m][n]);
      for (int width = W / 2; width >= 1; width /= 2)
        for (int l = 0; l < width; ++l) lane[l] += lane[l + width];
      c[m * NR + n] = lane[0];
    }
}
