#include "allocator.h"

#include <cerrno>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <vector>

#include "checked_size.h"
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace adn {

namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kSmall = 4096;

int64_t physical_memory() {
#if defined(_SC_PHYS_PAGES)
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) return int64_t(pages) * int64_t(page);
#endif
  return int64_t(8) << 30;
}

std::string g_cache_warning;

// Parses "123", "64K", "512M", "2G" (case-insensitive); -1 when malformed.
int64_t parse_bytes(const char* s) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s, &end, 10);
  if (errno || end == s || v < 0) return -1;
  int shift = 0;
  if (*end == 'k' || *end == 'K') shift = 10, ++end;
  else if (*end == 'm' || *end == 'M') shift = 20, ++end;
  else if (*end == 'g' || *end == 'G') shift = 30, ++end;
  if (*end != '\0' || v > (INT64_MAX >> shift)) return -1;
  return int64_t(v) << shift;
}

int64_t default_cache_limit() {
  const int64_t quarter = physical_memory() / 4;
  const int64_t cap = int64_t(8) << 30;
  return quarter < cap ? quarter : cap;
}

}  // namespace

size_t CachingAllocator::size_class(size_t bytes) {
  if (bytes <= kSmall) return bytes <= 512 ? 512 : (bytes + 511) / 512 * 512;
  // Four classes per octave: step = 2^(floor(log2 bytes) - 2), then 4 KiB pages.
  size_t top = size_t(1) << (63 - __builtin_clzll(static_cast<unsigned long long>(bytes)));
  const size_t step = top / 4;
  const size_t rounded = checked_add(bytes, step - 1) / step * step;
  return checked_add(rounded, kSmall - 1) / kSmall * kSmall;
}

CachingAllocator::CachingAllocator(std::string device, int64_t cache_limit)
    : device_(std::move(device)), cache_limit_(cache_limit < 0 ? 0 : cache_limit) {}

CachingAllocator::~CachingAllocator() {
  // Live blocks may still be referenced by tensors the host never freed
  // (process exit): leave those; return the cache.
  empty_cache();
}

void* CachingAllocator::allocate(size_t bytes) {
  // Far above any machine's memory: refused without asking the system (whose
  // answer to 2^63 bytes may be a warning or an abort under sanitizers).
  if (bytes > (size_t(1) << 50)) throw std::bad_alloc();
  const size_t cls = size_class(bytes);
  {
    std::lock_guard<std::mutex> g(mutex_);
    auto it = free_.find(cls);
    if (it != free_.end()) {
      void* p = it->second->first;
      lru_.erase(it->second);
      free_.erase(it);
      stats_.cached_blocks -= 1;
      stats_.cached_bytes -= int64_t(cls);
      stats_.cache_hits += 1;
      live_.emplace(p, cls);
      stats_.live_blocks += 1;
      stats_.live_bytes += int64_t(cls);
      if (stats_.live_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.live_bytes;
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlignment, cls);
  if (!p) {
    empty_cache();
    p = std::aligned_alloc(kAlignment, cls);
    if (!p) throw std::bad_alloc();
  }
  std::lock_guard<std::mutex> g(mutex_);
  live_.emplace(p, cls);
  stats_.live_blocks += 1;
  stats_.live_bytes += int64_t(cls);
  stats_.system_allocations += 1;
  if (stats_.live_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.live_bytes;
  return p;
}

void CachingAllocator::release(void* ptr) {
  if (!ptr) return;
  std::lock_guard<std::mutex> g(mutex_);
  auto it = live_.find(ptr);
  if (it == live_.end()) throw std::logic_error("addernet: release of a block this allocator does not hold");
  const size_t cls = it->second;
  live_.erase(it);
  stats_.live_blocks -= 1;
  stats_.live_bytes -= int64_t(cls);
  if (int64_t(cls) > cache_limit_) {
    std::free(ptr);
    return;
  }
  lru_.emplace_back(ptr, cls);
  free_.emplace(cls, std::prev(lru_.end()));
  stats_.cached_blocks += 1;
  stats_.cached_bytes += int64_t(cls);
  trim_locked(cache_limit_);
}

size_t CachingAllocator::block_bytes(void* ptr) const {
  std::lock_guard<std::mutex> g(mutex_);
  auto it = live_.find(ptr);
  return it == live_.end() ? 0 : it->second;
}

void CachingAllocator::trim_locked(int64_t limit) {
  while (stats_.cached_bytes > limit && !lru_.empty()) {
    auto [ptr, cls] = lru_.front();
    // Find this block's entry among the class's free blocks.
    auto range = free_.equal_range(cls);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == lru_.begin()) {
        free_.erase(it);
        break;
      }
    }
    lru_.pop_front();
    std::free(ptr);
    stats_.cached_blocks -= 1;
    stats_.cached_bytes -= int64_t(cls);
  }
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> g(mutex_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> g(mutex_);
  stats_.peak_bytes = stats_.live_bytes;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> g(mutex_);
  trim_locked(0);
}

int64_t CachingAllocator::cache_limit() const {
  std::lock_guard<std::mutex> g(mutex_);
  return cache_limit_;
}

void CachingAllocator::set_cache_limit(int64_t bytes) {
  if (bytes < 0) throw std::invalid_argument("addernet: the cache limit must be >= 0 bytes");
  std::lock_guard<std::mutex> g(mutex_);
  cache_limit_ = bytes;
  trim_locked(bytes);
}

CachingAllocator& host_allocator() {
  // Never destroyed: tensors may be freed by finalisers during process exit.
  static CachingAllocator* a = [] {
    int64_t limit = default_cache_limit();
    if (const char* env = std::getenv("ADDERNET_CACHE_LIMIT")) {
      const int64_t v = parse_bytes(env);
      if (v < 0)
        g_cache_warning = std::string("ADDERNET_CACHE_LIMIT=\"") + env +
                          "\" is not a byte count (e.g. 1073741824, 512M, 2G); using " +
                          std::to_string(limit) + " bytes";
      else
        limit = v;
    }
    return new CachingAllocator("cpu", limit);
  }();
  return *a;
}

std::string cache_environment_warning() {
  host_allocator();
  return g_cache_warning;
}

}  // namespace adn
