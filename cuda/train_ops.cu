// Training operations on the GPU, mirroring cpp/train_ops.cc: batch norm,
// ReLU, add, pooling, softmax cross-entropy, SGD. Every output element is
// written by one thread; sums use fixed partitions (see common.cuh) or, for
// pooling gradients, a gather in output order: no atomics anywhere.
#include <cmath>

#include "common.cuh"

namespace adn {
namespace cuda {
using namespace detail;
namespace {

#define GRID_STRIDE(i, n)                                                          \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); \
       i += int64_t(gridDim.x) * blockDim.x)

// ---- Batch norm -------------------------------------------------------------------

struct XLoad {
  const float* x;
  __device__ Pair operator()(int i, int) const { return Pair{x[i], 0.0}; }
};
struct MeanFinish {
  double m;
  double* mean;
  __device__ void operator()(int ch, Pair s) const { mean[ch] = s.a / m; }
};
struct SqDevLoad {
  const float* x;
  const double* mean;
  __device__ Pair operator()(int i, int ch) const {
    const double d = x[i] - mean[ch];
    return Pair{d * d, 0.0};
  }
};
struct VarFinish {
  double m, momentum, eps;
  const double* mean;
  double* invstd;
  float *running_mean, *running_var, *save_mean, *save_invstd;
  __device__ void operator()(int ch, Pair s) const {
    const double var = s.a / m;  // biased: what the batch is normalised with
    const double is = 1.0 / sqrt(var + eps);
    running_mean[ch] = float((1.0 - momentum) * running_mean[ch] + momentum * mean[ch]);
    running_var[ch] = float((1.0 - momentum) * running_var[ch] + momentum * (s.a / (m - 1.0)));
    save_mean[ch] = float(mean[ch]);
    save_invstd[ch] = float(is);
    invstd[ch] = is;
  }
};

__global__ void bn_eval_stats(int c, const float* running_mean, const float* running_var,
                              double eps, double* mean, double* invstd, float* save_mean,
                              float* save_invstd) {
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  if (ch >= c) return;
  mean[ch] = running_mean[ch];
  invstd[ch] = 1.0 / sqrt(double(running_var[ch]) + eps);
  save_mean[ch] = float(mean[ch]);
  save_invstd[ch] = float(invstd[ch]);
}

__global__ void bn_apply(int total, int c, int hw, const float* x, const float* gamma,
                         const float* beta, const double* mean, const double* invstd, float* y) {
  GRID_STRIDE(e, total) {
    const int ch = int(e / hw) % c;
    // (x - mean) first, as the CPU code does.
    const float mf = float(mean[ch]), scale = float(gamma[ch] * invstd[ch]);
    y[e] = (x[e] - mf) * scale + beta[ch];
  }
}

struct GradLoad {
  const float *g, *x, *save_mean;
  __device__ Pair operator()(int i, int ch) const {
    const double mean = save_mean[ch];
    return Pair{g[i], double(g[i]) * (x[i] - mean)};
  }
};
struct Coef {
  float k, mean, mean_g, slope;
};
struct BnBackFinish {
  double m;
  const float *gamma, *save_mean, *save_invstd;
  float *grad_gamma, *grad_beta;
  Coef* coef;
  __device__ void operator()(int ch, Pair s) const {
    const double invstd = save_invstd[ch];
    if (grad_beta) grad_beta[ch] = float(s.a);
    if (grad_gamma) grad_gamma[ch] = float(s.b * invstd);
    if (coef)
      coef[ch] = Coef{float(gamma[ch] * invstd), save_mean[ch], float(s.a / m),
                      float(s.b * invstd * invstd / m)};
  }
};

__global__ void bn_backward_apply(int total, int c, int hw, const float* x, const float* g,
                                  const Coef* coef, float* gx) {
  GRID_STRIDE(e, total) {
    const Coef k = coef[int(e / hw) % c];
    // gx = gamma * invstd * (gy - mean(gy) - xhat * mean(gy * xhat))
    gx[e] = k.k * (g[e] - k.mean_g - (x[e] - k.mean) * k.slope);
  }
}

// ---- Element-wise -----------------------------------------------------------------

__global__ void relu_fwd(const float* x, float* y, int64_t n) {
  GRID_STRIDE(i, n) y[i] = x[i] < 0.0f ? 0.0f : x[i];  // keeps NaN, like torch.relu
}
__global__ void relu_bwd(const float* y, const float* g, float* gx, int64_t n) {
  GRID_STRIDE(i, n) gx[i] = y[i] > 0.0f ? g[i] : 0.0f;
}
__global__ void add_kernel(const float* a, const float* b, float* out, int64_t n) {
  GRID_STRIDE(i, n) out[i] = a[i] + b[i];
}

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

// ---- Softmax cross-entropy ----------------------------------------------------------

// *bad = the first row with a label outside [0, k), or n. One block: a
// deterministic min, no atomics.
__global__ void __launch_bounds__(kThreads)
    ce_check_labels(const int32_t* labels, int n, int k, int* bad) {
  __shared__ int sh[kThreads];
  int first = n;
  for (int r = threadIdx.x; r < n; r += kThreads)
    if ((labels[r] < 0 || labels[r] >= k) && r < first) first = r;
  sh[threadIdx.x] = first;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) sh[threadIdx.x] = min(sh[threadIdx.x], sh[threadIdx.x + s]);
    __syncthreads();
  }
  if (threadIdx.x == 0) *bad = sh[0];
}

