// Adder and convolution layers on the GPU: one shared-memory tiled kernel
// (implicit GEMM, nothing unfolded in global memory) serves all three
// products of a layer, each described by a small "problem" struct:
//
//   forward      Y[t, p]  = sum_k   op(F[t, k],          Xcol[k, p])       M=T, cols=P, R=K
//   grad input   dX[c, q] = sum_r   op(F[t, c, u, v],    G gathered, X[c, q])  M=C, cols=N*H*W, R=T*KH*KW
//   grad filter  dF[t, k] = sum_p   G[t, p] * Xcol[k, p]                   M=T, cols=K, R=P
//
// with k = (c, u, v), p = (n, i, j) and q = (n, h, w). The filter gradient is
// the GEMM identity of SPEC.md (dF = G Xcol^T - F .* rowsum(G) for the adder;
// rowsum(G) is the bias gradient), split over positions into per-slice
// partials that a second kernel adds in a fixed order: deterministic.
#include <algorithm>
#include <cmath>

#include "common.cuh"

namespace adn {
namespace cuda {
using namespace detail;
namespace {

// ---- The tiled kernel -----------------------------------------------------------
// A block computes a BM x BN tile of outputs (BM = 16 * TM rows, BN = 64
// columns) with 256 threads; thread (ty, tx) owns rows ty + 16 i (i < TM) and
// columns tx + 16 j (j < 4). The reduction advances BK = 16 at a time through
// shared memory. Out-of-range reduction indices load 0 into both operands, so
// they add op(0, 0) = 0 for every op used here.
constexpr int BK = 16, BN = 64, kTileThreads = 256;

template <class Prob, int TM>
__global__ void __launch_bounds__(kTileThreads) tile_kernel(const Prob prob) {
  constexpr int BM = 16 * TM;
  __shared__ float As[BK][BM + 1];  // +1: the transposed stores spread over banks
  __shared__ float Bs[BK][BN];
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int m0 = blockIdx.y * BM, p0 = blockIdx.x * BN;
  const int r_begin = blockIdx.z * prob.r_split;
  const int r_end = min(prob.R, r_begin + prob.r_split);

  // Loader roles: A elements (m = a_m + 16 i, r = a_k), B elements (r = b_k + 4 i, column b_p).
  const int a_k = tid % BK, a_m = tid / BK;
  const int b_p = tid % BN, b_k = tid / BN;
  const typename Prob::Col col = prob.column(p0 + b_p);

  float acc[TM][4], ctx[TM][4];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int m = m0 + ty + 16 * i, p = p0 + tx + 16 * j;
      acc[i][j] = 0.0f;
      ctx[i][j] = (m < prob.M && p < prob.cols) ? prob.context(m, p) : 0.0f;
    }

