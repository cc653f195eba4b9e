// CPU emulation of the CUDA subset used by addernet's cuda/*.cu: one std::thread
// per CUDA thread, std::barrier for __syncthreads and warp shuffles. For
// checking index logic only.
#pragma once
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <math.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
using uint3 = dim3;
extern thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

template <class T> inline T min(T a, T b) { return b < a ? b : a; }
template <class T> inline T max(T a, T b) { return a < b ? b : a; }

namespace emu {
void syncthreads();
void warp_exchange(uint64_t mine, uint64_t* all32);
void launch_impl(dim3 grid, dim3 block, std::function<void()> body);
template <class F, class... Rest>
void launch(F f, dim3 grid, dim3 block, Rest...) { launch_impl(grid, block, std::function<void()>(f)); }
extern int g_launches;
}
inline void __syncthreads() { emu::syncthreads(); }
template <class T> T __shfl_xor_sync(unsigned, T v, int off) {
  uint64_t mine = 0, all[32];
  std::memcpy(&mine, &v, sizeof(T));
  emu::warp_exchange(mine, all);
  T r;
  std::memcpy(&r, &all[(threadIdx.x % 32) ^ off], sizeof(T));
  return r;
}
template <class T> T __shfl_sync(unsigned, T v, int src) {
  uint64_t mine = 0, all[32];
  std::memcpy(&mine, &v, sizeof(T));
  emu::warp_exchange(mine, all);
  T r;
  std::memcpy(&r, &all[src], sizeof(T));
  return r;
}

// ---- runtime API subset ----
enum cudaError_t { cudaSuccess = 0, cudaErrorMemoryAllocation = 2, cudaErrorInsufficientDriver = 35, cudaErrorNoDevice = 100 };
struct CUstream_st;
typedef CUstream_st* cudaStream_t;
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
enum cudaDeviceAttr { cudaDevAttrClockRate, cudaDevAttrMemoryClockRate };
#define cudaStreamNonBlocking 1
struct cudaDeviceProp { char name[256]; int major, minor, multiProcessorCount; size_t totalGlobalMem; };
inline const char* cudaGetErrorString(cudaError_t e) { return e == cudaErrorMemoryAllocation ? "out of memory" : e ? "emulated error" : "no error"; }
inline const char* cudaGetErrorName(cudaError_t e) { return e == cudaErrorMemoryAllocation ? "cudaErrorMemoryAllocation" : "cudaErrorEmu"; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) { std::strcpy(p->name, "emulator"); p->major = 9; p->minor = 0; p->multiProcessorCount = 1; p->totalGlobalMem = 1ull << 34; return cudaSuccess; }
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) { *v = 1000; return cudaSuccess; }
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
inline cudaError_t cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
inline cudaError_t cudaRuntimeGetVersion(int* v) { *v = 13000; return cudaSuccess; }
inline cudaError_t cudaDriverGetVersion(int* v) { *v = 13000; return cudaSuccess; }
inline cudaError_t cudaMalloc(void** p, size_t n) { *p = n > (1ull << 40) ? nullptr : std::malloc(n); return *p ? cudaSuccess : cudaErrorMemoryAllocation; }
inline cudaError_t cudaFree(void* p) { std::free(p); return cudaSuccess; }
// Fill fresh scratch with NaN bytes: a kernel reading unwritten workspace shows up.
inline cudaError_t cudaMallocAsync(void** p, size_t n, cudaStream_t) { *p = std::malloc(n); if (*p) std::memset(*p, 0xFF, n); return *p ? cudaSuccess : cudaErrorMemoryAllocation; }
inline cudaError_t cudaFreeAsync(void* p, cudaStream_t) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaMemGetInfo(size_t* f, size_t* t) { *f = *t = 1ull << 34; return cudaSuccess; }
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind, cudaStream_t) { std::memmove(d, s, n); return cudaSuccess; }
inline cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t) { std::memset(d, v, n); return cudaSuccess; }
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) { *s = reinterpret_cast<cudaStream_t>(new char); return cudaSuccess; }
inline cudaError_t cudaStreamDestroy(cudaStream_t s) { delete reinterpret_cast<char*>(s); return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
