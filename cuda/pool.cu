// Pooling on the GPU, mirroring cpp/pool.cc. Gradients gather in output
// order (each input element sums the windows covering it): no atomics.
#include "common.cuh"

namespace adn {
namespace cuda {
using namespace detail;
namespace {

// ---- Pooling ----------------------------------------------------------------------

struct PoolGeo {
  int H, W, KH, KW, SH, SW, PH, PW, HO, WO, in_plane, out_plane;
};

PoolGeo make_pool_geo(const Pool2dShape& s) {
  s.validate();
  need_int32(double(s.input_size()), "the pooling input");
  need_int32(double(s.output_size()), "the pooling output");
  need(double(s.h) + 2.0 * double(s.ph) < 2147483647.0 &&
           double(s.w) + 2.0 * double(s.pw) < 2147483647.0,
       "padded pooling input too large for the CUDA kernels");
  return PoolGeo{int(s.h),  int(s.w),  int(s.kh),   int(s.kw),   int(s.sh),
                 int(s.sw), int(s.ph), int(s.pw),   int(s.ho()), int(s.wo()),
                 int(s.h * s.w), int(s.ho() * s.wo())};
}

// Input rows [lo, hi) that output row `o` covers, padding dropped.
__device__ __forceinline__ void span(int o, int stride, int pad, int kernel, int size, int& lo,
                                     int& hi) {
  const int start = o * stride - pad;
  lo = max(start, 0);
  hi = min(start + kernel, size);
}

// Output rows [lo, hi] whose window covers input row `i`.
__device__ __forceinline__ void covering(int i, int stride, int pad, int kernel, int outs, int& lo,
                                         int& hi) {
  const int first = i + pad - kernel + 1;  // o * stride >= first
  lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  hi = min((i + pad) / stride, outs - 1);
}

__global__ void max_pool_fwd(int total, PoolGeo g, const float* x, float* y, int32_t* argmax) {
  GRID_STRIDE(e64, total) {
    const int e = int(e64), p = e / g.out_plane, o = e - p * g.out_plane;
    const int oh = o / g.WO, ow = o - oh * g.WO;
    int r0, r1, c0, c1;
    span(oh, g.SH, g.PH, g.KH, g.H, r0, r1);
    span(ow, g.SW, g.PW, g.KW, g.W, c0, c1);
    const float* xp = x + p * g.in_plane;
    // PyTorch's scan: first strict maximum wins, NaN always wins, and an all
    // -inf window points at its first element.
    float best = -INFINITY;
    int at = r0 * g.W + c0;
    for (int ih = r0; ih < r1; ++ih)
      for (int iw = c0; iw < c1; ++iw) {
        const float v = xp[ih * g.W + iw];
        if (v > best || v != v) {
          best = v;
          at = ih * g.W + iw;
        }
      }
    y[e] = best;
    argmax[e] = at;
  }
}

// Gather: each input element adds, in output order, the gradients of the
// windows covering it whose argmax is this element (the CPU scatter's order).
__global__ void max_pool_bwd(int total, PoolGeo g, const float* go, const int32_t* argmax,
                             float* gi) {
  GRID_STRIDE(e64, total) {
    const int e = int(e64), p = e / g.in_plane, idx = e - p * g.in_plane;
    const int ih = idx / g.W, iw = idx - ih * g.W;
    int oh0, oh1, ow0, ow1;
    covering(ih, g.SH, g.PH, g.KH, g.HO, oh0, oh1);
    covering(iw, g.SW, g.PW, g.KW, g.WO, ow0, ow1);
    const int base = p * g.out_plane;
    float acc = 0.0f;
    for (int oh = oh0; oh <= oh1; ++oh)
      for (int ow = ow0; ow <= ow1; ++ow) {
        const int o = base + oh * g.WO + ow;
        if (argmax[o] == idx) acc += go[o];
      }
    gi[e] = acc;
  }
}

__global__ void avg_pool_fwd(int total, PoolGeo g, const float* x, float* y) {
  GRID_STRIDE(e64, total) {
    const int e = int(e64), p = e / g.out_plane, o = e - p * g.out_plane;
    const int oh = o / g.WO, ow = o - oh * g.WO;
    int r0, r1, c0, c1;
    span(oh, g.SH, g.PH, g.KH, g.H, r0, r1);
    span(ow, g.SW, g.PW, g.KW, g.W, c0, c1);
    const float* xp = x + p * g.in_plane;
    double acc = 0.0;
    for (int ih = r0; ih < r1; ++ih)
      for (int iw = c0; iw < c1; ++iw) acc += xp[ih * g.W + iw];
    y[e] = float(acc / double(g.KH * g.KW));  // count_include_pad: padding counts
  }
}

__global__ void avg_pool_bwd(int total, PoolGeo g, const float* go, float* gi) {
  GRID_STRIDE(e64, total) {
    const int e = int(e64), p = e / g.in_plane, idx = e - p * g.in_plane;
    const int ih = idx / g.W, iw = idx - ih * g.W;
    int oh0, oh1, ow0, ow1;
    covering(ih, g.SH, g.PH, g.KH, g.HO, oh0, oh1);
    covering(iw, g.SW, g.PW, g.KW, g.WO, ow0, ow1);
    const float area = float(g.KH * g.KW);
    const float* gp = go + p * g.out_plane;
    float acc = 0.0f;
    for (int oh = oh0; oh <= oh1; ++oh)
      for (int ow = ow0; ow <= ow1; ++ow) acc += gp[oh * g.WO + ow] / area;
    gi[e] = acc;
  }
}

// One warp per plane; lanes sum a fixed strided subset, then a butterfly.
__global__ void global_avg_fwd(int planes, int plane, const float* x, float* y) {
  const int warp = int((blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32);
  const int lane = threadIdx.x % 32;
  if (warp >= planes) return;  // whole warps leave together
  const float* xp = x + int64_t(warp) * plane;
  double acc = 0.0;
  for (int i = lane; i < plane; i += 32) acc += xp[i];
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
  if (lane == 0) y[warp] = float(acc / double(plane));
}

__global__ void global_avg_bwd(int total, int plane, const float* go, float* gi) {
  GRID_STRIDE(e, total) gi[e] = go[int(e) / plane] / float(plane);
}

}  // namespace

void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax,
                        Stream stream) {
  const PoolGeo g = make_pool_geo(s);
  const int total = int(s.output_size());
  max_pool_fwd<<<grid_for(total), kThreads, 0, raw(stream)>>>(total, g, x, y, argmax);
  check_launch("max_pool2d_forward");
}

void max_pool2d_backward(const Pool2dShape& s, const float* grad_out, const int32_t* argmax,
                         float* grad_in, Stream stream) {
  const PoolGeo g = make_pool_geo(s);
  const int total = int(s.input_size());
  max_pool_bwd<<<grid_for(total), kThreads, 0, raw(stream)>>>(total, g, grad_out, argmax,
                                                             grad_in);
  check_launch("max_pool2d_backward");
}

void avg_pool2d_forward(const Pool2dShape& s, const float* x, float* y, Stream stream) {
  const PoolGeo g = make_pool_geo(s);
  const int total = int(s.output_size());
  avg_pool_fwd<<<grid_for(total), kThreads, 0, raw(stream)>>>(total, g, x, y);
  check_launch("avg_pool2d_forward");
}

void avg_pool2d_backward(const Pool2dShape& s, const float* grad_out, float* grad_in,
                         Stream stream) {
  const PoolGeo g = make_pool_geo(s);
  const int total = int(s.input_size());
  avg_pool_bwd<<<grid_for(total), kThreads, 0, raw(stream)>>>(total, g, grad_out, grad_in);
  check_launch("avg_pool2d_backward");
}

void global_avg_pool_forward(int64_t planes, int64_t plane, const float* x, float* y,
                             Stream stream) {
  need(planes >= 1 && plane >= 1, "global_avg_pool_forward: planes and plane must be >= 1");
  need_int32(double(planes) * plane, "the pooling input");
  const int64_t threads = planes * 32;
  global_avg_fwd<<<unsigned(div_up(threads, kThreads)), kThreads, 0, raw(stream)>>>(
      int(planes), int(plane), x, y);
  check_launch("global_avg_pool_forward");
}

void global_avg_pool_backward(int64_t planes, int64_t plane, const float* grad_out,
                              float* grad_in, Stream stream) {
  need(planes >= 1 && plane >= 1, "global_avg_pool_backward: planes and plane must be >= 1");
  need_int32(double(planes) * plane, "the pooling input");
  const int total = int(planes * plane);
  global_avg_bwd<<<grid_for(total), kThreads, 0, raw(stream)>>>(total, int(plane), grad_out,
                                                               grad_in);
  check_launch("global_avg_pool_backward");
}

}  // namespace cuda
}  // namespace adn
