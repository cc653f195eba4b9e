// Measured fp32 peak of this machine: FMA throughput (2 flops per lane per
// FMA) and, for the adder layers' inner loop, max+add throughput (2 ops per
// lane per pair). Built at run time by bench/suite/peak.ts with
// g++ -O3 -mavx512f -mfma (or -mavx2 -mfma, or plain SSE2 as a fallback).
//
// Usage: fma_peak THREADS [SECONDS]
// Prints one JSON line: {"isa": ..., "threads": N, "fmaGflops": X, "maxAddGops": Y}
// Each thread is pinned to core i (Linux) and runs enough independent
// accumulator chains to cover the FMA latency on every pipe.
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#if defined(__AVX512F__)
typedef __m512 vec;
static const int kLanes = 16;
static const char* kIsa = "avx512";
static inline vec vset(float v) { return _mm512_set1_ps(v); }
static inline vec vfma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
static inline vec vmax(vec a, vec b) { return _mm512_max_ps(a, b); }
static inline vec vadd(vec a, vec b) { return _mm512_add_ps(a, b); }
static inline float vsum(vec a) { return _mm512_reduce_add_ps(a); }
#elif defined(__AVX2__) && defined(__FMA__)
typedef __m256 vec;
static const int kLanes = 8;
static const char* kIsa = "avx2";
static inline vec vset(float v) { return _mm256_set1_ps(v); }
static inline vec vfma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
static inline vec vmax(vec a, vec b) { return _mm256_max_ps(a, b); }
static inline vec vadd(vec a, vec b) { return _mm256_add_ps(a, b); }
static inline float vsum(vec a) {
  float t[8];
  _mm256_storeu_ps(t, a);
  return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
#else
typedef __m128 vec;
static const int kLanes = 4;
static const char* kIsa = "sse2";
static inline vec vset(float v) { return _mm_set1_ps(v); }
static inline vec vfma(vec a, vec b, vec c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
static inline vec vmax(vec a, vec b) { return _mm_max_ps(a, b); }
static inline vec vadd(vec a, vec b) { return _mm_add_ps(a, b); }
static inline float vsum(vec a) {
  float t[4];
  _mm_storeu_ps(t, a);
  return t[0] + t[1] + t[2] + t[3];
}
#endif

// 12 independent chains: enough for 2 FMA pipes x 4-cycle latency (8) with slack.
#define CHAINS 12
static const long kInner = 1000;  // iterations per timing check

static double fma_kernel(long outer, float seed) {
  vec acc[CHAINS];
  for (int i = 0; i < CHAINS; i++) acc[i] = vset(seed + 0.001f * i);
  const vec a = vset(0.999999f), b = vset(1e-7f);
  for (long o = 0; o < outer; o++) {
    for (long i = 0; i < kInner; i++) {
#pragma GCC unroll 12
      for (int c = 0; c < CHAINS; c++) acc[c] = vfma(acc[c], a, b);
    }
    __asm__ volatile("" ::: "memory");
  }
  float s = 0;
  for (int i = 0; i < CHAINS; i++) s += vsum(acc[i]);
  return s;
}

// max + add per lane: the adder layer's inner loop (sum |x-w| = 2 sum max(x,w) - ...).
static double maxadd_kernel(long outer, float seed) {
  vec acc[CHAINS], x[CHAINS];
  for (int i = 0; i < CHAINS; i++) {
    acc[i] = vset(seed + 0.001f * i);
    x[i] = vset(-0.5f - 0.01f * i);
  }
  const vec w = vset(1e-7f);
  for (long o = 0; o < outer; o++) {
    for (long i = 0; i < kInner; i++) {
#pragma GCC unroll 12
      for (int c = 0; c < CHAINS; c++) acc[c] = vadd(vmax(acc[c], x[c]), w);
    }
    __asm__ volatile("" ::: "memory");
  }
  float s = 0;
  for (int i = 0; i < CHAINS; i++) s += vsum(acc[i]);
  return s;
}

static void pin(int core) {
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(core % (int)std::thread::hardware_concurrency(), &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
#else
  (void)core;
#endif
}

// Runs `kernel` on `threads` pinned threads for about `seconds` in kTrials
// short trials and returns the best, in G-ops/s (2 ops per lane per step):
// many short trials give a busy machine quiet moments to be measured in. A
// trial's rate is that of its slowest thread, so threads that end up sharing
// a core do not count twice.
static const int kTrials = 15;
static double measure(double (*kernel)(long, float), int threads, double seconds) {
  // Calibrate the outer count on one thread so a trial lasts seconds/5.
  long outer = 100;
  for (;;) {
    auto t0 = std::chrono::steady_clock::now();
    volatile double sink = kernel(outer, 1.0f);
    (void)sink;
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (dt > seconds / 20) {
      outer = long(outer * (seconds / kTrials) / dt) + 1;
      break;
    }
    outer *= 4;
  }
  double best = 0;
  for (int trial = 0; trial < kTrials; trial++) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<double> secs(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; t++) {
      pool.emplace_back([&, t] {
        pin(t);
        ready++;
        while (!go.load()) {
        }
        auto t0 = std::chrono::steady_clock::now();
        volatile double sink = kernel(outer, 1.0f + t);
        (void)sink;
        secs[t] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      });
    }
    while (ready.load() < threads) {
    }
    go = true;
    for (auto& th : pool) th.join();
    double slowest = 0;
    for (double s : secs) slowest = s > slowest ? s : slowest;
    const double ops = 2.0 * kLanes * CHAINS * double(kInner) * double(outer) * threads;
    const double gops = ops / slowest / 1e9;
    if (gops > best) best = gops;
  }
  return best;
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 1.0;
  if (threads < 1) return 2;
  const double fma = measure(fma_kernel, threads, seconds);
  const double maxadd = measure(maxadd_kernel, threads, seconds);
  std::printf("{\"isa\":\"%s\",\"lanes\":%d,\"threads\":%d,\"fmaGflops\":%.2f,\"maxAddGops\":%.2f}\n", kIsa, kLanes,
              threads, fma, maxadd);
  return 0;
}
