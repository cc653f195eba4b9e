// Internal helpers shared by the .cu files: error checks, launch sizes,
// stream-ordered workspaces and deterministic reductions.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "addernet_cuda.h"

namespace adn {
namespace cuda {
namespace detail {

// Throws adn::cuda::Error for anything but cudaSuccess. Clears the runtime's
// last-error slot so a later launch check does not report this failure again.
[[noreturn]] void throw_error(cudaError_t e, const std::string& what);
inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw_error(e, what);
}
inline void check(cudaError_t e, const std::string& what) {
  if (e != cudaSuccess) throw_error(e, what);
}
// After a <<<...>>> launch: configuration errors (and sticky errors of earlier
// kernels) surface here.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

inline cudaStream_t raw(Stream s) { return reinterpret_cast<cudaStream_t>(s); }

constexpr int kThreads = 256;  // block size of every 1-D kernel

inline int64_t div_up(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Grid size for a grid-stride loop over n elements.
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  const int64_t blocks = div_up(n < 1 ? 1 : n, threads);
  return unsigned(blocks < 65536 ? blocks : 65536);
}

// Throws std::invalid_argument unless v < 2^31 (32-bit index arithmetic).
inline void need_int32(double v, const char* what) {
  if (!(v < 2147483647.0))
    throw std::invalid_argument(std::string(what) +
                                " must have fewer than 2^31 elements for the CUDA kernels");
}
inline void need(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(what);
}

// A stream-ordered scratch buffer (cudaMallocAsync / cudaFreeAsync), not
// counted in memory_info(). Call release() on the normal path so a failing
// free is reported; the destructor frees quietly on the exception path.
class Workspace {
 public:
  Workspace(size_t bytes, Stream s) : stream_(raw(s)) {
    if (bytes) check(cudaMallocAsync(&ptr_, bytes, stream_), "cudaMallocAsync(workspace of " +
                                                                 std::to_string(bytes) + " bytes)");
  }
  ~Workspace() {
    if (ptr_) (void)cudaFreeAsync(ptr_, stream_), (void)cudaGetLastError();
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  template <class T>
  T* as(size_t byte_offset = 0) const {
    return reinterpret_cast<T*>(static_cast<char*>(ptr_) + byte_offset);
  }
  void release() {
    void* p = ptr_;
    ptr_ = nullptr;
    if (p) check(cudaFreeAsync(p, stream_), "cudaFreeAsync(workspace)");
  }

 private:
  void* ptr_ = nullptr;
  cudaStream_t stream_;
};

// Bytes rounded up to 256 so sub-buffers of one workspace stay aligned.
inline size_t aligned(size_t bytes) { return (bytes + 255) / 256 * 256; }

// ---- Deterministic block reduction --------------------------------------------
// Fixed-shape tree over kThreads values in shared memory: the same inputs give
// the same bits whatever the scheduling. Every thread of the block must call
// it; the result is valid in thread 0.
template <class T>
__device__ __forceinline__ T block_sum(T v, T* sh) {
  const int tid = threadIdx.x;
  sh[tid] = v;
  __syncthreads();
#pragma unroll
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (tid < s) sh[tid] += sh[tid + s];
    __syncthreads();
  }
  const T r = sh[0];
  __syncthreads();  // sh may be reused right after
  return r;
}

struct Pair {
  double a, b;
};

// ---- Per-channel reductions over a [outer, channels, inner] tensor -------------
// Sums f(index, channel) (a Pair) over outer x inner for every channel:
// block (ch, s) sums the fixed flat range [s*chunk, (s+1)*chunk) of the
// channel's outer*inner elements into part[ch * S + s]; a second kernel sums
// the S partials of each channel in order and hands them to fin(ch, sum).
struct ChannelPlan {
  int outer, channels, inner;
  int chunk, splits;  // splits * chunk >= outer * inner
};

inline ChannelPlan plan_channels(int64_t outer, int64_t channels, int64_t inner) {
  need_int32(double(outer) * channels * inner, "the tensor");
  need(channels >= 1, "a channel reduction needs at least one channel");
  ChannelPlan p{int(outer), int(channels), int(inner), 0, 0};
  const int64_t len = outer * inner;
  // At least 4096 elements per block, at most 256 blocks per channel; the
  // split depends on the shape only, never on the device.
  int64_t chunk = div_up(len, 256);
  if (chunk < 4096) chunk = 4096;
  chunk = div_up(chunk, kThreads) * kThreads;
  p.chunk = int(chunk);
  p.splits = int(len > 0 ? div_up(len, chunk) : 1);
  return p;
}

template <class F>
__global__ void __launch_bounds__(kThreads) channel_partials_kernel(F f, ChannelPlan p,
                                                                    Pair* part) {
  __shared__ double sh[kThreads];
  const int ch = blockIdx.x, s = blockIdx.y;
  const int len = p.outer * p.inner;
  const int begin = s * p.chunk;
  const int end = min(len, begin + p.chunk);
  double a = 0.0, b = 0.0;
  for (int l = begin + int(threadIdx.x); l < end; l += kThreads) {
    const int o = l / p.inner, r = l - o * p.inner;
    const Pair v = f((o * p.channels + ch) * p.inner + r, ch);
    a += v.a;
    b += v.b;
  }
  a = block_sum(a, sh);
  b = block_sum(b, sh);
  if (threadIdx.x == 0) part[ch * p.splits + s] = Pair{a, b};
}

template <class Fin>
__global__ void channel_finish_kernel(Fin fin, ChannelPlan p, const Pair* part) {
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  if (ch >= p.channels) return;
  Pair t{0.0, 0.0};
  for (int s = 0; s < p.splits; ++s) {
    t.a += part[ch * p.splits + s].a;
    t.b += part[ch * p.splits + s].b;
  }
  fin(ch, t);
}

// Runs both passes; `part` must hold channels * splits Pairs.
template <class F, class Fin>
void channel_reduce(const ChannelPlan& p, F f, Fin fin, Pair* part, cudaStream_t st,
                    const char* what) {
  channel_partials_kernel<<<dim3(unsigned(p.channels), unsigned(p.splits)), kThreads, 0, st>>>(
      f, p, part);
  check_launch(what);
  channel_finish_kernel<<<unsigned(div_up(p.channels, 128)), 128, 0, st>>>(fin, p, part);
  check_launch(what);
}

// for (int64_t i = ...; i < n; ...) over a grid-stride loop.
#define GRID_STRIDE(i, n)                                                          \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); \
       i += int64_t(gridDim.x) * blockDim.x)

}  // namespace detail
}  // namespace cuda
}  // namespace adn