// One warp per row.
__global__ void ce_rows(const float* logits, const int32_t* labels, int n, int k, const int* bad,
                        float* grad, double* row_loss, int* row_hit) {
  if (*bad < n) return;  // an invalid label: write nothing
  const int r = int((blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32);
  const int lane = threadIdx.x % 32;
  if (r >= n) return;  // whole warps leave together
  const float* z = logits + int64_t(r) * k;
  // First maximal logit: lanes scan their columns in order, then merge
  // (larger value, or equal value and smaller index).
  float best = 0.0f;
  int top = -1;
  for (int j = lane; j < k; j += 32) {
    const float v = z[j];
    if (top < 0 || v > best) best = v, top = j;
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const float ob = __shfl_xor_sync(0xffffffffu, best, off);
    const int ot = __shfl_xor_sync(0xffffffffu, top, off);
    if (ot >= 0 && (top < 0 || ob > best || (ob == best && ot < top))) best = ob, top = ot;
  }
  best = __shfl_sync(0xffffffffu, best, 0);
  top = __shfl_sync(0xffffffffu, top, 0);
  const double zmax = best;
  double total = 0.0;  // log-sum-exp shifted by the max: no overflow
  for (int j = lane; j < k; j += 32) total += exp(double(z[j]) - zmax);
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) total += __shfl_xor_sync(0xffffffffu, total, off);
  const int label = labels[r];
  if (lane == 0) {
    row_loss[r] = zmax + log(total) - double(z[label]);
    row_hit[r] = top == label;
  }
  if (grad) {
    float* g = grad + int64_t(r) * k;
    const double inv = 1.0 / (total * double(n));
    const float one_over_n = float(1.0 / double(n));
    for (int j = lane; j < k; j += 32) {
      float v = float(exp(double(z[j]) - zmax) * inv);
      if (j == label) v -= one_over_n;
      g[j] = v;
    }
  }
}

__global__ void __launch_bounds__(kThreads)
    ce_finish(const double* row_loss, const int* row_hit, int n, const int* bad, LossOut* out) {
  __shared__ double shd[kThreads];
  __shared__ long long shl[kThreads];
  if (*bad < n) {
    if (threadIdx.x == 0) {
      out->loss = NAN;
      out->correct = 0;
      out->invalid_label_row = *bad;
    }
    return;  // uniform across the block
  }
  double loss = 0.0;
  long long hits = 0;
  for (int r = threadIdx.x; r < n; r += kThreads) {
    loss += row_loss[r];
    hits += row_hit[r];
  }
  loss = block_sum(loss, shd);
  hits = block_sum(hits, shl);
  if (threadIdx.x == 0) {
    out->loss = loss / double(n);
    out->correct = hits;
    out->invalid_label_row = -1;
  }
}

// ---- SGD ----------------------------------------------------------------------------

