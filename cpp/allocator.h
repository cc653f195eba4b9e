// Caching allocator for tensor storage, one per device (issue 9), in the
// spirit of PyTorch's CUDA caching allocator: a freed block goes to a free
// list of its size class instead of back to the system, and the next request
// of that class takes it, so a training step or a forward at a steady shape
// reuses the same mapped pages without page faults or zero-filling.
//
// Size classes: up to 4 KiB a multiple of 512 bytes; above, a quarter of the
// power of two at or below the size (4 classes per octave, at most 25% slack),
// rounded to 4 KiB. Blocks are 64-byte aligned. Freed blocks stay cached up to
// cache_limit() bytes (ADDERNET_CACHE_LIMIT, default a quarter of physical
// memory, at most 8 GiB); past it the least recently freed go back to the
// system first. Thread-safe: tensors are freed by the JavaScript thread and by
// the device's executor.
#pragma once
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

namespace adn {

struct AllocatorStats {
  int64_t live_blocks = 0;    // handed out, not yet freed
  int64_t live_bytes = 0;     // their size-class bytes
  int64_t cached_blocks = 0;  // freed, kept for reuse
  int64_t cached_bytes = 0;
  int64_t peak_bytes = 0;     // most live_bytes since start or reset_peak()
  int64_t system_allocations = 0;  // blocks obtained from the system
  int64_t cache_hits = 0;          // requests served from the cache
};

class CachingAllocator {
 public:
  explicit CachingAllocator(std::string device, int64_t cache_limit);
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // A block of at least `bytes` (0 gives a valid minimal block), 64-byte
  // aligned. Throws std::bad_alloc when the system refuses, after returning
  // the cache to it and trying once more.
  void* allocate(size_t bytes);
  // Returns a block from allocate() (null is ignored).
  void release(void* ptr);
  // The size-class bytes of a live block.
  size_t block_bytes(void* ptr) const;

  AllocatorStats stats() const;
  void reset_peak();
  // Returns every cached block to the system.
  void empty_cache();
  int64_t cache_limit() const;
  void set_cache_limit(int64_t bytes);  // >= 0; trims at once
  const std::string& device() const { return device_; }

  // The size class a request falls in (exposed for tests).
  static size_t size_class(size_t bytes);

 private:
  void trim_locked(int64_t limit);
  std::string device_;
  mutable std::mutex mutex_;
  int64_t cache_limit_;
  AllocatorStats stats_;
  std::unordered_map<void*, size_t> live_;            // block -> class bytes
  std::list<std::pair<void*, size_t>> lru_;           // cached blocks, oldest first
  std::multimap<size_t, std::list<std::pair<void*, size_t>>::iterator> free_;  // class -> lru entry
};

// The host (CPU) allocator. Its cache limit comes from ADDERNET_CACHE_LIMIT
// (bytes, optionally with a K/M/G suffix) on first use.
CachingAllocator& host_allocator();
// What was wrong with ADDERNET_CACHE_LIMIT ("" when nothing).
std::string cache_environment_warning();

}  // namespace adn
