#include "thread_pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>
#if __has_include(<unistd.h>)
#include <unistd.h>
#endif
#include <exception>
#include <new>
#include <stdexcept>
#include <thread>
#include <vector>

#include "addernet.h"
#include "checked_size.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace adn {

namespace {
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Polls ready() for up to `limit` before the caller falls back to sleeping on
// a condition variable: the kernels of one layer or training step follow each
// other within microseconds, and a futex wake-up costs tens of microseconds
// (more on a VM), which is a good part of a small layer's run time.
template <class Ready>
bool spin_until(Ready ready, std::chrono::microseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
  }
}

constexpr std::chrono::microseconds kWorkerSpin{100};  // idle worker, between jobs
constexpr std::chrono::microseconds kCallerSpin{2000};  // caller, waiting for the last tasks
}  // namespace

float* Scratch::get(size_t floats) {
  if (floats > capacity_) {
    std::free(data_);
    data_ = nullptr;
    capacity_ = 0;
    const size_t bytes = checked_add(checked_bytes(floats, sizeof(float)), 63) / 64 * 64;
    data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!data_) throw std::bad_alloc();
    capacity_ = floats;
  }
  return data_;
}

Scratch::~Scratch() { std::free(data_); }

struct ThreadPool::Impl {
  std::vector<std::thread> workers;        // workers[i] is worker i + 1
  std::vector<Scratch> scratch;            // one per worker, 0 = caller
  std::vector<Scratch> shared;
  std::mutex m;
  std::condition_variable wake, done;
  std::atomic<uint64_t> generation{0};  // written under m
  std::atomic<bool> stopping{false};    // written under m
  // Current job.
  const std::function<void(size_t, int)>* fn = nullptr;
  size_t ntasks = 0;
  std::atomic<size_t> next{0};
  // Workers join a job only while it is open (under m); the caller closes it
  // once it has run out of tasks itself and then waits for the workers inside
  // it, not for every worker: one that has not woken yet (descheduled on a
  // busy machine) stays out instead of holding the caller up.
  bool open = false;
  std::atomic<int> entered{0};  // workers inside the current job
  std::exception_ptr error;

  void run_tasks(int worker) {
    for (;;) {
      size_t task = next.fetch_add(1);
      if (task >= ntasks) break;
      try {
        (*fn)(task, worker);
      } catch (...) {
        std::lock_guard<std::mutex> g(m);
        if (!error) error = std::current_exception();
        next.store(ntasks);
      }
    }
  }

  // `seen` starts at the generation when the worker was made: a worker started
  // by set_num_threads() must not take the last job (long finished) as new
  // work. It did once: it ran that job's empty task list and counted itself
  // out of the next job twice, so parallel_for returned while a task still
  // ran, or waited forever (seen under qemu, whose threads start slowly).
  void worker_loop(int worker, uint64_t seen) {
    for (;;) {
      const auto ready = [&] { return stopping.load() || generation.load() != seen; };
      if (!spin_until(ready, kWorkerSpin)) {
        std::unique_lock<std::mutex> g(m);
        wake.wait(g, ready);
      }
      if (stopping.load()) return;
      {
        std::lock_guard<std::mutex> g(m);
        seen = generation.load();
        if (!open) continue;
        entered.fetch_add(1);
      }
      run_tasks(worker);
      if (entered.fetch_sub(1) == 1) {
        // Under m, so a caller between its predicate check and wait() cannot miss it.
        std::lock_guard<std::mutex> g(m);
        done.notify_one();
      }
    }
  }

  // No job runs meanwhile (the caller holds the session mutex), so the generation is still.
  void start(int n) {
    scratch.resize(n);
    const uint64_t now = generation.load();
    for (int i = 1; i < n; ++i) workers.emplace_back([this, i, now] { worker_loop(i, now); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> g(m);
      stopping = true;
    }
    wake.notify_all();
    for (auto& t : workers) t.join();
    workers.clear();
    stopping.store(false);
  }
};

namespace {
std::mutex g_warnings_mutex;
std::string g_thread_warning;

std::atomic<int64_t> g_memory_limit{0};  // 0: not yet read

int64_t physical_memory_bytes() {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0 && pages <= INT64_MAX / page) return int64_t(pages) * page;
#endif
  return int64_t(1) << 40;
}
}  // namespace

// ADDERNET_NUM_THREADS as a whole number from 1 to kMaxThreads (the bound
// setNumThreads has); anything else falls back to the core count, with a warning.
static int default_threads() {
  unsigned hc = std::thread::hardware_concurrency();
  const int cores = hc ? static_cast<int>(hc) : 1;
  const char* env = std::getenv("ADDERNET_NUM_THREADS");
  if (!env || !*env) return cores;
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(env, &end, 10);
  if (errno == 0 && *end == '\0' && n >= 1 && n <= kMaxThreads) return int(n);
  std::lock_guard<std::mutex> g(g_warnings_mutex);
  g_thread_warning = std::string("Expected an integer from 1 to ") + std::to_string(kMaxThreads) +
                     " for ADDERNET_NUM_THREADS but received \"" + std::string(env).substr(0, 40) +
                     "\"; using " + std::to_string(cores) + " threads";
  return cores;
}