__global__ void sgd_kernel(int64_t n, float* param, const float* grad, float* buf, float wd,
                           float mom, float keep, float neg_lr, bool use_wd, bool use_mom,
                           bool nesterov, bool first_step) {
  GRID_STRIDE(i, n) {
    float d = grad[i];
    if (use_wd) d = d + wd * param[i];
    if (use_mom) {
      const float b = first_step ? d : mom * buf[i] + keep * d;
      buf[i] = b;
      d = nesterov ? d + mom * b : b;
    }
    param[i] = param[i] + neg_lr * d;
  }
}

}  // namespace

// ---- Host entry points ---------------------------------------------------------------

void batch_norm_forward(int64_t n, int64_t c, int64_t hw, const float* x, const float* gamma,
                        const float* beta, float* running_mean, float* running_var,
                        bool training, double momentum, double eps, float* y, float* save_mean,
                        float* save_invstd, Stream stream) {
  need(n >= 0 && c >= 0 && hw >= 0, "batch norm dimensions must be >= 0");
  const int64_t m = n * hw;
  if (training && m < 2)
    throw std::invalid_argument("batch norm in training needs more than 1 value per channel");
  if (c == 0) return;
  const ChannelPlan plan = plan_channels(n, c, hw);
  const cudaStream_t st = raw(stream);
  const size_t stat_bytes = aligned(sizeof(double) * size_t(c));
  Workspace ws(2 * stat_bytes + (training ? sizeof(Pair) * size_t(c) * plan.splits : 0), stream);
  double* mean = ws.as<double>();
  double* invstd = ws.as<double>(stat_bytes);
  if (training) {
    Pair* part = ws.as<Pair>(2 * stat_bytes);
    channel_reduce(plan, XLoad{x}, MeanFinish{double(m), mean}, part, st, "batch_norm_forward");
    channel_reduce(plan, SqDevLoad{x, mean},
                   VarFinish{double(m), momentum, eps, mean, invstd, running_mean, running_var,
                             save_mean, save_invstd},
                   part, st, "batch_norm_forward");
  } else {
    bn_eval_stats<<<unsigned(div_up(c, 128)), 128, 0, st>>>(int(c), running_mean, running_var, eps,
                                                           mean, invstd, save_mean, save_invstd);
    check_launch("batch_norm_forward");
  }
  const int total = int(n * c * hw);
  if (total > 0) {
    bn_apply<<<grid_for(total), kThreads, 0, st>>>(total, int(c), int(hw), x, gamma, beta, mean,
                                                   invstd, y);
    check_launch("batch_norm_forward");
  }
  ws.release();
}

void batch_norm_backward(int64_t n, int64_t c, int64_t hw, const float* x, const float* gamma,
                         const float* grad_out, const float* save_mean,
                         const float* save_invstd, float* grad_in, float* grad_gamma,
                         float* grad_beta, Stream stream) {
  need(n >= 0 && c >= 0 && hw >= 0, "batch norm dimensions must be >= 0");
  if (c == 0) return;
  const ChannelPlan plan = plan_channels(n, c, hw);
  const cudaStream_t st = raw(stream);
  const size_t coef_bytes = aligned(sizeof(Coef) * size_t(c));
  Workspace ws(coef_bytes + sizeof(Pair) * size_t(c) * plan.splits, stream);
  Coef* coef = grad_in ? ws.as<Coef>() : nullptr;
  Pair* part = ws.as<Pair>(coef_bytes);
  channel_reduce(plan, GradLoad{grad_out, x, save_mean},
                 BnBackFinish{double(n * hw), gamma, save_mean, save_invstd, grad_gamma,
                              grad_beta, coef},
                 part, st, "batch_norm_backward");
  const int total = int(n * c * hw);
  if (grad_in && total > 0) {
    bn_backward_apply<<<grid_for(total), kThreads, 0, st>>>(total, int(c), int(hw), x, grad_out,
                                                            coef, grad_in);
    check_launch("batch_norm_backward");
  }
  ws.release();
}

void relu_forward(const float* x, float* y, int64_t n, Stream stream) {
  need(n >= 0, "relu_forward: n must be >= 0");
  if (n == 0) return;
  relu_fwd<<<grid_for(n), kThreads, 0, raw(stream)>>>(x, y, n);
  check_launch("relu_forward");
}

