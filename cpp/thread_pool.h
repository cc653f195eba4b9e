// Persistent worker pool shared by every kernel. One job runs at a time: a
// Session holds the pool for a whole kernel call, so concurrent callers (e.g.
// several async predictions) queue instead of sharing scratch buffers.
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace adn {

// 64-byte aligned float buffer that only grows.
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  Scratch(Scratch&& o) noexcept : data_(o.data_), capacity_(o.capacity_) {
    o.data_ = nullptr;
    o.capacity_ = 0;
  }
  float* get(size_t floats);
  ~Scratch();
 private:
  float* data_ = nullptr;
  size_t capacity_ = 0;
};

// What was wrong with ADDERNET_NUM_THREADS ("" when nothing).
std::string thread_environment_warning();

// A mutex granted in request order. Kernels from several device queues (one
// per JavaScript thread) take the pool one at a time; with a plain mutex the
// thread that just released it usually wins it back, so a training step's
// stream of kernels could starve a predict queued on another thread.
class FifoMutex {
 public:
  void lock() {
    std::unique_lock<std::mutex> g(m_);
    const uint64_t mine = next_++;
    turn_.wait(g, [&] { return serving_ == mine; });
  }
  void unlock() {
    {
      std::lock_guard<std::mutex> g(m_);
      ++serving_;
    }
    turn_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable turn_;
  uint64_t next_ = 0, serving_ = 0;
};

class ThreadPool {
 public:
  static ThreadPool& instance();
  int num_threads() const;
  void set_num_threads(int n);

  class Session {
   public:
    explicit Session(ThreadPool& pool);
    int threads() const;
    // fn(task, worker) for task in [0, ntasks); worker < threads() indexes scratch.
    void parallel_for(size_t ntasks, const std::function<void(size_t, int)>& fn);
    // Per-worker scratch (worker < threads()) and caller-side shared buffers
    // (caller thread only). What one session asks for in all, the largest
    // request per buffer summed, is bounded by layer_memory_limit().
    float* scratch(int worker, size_t floats);
    float* shared(int slot, size_t floats);
   private:
    void charge(size_t& held, size_t floats);
    ThreadPool& pool_;
    std::unique_lock<FifoMutex> lock_;
    std::vector<size_t> worker_bytes_, shared_bytes_;  // each written by one thread
    std::atomic<size_t> total_bytes_{0};
  };

  ~ThreadPool();
 private:
  ThreadPool();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  FifoMutex session_mutex_;
};

inline int64_t div_up(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Below this many touched elements a job runs inline: waking the pool costs more.
constexpr int64_t kMinTaskWork = int64_t(1) << 15;

// fn(begin, end) over contiguous ranges of [0, count), for the memory-bound
// ops. item_cost is the elements one item touches; it sizes the ranges so
// small jobs stay inline.
template <class Fn>
void parallel_ranges(int64_t count, int64_t item_cost, Fn fn) {
  if (count <= 0) return;
  const int64_t min_items = std::max<int64_t>(1, kMinTaskWork / std::max<int64_t>(1, item_cost));
  if (count <= min_items) {
    fn(int64_t(0), count);
    return;
  }
  ThreadPool::Session ses(ThreadPool::instance());
  const int64_t tasks = std::min(div_up(count, min_items), int64_t(4) * ses.threads());
  ses.parallel_for(size_t(tasks), [&](size_t t, int) {
    fn(count * int64_t(t) / tasks, count * int64_t(t + 1) / tasks);
  });
}

// Double sums with four interleaved accumulators: breaks the add latency

}  // namespace adn
