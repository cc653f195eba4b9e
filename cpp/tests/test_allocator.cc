// Native tests for the caching allocator (issue 9): size classes, reuse from
// the cache, the cache limit and LRU trimming, statistics, alignment,
// overflowing requests, and concurrent use from several threads.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "allocator.h"
#include "check.h"

using adn::CachingAllocator;

static void test_size_classes() {
  expect_true(CachingAllocator::size_class(0) == 512, "0 bytes -> 512");
  expect_true(CachingAllocator::size_class(1) == 512, "1 byte -> 512");
  expect_true(CachingAllocator::size_class(512) == 512, "512 -> 512");
  expect_true(CachingAllocator::size_class(513) == 1024, "513 -> 1024");
  expect_true(CachingAllocator::size_class(4096) == 4096, "4096 -> 4096");
  expect_true(CachingAllocator::size_class(4097) == 8192, "4097 -> 8192 (a page)");
  // Every class holds the request with at most 25% slack above 4 KiB, and classes are monotone.
  size_t prev = 0;
  for (size_t b = 1; b < (size_t(1) << 34); b = b * 3 / 2 + 7) {
    const size_t c = CachingAllocator::size_class(b);
    expect_true(c >= b, "class holds the request: " + std::to_string(b));
    if (b > 4096) expect_true(c <= b + b / 4 + 4096, "slack at most 25%: " + std::to_string(b));
    expect_true(c >= prev, "monotone at " + std::to_string(b));
    expect_true(c % 512 == 0, "multiple of 512: " + std::to_string(b));
    prev = c;
  }
  bool threw = false;
  try {
    CachingAllocator::size_class(SIZE_MAX - 10);
  } catch (const std::length_error&) {
    threw = true;
  }
  expect_true(threw, "a request near SIZE_MAX is refused, not wrapped");
}

static void test_reuse_and_stats() {
  CachingAllocator a("test", int64_t(64) << 20);
  void* p = a.allocate(1000);
  expect_true(p != nullptr && reinterpret_cast<uintptr_t>(p) % 64 == 0, "64-byte aligned");
  std::memset(p, 0xab, 1000);  // writable for its whole size (ASan checks this)
  auto s = a.stats();
  expect_true(s.live_blocks == 1 && s.live_bytes == 1024 && s.cached_bytes == 0, "one live block of class 1024");
  a.release(p);
  s = a.stats();
  expect_true(s.live_blocks == 0 && s.cached_blocks == 1 && s.cached_bytes == 1024, "freed into the cache");
  void* q = a.allocate(900);  // same class
  expect_true(q == p, "the same class reuses the cached block");
  s = a.stats();
  expect_true(s.cache_hits == 1 && s.system_allocations == 1, "one hit, one system allocation");
  void* r = a.allocate(5000);  // another class
  expect_true(r != q, "another class is a new block");
  expect_true(a.block_bytes(r) == CachingAllocator::size_class(5000), "block_bytes reports the class");
  s = a.stats();
  expect_true(s.peak_bytes == s.live_bytes && s.live_blocks == 2, "peak tracks live bytes");
  a.release(q);
  a.release(r);
  a.release(nullptr);
  s = a.stats();
  expect_true(s.live_bytes == 0 && s.peak_bytes == int64_t(1024 + CachingAllocator::size_class(5000)), "peak kept after frees");
  a.reset_peak();
  expect_true(a.stats().peak_bytes == 0, "reset_peak");
  a.empty_cache();
  s = a.stats();
  expect_true(s.cached_blocks == 0 && s.cached_bytes == 0, "empty_cache returns everything");
  bool threw = false;
  try {
    int x;
    a.release(&x);
  } catch (const std::logic_error&) {
    threw = true;
  }
  expect_true(threw, "releasing a foreign pointer is refused");
}

static void test_cache_limit() {
  CachingAllocator a("test", 3 * 4096);
  std::vector<void*> blocks;
  for (int i = 0; i < 5; ++i) blocks.push_back(a.allocate(4096));
  for (void* b : blocks) a.release(b);
  auto s = a.stats();
  expect_true(s.cached_bytes == 3 * 4096 && s.cached_blocks == 3, "cache trimmed to its limit");
  // The most recently freed stay: blocks[2..4].
  void* again = a.allocate(4096);
  expect_true(again == blocks[2] || again == blocks[3] || again == blocks[4], "the newest freed blocks were kept");
  a.release(again);
  void* big = a.allocate(1 << 20);
  a.release(big);
  expect_true(a.stats().cached_bytes <= 3 * 4096, "a block above the limit is not cached");
  a.set_cache_limit(0);
  expect_true(a.stats().cached_bytes == 0, "set_cache_limit(0) trims at once");
  bool threw = false;
  try {
    a.set_cache_limit(-1);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  expect_true(threw, "a negative limit is refused");
}

static void test_refusals() {
  CachingAllocator a("test", 1 << 20);
  bool threw = false;
  try {
    a.allocate(SIZE_MAX / 2);
  } catch (const std::bad_alloc&) {
    threw = true;
  } catch (const std::length_error&) {
    threw = true;
  }
  expect_true(threw, "an impossible request throws, never returns a short block");
  expect_true(a.stats().live_blocks == 0, "nothing live after a refused request");
}

static void test_threads() {
  CachingAllocator a("test", int64_t(16) << 20);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&a, t] {
      std::vector<void*> mine;
      for (int i = 0; i < 2000; ++i) {
        mine.push_back(a.allocate(size_t(64 + (i * 37 + t) % 20000)));
        if (mine.size() > 8) {
          a.release(mine.front());
          mine.erase(mine.begin());
        }
      }
      for (void* p : mine) a.release(p);
    });
  }
  for (auto& t : ts) t.join();
  const auto s = a.stats();
  expect_true(s.live_blocks == 0 && s.live_bytes == 0, "balanced after concurrent use");
  expect_true(s.cache_hits > 0, "concurrent use hits the cache");
}

int main() {
  test_size_classes();
  test_reuse_and_stats();
  test_cache_limit();
  test_refusals();
  test_threads();
  return report();
}