void relu_backward(const float* y_or_x, const float* grad_out, float* grad_in, int64_t n,
                   Stream stream) {
  need(n >= 0, "relu_backward: n must be >= 0");
  if (n == 0) return;
  relu_bwd<<<grid_for(n), kThreads, 0, raw(stream)>>>(y_or_x, grad_out, grad_in, n);
  check_launch("relu_backward");
}

void add(const float* a, const float* b, float* out, int64_t n, Stream stream) {
  need(n >= 0, "add: n must be >= 0");
  if (n == 0) return;
  add_kernel<<<grid_for(n), kThreads, 0, raw(stream)>>>(a, b, out, n);
  check_launch("add");
}

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

void softmax_cross_entropy(int64_t n, int64_t k, const float* logits, const int32_t* labels,
                           float* grad_logits, LossOut* result, Stream stream) {
  need(n >= 1 && k >= 1, "softmax cross-entropy needs n >= 1 and k >= 1");
  need(result != nullptr, "softmax cross-entropy needs a result pointer");
  need_int32(double(n) * k, "the logits");
  need(double(n) * 32 < 2147483647.0, "too many rows for the CUDA softmax cross-entropy");
  const cudaStream_t st = raw(stream);
  const size_t loss_bytes = aligned(sizeof(double) * size_t(n));
  const size_t hit_bytes = aligned(sizeof(int) * size_t(n));
  Workspace ws(loss_bytes + hit_bytes + sizeof(int), stream);
  double* row_loss = ws.as<double>();
  int* row_hit = ws.as<int>(loss_bytes);
  int* bad = ws.as<int>(loss_bytes + hit_bytes);
  ce_check_labels<<<1, kThreads, 0, st>>>(labels, int(n), int(k), bad);
  check_launch("softmax_cross_entropy");
  ce_rows<<<unsigned(div_up(n * 32, kThreads)), kThreads, 0, st>>>(
      logits, labels, int(n), int(k), bad, grad_logits, row_loss, row_hit);
  check_launch("softmax_cross_entropy");
  ce_finish<<<1, kThreads, 0, st>>>(row_loss, row_hit, int(n), bad, result);
  check_launch("softmax_cross_entropy");
  ws.release();
}

LossResult softmax_cross_entropy_sync(int64_t n, int64_t k, const float* logits,
                                      const int32_t* labels, float* grad_logits, Stream stream) {
  need(n >= 1 && k >= 1, "softmax cross-entropy needs n >= 1 and k >= 1");
  Workspace ws(sizeof(LossOut), stream);
  softmax_cross_entropy(n, k, logits, labels, grad_logits, ws.as<LossOut>(), stream);
  LossOut h{};
  copy_to_host(&h, ws.as<LossOut>(), sizeof h, stream);
  ws.release();
  synchronize(stream);
  if (h.invalid_label_row >= 0) {
    int32_t label = 0;
    copy_to_host(&label, labels + h.invalid_label_row, sizeof label, stream);
    synchronize(stream);
    throw std::invalid_argument("label " + std::to_string(label) + " at index " +
                                std::to_string(h.invalid_label_row) + " is outside [0, " +
                                std::to_string(k) + ")");
  }
  return LossResult{h.loss, h.correct};
}

void sgd_update(int64_t n, float* param, const float* grad, float* momentum_buf, double lr,
                double momentum, double dampening, double weight_decay, bool nesterov,
                bool first_step, Stream stream) {
  need(n >= 0, "sgd_update: n must be >= 0");
  if (momentum != 0.0 && !momentum_buf)
    throw std::invalid_argument("SGD with momentum needs a momentum buffer");
  if (n == 0) return;
  // The scalars are rounded to float once, as the CPU version (and ATen) does.
  sgd_kernel<<<grid_for(n), kThreads, 0, raw(stream)>>>(
      n, param, grad, momentum_buf, float(weight_decay), float(momentum), float(1.0 - dampening),
      float(-lr), weight_decay != 0.0, momentum != 0.0, nesterov, first_step);
  check_launch("sgd_update");
}

}  // namespace cuda
}  // namespace adn
