// Device management, memory with accounting, copies and streams.
#include <mutex>
#include <unordered_map>

#include "common.cuh"

namespace adn {
namespace cuda {
namespace detail {

void throw_error(cudaError_t e, const std::string& what) {
  (void)cudaGetLastError();  // clear the (non-sticky) error slot
  throw Error(int(e), "CUDA error in " + what + ": " + cudaGetErrorString(e) + " (" +
                          cudaGetErrorName(e) + ", " + std::to_string(int(e)) + ")");
}

}  // namespace detail

using detail::check;
using detail::raw;

// ---- Devices -------------------------------------------------------------------

namespace {
// cudaGetDeviceCount without throwing: no device, no driver and an old driver
// all come back as an error code (with the static runtime the addon loads on
// machines without libcuda and lands here).
cudaError_t count_devices(int& n) {
  n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    n = 0;
  }
  return e;
}
}  // namespace

bool available() {
  int n;
  return count_devices(n) == cudaSuccess && n > 0;
}

std::string unavailable_reason() {
  int n;
  const cudaError_t e = count_devices(n);
  if (e != cudaSuccess)
    return std::string(cudaGetErrorString(e)) + " (" + cudaGetErrorName(e) + ")";
  return n > 0 ? "" : "no CUDA device";
}

int device_count() {
  int n;
  count_devices(n);
  return n;
}

DeviceInfo device_info(int device) {
  cudaDeviceProp p;
  check(cudaGetDeviceProperties(&p, device),
        "cudaGetDeviceProperties(" + std::to_string(device) + ")");
  DeviceInfo d;
  d.name = p.name;
  d.major = p.major;
  d.minor = p.minor;
  d.multiprocessors = p.multiProcessorCount;
  d.total_memory = p.totalGlobalMem;
  check(cudaDeviceGetAttribute(&d.clock_khz, cudaDevAttrClockRate, device),
        "cudaDeviceGetAttribute(clock rate)");
  check(cudaDeviceGetAttribute(&d.memory_clock_khz, cudaDevAttrMemoryClockRate, device),
        "cudaDeviceGetAttribute(memory clock rate)");
  return d;
}

void set_device(int device) {
  check(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")");
}

int current_device() {
  int d = 0;
  check(cudaGetDevice(&d), "cudaGetDevice");
  return d;
}

int runtime_version() {
  int v = 0;
  check(cudaRuntimeGetVersion(&v), "cudaRuntimeGetVersion");
  return v;
}

int driver_version() {
  int v = 0;
  if (cudaDriverGetVersion(&v) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return v;
}

// ---- Memory --------------------------------------------------------------------

namespace {
struct Ledger {
  std::mutex mu;
  std::unordered_map<void*, size_t> sizes;
  size_t live = 0, peak = 0;
};
Ledger& ledger() {
  static Ledger* l = new Ledger;  // never destroyed: safe in late finalisers
  return *l;
}
}  // namespace

void* alloc(size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  check(cudaMalloc(&p, bytes), "cudaMalloc(" + std::to_string(bytes) + " bytes)");
  Ledger& l = ledger();
  std::lock_guard<std::mutex> lock(l.mu);
  l.sizes.emplace(p, bytes);
  l.live += bytes;
  if (l.live > l.peak) l.peak = l.live;
  return p;
}

void dealloc(void* p) {
  if (!p) return;
  Ledger& l = ledger();
  size_t bytes;
  {
    std::lock_guard<std::mutex> lock(l.mu);
    auto it = l.sizes.find(p);
    if (it == l.sizes.end())
      throw std::invalid_argument("adn::cuda::dealloc: pointer was not allocated by adn::cuda::alloc");
    bytes = it->second;
    l.sizes.erase(it);
    l.live -= bytes;
  }
  check(cudaFree(p), "cudaFree(" + std::to_string(bytes) + " bytes)");
}

MemoryInfo memory_info() {
  MemoryInfo m;
  {
    Ledger& l = ledger();
    std::lock_guard<std::mutex> lock(l.mu);
    m.live_bytes = l.live;
    m.live_allocations = l.sizes.size();
    m.peak_bytes = l.peak;
  }
  if (available()) {
    size_t f = 0, t = 0;
    if (cudaMemGetInfo(&f, &t) == cudaSuccess) {
      m.device_free = f;
      m.device_total = t;
    } else {
      (void)cudaGetLastError();
    }
  }
  return m;
}

void copy_to_device(void* dst, const void* src, size_t bytes, Stream stream) {
  if (bytes)
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, raw(stream)),
          "cudaMemcpyAsync(host to device, " + std::to_string(bytes) + " bytes)");
}

void copy_to_host(void* dst, const void* src, size_t bytes, Stream stream) {
  if (bytes)
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, raw(stream)),
          "cudaMemcpyAsync(device to host, " + std::to_string(bytes) + " bytes)");
}

void copy_device(void* dst, const void* src, size_t bytes, Stream stream) {
  if (bytes)
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, raw(stream)),
          "cudaMemcpyAsync(device to device, " + std::to_string(bytes) + " bytes)");
}

void fill_bytes(void* dst, int value, size_t bytes, Stream stream) {
  if (bytes)
    check(cudaMemsetAsync(dst, value, bytes, raw(stream)),
          "cudaMemsetAsync(" + std::to_string(bytes) + " bytes)");
}

Stream create_stream() {
  cudaStream_t s = nullptr;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  return reinterpret_cast<Stream>(s);
}

void destroy_stream(Stream stream) {
  if (stream) check(cudaStreamDestroy(raw(stream)), "cudaStreamDestroy");
}

void synchronize(Stream stream) {
  check(cudaStreamSynchronize(raw(stream)), "cudaStreamSynchronize");
}

void synchronize_device() { check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

}  // namespace cuda
}  // namespace adn
