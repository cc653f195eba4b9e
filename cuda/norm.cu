// Batch norm on the GPU, mirroring cpp/norm.cc.
// Every output element is written by one thread; sums use fixed partitions
// (see common.cuh): no atomics, bitwise repeatable.
#include <cmath>

#include "common.cuh"

namespace adn {
namespace cuda {
using namespace detail;
namespace {

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

}  // namespace

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

}  // namespace cuda
}  // namespace adn
