// Softmax cross-entropy on the GPU, mirroring cpp/loss.cc.
// Every output element is written by one thread; sums use fixed partitions
// (see common.cuh): no atomics, bitwise repeatable.
#include <cmath>

#include "common.cuh"

namespace adn {
namespace cuda {
using namespace detail;
namespace {

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
    // (p - 1) / n in double, rounded once, like the CPU kernel: subtracting
    // 1/n in float after rounding p/n loses the label's low bits when p is
    // near 1 (cancellation).
    const double inv_total = 1.0 / total, inv_n = 1.0 / double(n);
    for (int j = lane; j < k; j += 32) {
      const double p = exp(double(z[j]) - zmax) * inv_total;
      g[j] = float((j == label ? p - 1.0 : p) * inv_n);
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

}  // namespace

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

}  // namespace cuda
}  // namespace adn