std::string thread_environment_warning() {
  ThreadPool::instance();  // reads the environment
  std::lock_guard<std::mutex> g(g_warnings_mutex);
  return g_thread_warning;
}

int64_t layer_memory_limit() {
  int64_t v = g_memory_limit.load();
  if (v == 0) {
    v = physical_memory_bytes();
    int64_t expected = 0;
    if (!g_memory_limit.compare_exchange_strong(expected, v)) v = expected;
  }
  return v;
}

void set_layer_memory_limit(int64_t bytes) {
  if (bytes < 1) throw std::invalid_argument("layer memory limit must be >= 1 byte");
  g_memory_limit.store(bytes);
}

ThreadPool::ThreadPool() : impl_(new Impl) { impl_->start(default_threads()); }
ThreadPool::~ThreadPool() { impl_->stop(); }

ThreadPool& ThreadPool::instance() {
  // Leaked on purpose: joining threads during static destruction at process
  // exit can deadlock.
  static ThreadPool* pool = new ThreadPool();
  return *pool;
}

int ThreadPool::num_threads() const { return static_cast<int>(impl_->scratch.size()); }

void ThreadPool::set_num_threads(int n) {
  if (n < 1 || n > kMaxThreads)
    throw std::invalid_argument("thread count must be from 1 to " + std::to_string(kMaxThreads));
  std::lock_guard<FifoMutex> session(session_mutex_);
  if (n == num_threads()) return;
  impl_->stop();
  impl_->scratch.clear();
  impl_->start(n);
}

ThreadPool::Session::Session(ThreadPool& pool)
    : pool_(pool), lock_(pool.session_mutex_), worker_bytes_(size_t(pool.num_threads()), 0) {}

int ThreadPool::Session::threads() const { return pool_.num_threads(); }

// Charged before allocating, so a refused call allocates nothing more.
void ThreadPool::Session::charge(size_t& held, size_t floats) {
  const size_t bytes = checked_bytes(floats, sizeof(float));
  if (bytes <= held) return;
  const size_t total = total_bytes_.fetch_add(bytes - held) + (bytes - held);
  held = bytes;
  const int64_t limit = layer_memory_limit();
  if (total < bytes || total > uint64_t(limit)) {
    const auto gb = [](double b) {
      char text[32];
      std::snprintf(text, sizeof text, "%.1f GB", b / 1e9);
      return std::string(text);
    };
    throw LayerMemoryError("a layer call needs at least " + gb(double(total)) +
                           " of scratch memory, more than the limit of " + gb(double(limit)) +
                           " (this machine's memory)");
  }
}

float* ThreadPool::Session::scratch(int worker, size_t floats) {
  charge(worker_bytes_.at(size_t(worker)), floats);
  return pool_.impl_->scratch.at(worker).get(floats);
}

float* ThreadPool::Session::shared(int slot, size_t floats) {
  auto& s = pool_.impl_->shared;
  if (static_cast<size_t>(slot) >= s.size()) s.resize(slot + 1);
  if (static_cast<size_t>(slot) >= shared_bytes_.size()) shared_bytes_.resize(slot + 1, 0);
  charge(shared_bytes_[size_t(slot)], floats);
  return s[slot].get(floats);
}

void ThreadPool::Session::parallel_for(size_t ntasks, const std::function<void(size_t, int)>& fn) {
  Impl& p = *pool_.impl_;
  const int helpers = static_cast<int>(p.workers.size());
  if (ntasks == 0) return;
  if (ntasks == 1 || helpers == 0) {
    for (size_t t = 0; t < ntasks; ++t) fn(t, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> g(p.m);
    p.fn = &fn;
    p.ntasks = ntasks;
    p.next.store(0);
    p.error = nullptr;
    p.open = true;
    p.generation.fetch_add(1);
  }
  p.wake.notify_all();
  p.run_tasks(0);
  {
    std::lock_guard<std::mutex> g(p.m);
    p.open = false;
  }
  const auto finished = [&] { return p.entered.load() == 0; };
  std::unique_lock<std::mutex> g(p.m, std::defer_lock);
  if (!spin_until(finished, kCallerSpin)) {
    g.lock();
    p.done.wait(g, finished);
  } else {
    g.lock();
  }
  p.fn = nullptr;
  if (p.error) std::rethrow_exception(p.error);
}

int num_threads() { return ThreadPool::instance().num_threads(); }
void set_num_threads(int n) { ThreadPool::instance().set_num_threads(n); }

}  // namespace adn