  for (int r0 = r_begin; r0 < r_end; r0 += BK) {
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const int m = m0 + a_m + 16 * i, r = r0 + a_k;
      As[a_k][a_m + 16 * i] = (m < prob.M && r < r_end) ? prob.a(m, r) : 0.0f;
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int r = r0 + b_k + 4 * i;
      Bs[b_k + 4 * i][b_p] = r < r_end ? prob.b(col, r) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      float a[TM], b[4];
#pragma unroll
      for (int i = 0; i < TM; ++i) a[i] = As[k][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Bs[k][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = Prob::op(acc[i][j], a[i], b[j], ctx[i][j]);
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int m = m0 + ty + 16 * i, p = p0 + tx + 16 * j;
      if (m < prob.M && p < prob.cols) prob.store(m, p, blockIdx.z, acc[i][j]);
    }
}

// 32-bit geometry (the host checks every tensor has < 2^31 elements).
struct Geo {
  int N, C, H, W, T, KH, KW, SH, SW, PH, PW, HO, WO;
  int KHKW, K, HW, HOWO, P;
};

Geo make_geo(const Conv2dShape& s) {
  s.validate();
  need_int32(double(s.input_size()), "the input");
  need_int32(double(s.weight_size()), "the filters");
  need_int32(double(s.output_size()), "the output");
  Geo g;
  g.N = int(s.n), g.C = int(s.c), g.H = int(s.h), g.W = int(s.w), g.T = int(s.t);
  g.KH = int(s.kh), g.KW = int(s.kw), g.SH = int(s.sh), g.SW = int(s.sw);
  g.PH = int(s.ph), g.PW = int(s.pw), g.HO = int(s.ho()), g.WO = int(s.wo());
  // Padded extents bound every intermediate coordinate (i * SH + u etc.).
  need(double(s.h) + 2.0 * double(s.ph) < 2147483647.0 &&
           double(s.w) + 2.0 * double(s.pw) < 2147483647.0,
       "padded input too large for the CUDA kernels");
  g.KHKW = g.KH * g.KW, g.K = g.C * g.KHKW, g.HW = g.H * g.W, g.HOWO = g.HO * g.WO;
  g.P = g.N * g.HOWO;
  return g;
}

// Rows, columns and reduction slice of one tiled product.
struct Dims {
  int M, cols, R, r_split;
};

// ---- Forward: Y[t, p] = sum_k op(F[t, k], Xcol[k, p]) -----------------------------
template <bool ADDER>
struct ForwardProb : Dims {
  Geo g;
  const float *x, *w, *bias;
  float* y;
  struct Col {
    int xbase, ih0, iw0;
    bool valid;
  };
  __device__ Col column(int p) const {
    Col c{0, 0, 0, false};
    if (p < cols) {
      const int n = p / g.HOWO, q = p - n * g.HOWO, i = q / g.WO, j = q - i * g.WO;
      c = Col{n * g.C * g.HW, i * g.SH - g.PH, j * g.SW - g.PW, true};
    }
    return c;
  }
  __device__ float a(int t, int k) const { return w[t * g.K + k]; }
  __device__ float b(const Col& c, int k) const {
    if (!c.valid) return 0.0f;
    const int ch = k / g.KHKW, uv = k - ch * g.KHKW, u = uv / g.KW, v = uv - u * g.KW;
    const int ih = c.ih0 + u, iw = c.iw0 + v;
    // Padding reads as 0: for the adder a padded tap still adds |0 - F|.
    if (unsigned(ih) >= unsigned(g.H) || unsigned(iw) >= unsigned(g.W)) return 0.0f;
    return x[c.xbase + (ch * g.H + ih) * g.W + iw];
  }
  __device__ float context(int, int) const { return 0.0f; }
  static __device__ __forceinline__ float op(float acc, float a, float b, float) {
    return ADDER ? acc + fabsf(b - a) : fmaf(a, b, acc);
  }
  __device__ void store(int t, int p, int, float acc) const {
    const int n = p / g.HOWO, q = p - n * g.HOWO;
    float v = ADDER ? -acc : acc;
    if (bias) v += bias[t];
    y[(n * g.T + t) * g.HOWO + q] = v;
  }
};

// ---- Input gradient: dX[c, q] = sum_(t,u,v) op(F[t,c,u,v], G[n,t,i,j], X[n,c,h,w]) ----
// with h = i*SH + u - PH, w = j*SW + v - PW; taps whose (i, j) is not an output
// position load G = 0.
template <bool ADDER>
struct GradInputProb : Dims {
  Geo g;
  const float *x, *w, *gy;
  float* gx;
  struct Col {
    int gbase, hp, wp;
    bool valid;
  };
  __device__ Col column(int q) const {
    Col c{0, 0, 0, false};
    if (q < cols) {
      const int n = q / g.HW, hw = q - n * g.HW, h = hw / g.W, ww = hw - h * g.W;
      c = Col{n * g.T * g.HOWO, h + g.PH, ww + g.PW, true};
    }
    return c;
  }
  __device__ float a(int ch, int r) const {
    const int t = r / g.KHKW, uv = r - t * g.KHKW;
    return w[(t * g.C + ch) * g.KHKW + uv];
  }
  __device__ float b(const Col& c, int r) const {
    if (!c.valid) return 0.0f;
    const int t = r / g.KHKW, uv = r - t * g.KHKW, u = uv / g.KW, v = uv - u * g.KW;
    const int di = c.hp - u, dj = c.wp - v;
    if (di < 0 || dj < 0) return 0.0f;
    const int i = di / g.SH, j = dj / g.SW;
    if (i * g.SH != di || j * g.SW != dj || i >= g.HO || j >= g.WO) return 0.0f;
    return gy[c.gbase + (t * g.HO + i) * g.WO + j];
  }
  __device__ float context(int ch, int q) const {
    if (!ADDER) return 0.0f;
    const int n = q / g.HW, hw = q - n * g.HW;
    return x[(n * g.C + ch) * g.HW + hw];
  }
  static __device__ __forceinline__ float op(float acc, float a, float b, float xv) {
    // HardTanh(F - X) * G for the adder, F * G for the convolution.
    return ADDER ? fmaf(fminf(fmaxf(a - xv, -1.0f), 1.0f), b, acc) : fmaf(a, b, acc);
  }
  __device__ void store(int ch, int q, int, float acc) const {
    const int n = q / g.HW, hw = q - n * g.HW;
    gx[(n * g.C + ch) * g.HW + hw] = acc;
  }
};

// ---- Filter gradient partials: part[z, t, k] = sum_(p in slice z) G[t, p] Xcol[k, p] ---
struct GradFilterProb : Dims {
  Geo g;
  const float *x, *gy;
  float* part;
  struct Col {
    int xoff, u, v;
    bool valid;
  };
  __device__ Col column(int k) const {
    Col c{0, 0, 0, false};
    if (k < cols) {
      const int ch = k / g.KHKW, uv = k - ch * g.KHKW, u = uv / g.KW;
      c = Col{ch * g.HW, u, uv - u * g.KW, true};
    }
    return c;
  }
  __device__ float a(int t, int p) const {
    const int n = p / g.HOWO, q = p - n * g.HOWO;
    return gy[(n * g.T + t) * g.HOWO + q];
  }
  __device__ float b(const Col& c, int p) const {
    if (!c.valid) return 0.0f;
    const int n = p / g.HOWO, q = p - n * g.HOWO, i = q / g.WO, j = q - i * g.WO;
    const int ih = i * g.SH - g.PH + c.u, iw = j * g.SW - g.PW + c.v;
    if (unsigned(ih) >= unsigned(g.H) || unsigned(iw) >= unsigned(g.W)) return 0.0f;
    return x[n * g.C * g.HW + c.xoff + ih * g.W + iw];
  }
  __device__ float context(int, int) const { return 0.0f; }
  static __device__ __forceinline__ float op(float acc, float a, float b, float) {
    return fmaf(a, b, acc);
  }
  __device__ void store(int t, int k, int z, float acc) const {
    part[(z * g.T + t) * g.K + k] = acc;
  }
};

template <class Prob>
void launch_tiles(const Prob& prob, int splits, cudaStream_t st, const char* what) {
  const bool narrow = prob.M <= 32;  // 32-row tiles waste less on few filters/channels
  const int bm = narrow ? 32 : 64;
  const dim3 grid(unsigned(div_up(prob.cols, BN)), unsigned(div_up(prob.M, bm)), unsigned(splits));
  need(grid.y <= 65535 && grid.z <= 65535, "too many filters or channels for the CUDA kernels");
  if (narrow)
    tile_kernel<Prob, 2><<<grid, kTileThreads, 0, st>>>(prob);
  else
    tile_kernel<Prob, 4><<<grid, kTileThreads, 0, st>>>(prob);
  check_launch(what);
}

// dF[t, k] = sum_z part[z, t, k] (- F[t, k] * rowsum(G)[t] for the adder), in double.
template <bool ADDER>
__global__ void filter_grad_finish(const float* part, int splits, int T, int K, const float* w,
                                   const double* gsum, float* gw) {
  const int total = T * K;
  for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < total; e += gridDim.x * blockDim.x) {
    double s = 0.0;
    for (int z = 0; z < splits; ++z) s += part[z * total + e];
    if (ADDER) s -= double(w[e]) * gsum[e / K];
    gw[e] = float(s);
  }
}

struct GyLoad {
  const float* gy;
  __device__ Pair operator()(int i, int) const { return Pair{gy[i], 0.0}; }
};
struct BiasFinish {
  double* gsum;
  float* gb;
  __device__ void operator()(int t, Pair s) const {
    if (gsum) gsum[t] = s.a;
    if (gb) gb[t] = float(s.a);
  }
};

template <bool ADDER>
void forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
             Stream stream) {
  const Geo g = make_geo(s);
  ForwardProb<ADDER> prob;
  static_cast<Dims&>(prob) = Dims{g.T, g.P, g.K, g.K};
  prob.g = g, prob.x = x, prob.w = w, prob.bias = bias, prob.y = y;
  launch_tiles(prob, 1, raw(stream), ADDER ? "adder2d_forward" : "conv2d_forward");
}

template <bool ADDER>
void backward(const Conv2dShape& s, const float* x, const float* w, const float* gy, float* gx,
              float* gw, float* gb, Stream stream) {
  const Geo g = make_geo(s);
  const cudaStream_t st = raw(stream);
  const char* name = ADDER ? "adder2d_backward" : "conv2d_backward";

  // Filter-gradient split over positions: enough blocks to fill a large GPU,
  // slices of >= 256 positions, partials <= 2^24 floats. Shape-only choice.
  int splits = 1, r_split = g.P;
  if (gw) {
    const int64_t tiles = div_up(g.K, BN) * div_up(g.T, g.T <= 32 ? 32 : 64);
    int64_t want = div_up(1024, tiles);
    want = std::min<int64_t>(want, div_up(g.P, 256));
    want = std::min<int64_t>(want, std::max<int64_t>(1, (int64_t(1) << 24) / (int64_t(g.T) * g.K)));
    want = std::max<int64_t>(want, 1);
    r_split = int(div_up(div_up(g.P, want), BK) * BK);
    splits = int(div_up(g.P, r_split));
  }

  const bool need_gsum = gw && ADDER;
  const ChannelPlan bias_plan = plan_channels(g.N, g.T, g.HOWO);
  const size_t gsum_bytes = aligned(sizeof(double) * g.T);
  const size_t bias_part_bytes = aligned(sizeof(Pair) * size_t(bias_plan.channels) * bias_plan.splits);
  const size_t part_bytes = gw ? aligned(sizeof(float) * size_t(splits) * g.T * g.K) : 0;
  const bool bias_pass = gb || need_gsum;
  const size_t bias_bytes = bias_pass ? gsum_bytes + bias_part_bytes : 0;
  Workspace ws(bias_bytes + part_bytes, stream);
  double* gsum = need_gsum ? ws.as<double>() : nullptr;
  Pair* bias_part = bias_pass ? ws.as<Pair>(gsum_bytes) : nullptr;
  float* part = gw ? ws.as<float>(bias_bytes) : nullptr;

  if (bias_pass) channel_reduce(bias_plan, GyLoad{gy}, BiasFinish{gsum, gb}, bias_part, st, name);

  if (gw) {
    GradFilterProb prob;
    static_cast<Dims&>(prob) = Dims{g.T, g.K, g.P, r_split};
    prob.g = g, prob.x = x, prob.gy = gy, prob.part = part;
    launch_tiles(prob, splits, st, name);
    const int total = g.T * g.K;
    filter_grad_finish<ADDER><<<grid_for(total), kThreads, 0, st>>>(part, splits, g.T, g.K, w,
                                                                     gsum, gw);
    check_launch(name);
  }

  if (gx) {
    GradInputProb<ADDER> prob;
    static_cast<Dims&>(prob) = Dims{g.C, g.N * g.HW, g.T * g.KHKW, g.T * g.KHKW};
    prob.g = g, prob.x = x, prob.w = w, prob.gy = gy, prob.gx = gx;
    launch_tiles(prob, 1, st, name);
  }
  ws.release();
}

}  // namespace

void adder2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                     float* y, Stream stream) {
  forward<true>(s, x, w, bias, y, stream);
}

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y, Stream stream) {
  forward<false>(s, x, w, bias, y, stream);
}

void adder2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* gy,
                      float* gx, float* gw, float* gb, Stream stream) {
  backward<true>(s, x, w, gy, gx, gw, gb, stream);
}

void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* gy,
                     float* gx, float* gw, float* gb, Stream stream) {
  backward<false>(s, x, w, gy, gx, gw, gb, stream);
}

}  // namespace cuda
}  // namespace adn
