#include "thread_pool.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <new>
#include <stdexcept>
#include <thread>
#include <vector>

#include "addernet.h"

namespace adn {

float* Scratch::get(size_t floats) {
  if (floats > capacity_) {
    std::free(data_);
    data_ = nullptr;
    capacity_ = 0;
    size_t bytes = ((floats * sizeof(float) + 63) / 64) * 64;
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
  uint64_t generation = 0;
  bool stopping = false;
  // Current job.
  const std::function<void(size_t, int)>* fn = nullptr;
  size_t ntasks = 0;
  std::atomic<size_t> next{0};
  int active = 0;  // workers still inside the current job
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

  void worker_loop(int worker) {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> g(m);
        wake.wait(g, [&] { return stopping || generation != seen; });
        if (stopping) return;
        seen = generation;
      }
      run_tasks(worker);
      std::lock_guard<std::mutex> g(m);
      if (--active == 0) done.notify_one();
    }
  }

  void start(int n) {
    scratch.resize(n);
    for (int i = 1; i < n; ++i) workers.emplace_back([this, i] { worker_loop(i); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> g(m);
      stopping = true;
    }
    wake.notify_all();
    for (auto& t : workers) t.join();
    workers.clear();
    stopping = false;
  }
};

static int default_threads() {
  if (const char* env = std::getenv("ADDERNET_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc ? static_cast<int>(hc) : 1;
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
  if (n < 1) throw std::invalid_argument("thread count must be >= 1");
  std::lock_guard<std::mutex> session(session_mutex_);
  if (n == num_threads()) return;
  impl_->stop();
  impl_->scratch.clear();
  impl_->start(n);
}

ThreadPool::Session::Session(ThreadPool& pool) : pool_(pool), lock_(pool.session_mutex_) {}

int ThreadPool::Session::threads() const { return pool_.num_threads(); }

float* ThreadPool::Session::scratch(int worker, size_t floats) {
  return pool_.impl_->scratch.at(worker).get(floats);
}

float* ThreadPool::Session::shared(int slot, size_t floats) {
  auto& s = pool_.impl_->shared;
  if (static_cast<size_t>(slot) >= s.size()) s.resize(slot + 1);
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
    p.active = helpers;
    p.error = nullptr;
    ++p.generation;
  }
  p.wake.notify_all();
  p.run_tasks(0);
  std::unique_lock<std::mutex> g(p.m);
  p.done.wait(g, [&] { return p.active == 0; });
  p.fn = nullptr;
  if (p.error) std::rethrow_exception(p.error);
}

int num_threads() { return ThreadPool::instance().num_threads(); }
void set_num_threads(int n) { ThreadPool::instance().set_num_threads(n); }

}  // namespace adn
