// Native tests for the in-order device queue (issue 9): order, waiting,
// concurrent submitters, a throwing task, destruction with work pending, and
// the priority of one queue over another (the inference queue).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "queue.h"
#include "thread_pool.h"

int main() {
  {
    adn::Queue q;
    std::vector<int> order;
    uint64_t last = 0;
    for (int i = 0; i < 1000; ++i) last = q.submit([&order, i] { order.push_back(i); });
    q.wait(last);
    bool in_order = order.size() == 1000;
    for (int i = 0; in_order && i < 1000; ++i) in_order = order[size_t(i)] == i;
    expect_true(in_order, "tasks run in submission order");
    expect_true(q.completed() == 1000 && q.submitted() == 1000, "counters");
    expect_true(!q.on_executor(), "the test thread is not the executor");
    bool inside = false;
    q.wait(q.submit([&] { inside = q.on_executor(); }));
    expect_true(inside, "tasks run on the executor thread");
  }
  {
    adn::Queue q;
    q.submit([] { throw std::runtime_error("boom"); });
    std::atomic<int> after{0};
    q.wait(q.submit([&] { after = 1; }));
    expect_true(after == 1, "a throwing task does not stop the queue");
  }
  {
    adn::Queue q;
    std::atomic<int64_t> sum{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
      ts.emplace_back([&q, &sum, t] {
        for (int i = 0; i < 500; ++i) q.submit([&sum, t, i] { sum += t * 1000 + i; });
      });
    for (auto& t : ts) t.join();
    q.drain();
    int64_t want = 0;
    for (int t = 0; t < 4; ++t)
      for (int i = 0; i < 500; ++i) want += t * 1000 + i;
    expect_true(sum == want && q.completed() == 2000, "concurrent submitters: every task runs once");
  }
  {
    std::atomic<int> ran{0};
    {
      adn::Queue q;
      for (int i = 0; i < 50; ++i)
        q.submit([&ran] {
          std::this_thread::sleep_for(std::chrono::microseconds(100));
          ++ran;
        });
    }
    expect_true(ran == 50, "destruction runs what was submitted, then joins");
  }
  {
    // Two queues whose tasks take one shared resource (as kernels take the
    // thread pool, in request order). The queue yielding to the other lets
    // the other's whole chain of tasks run after its task running now;
    // without yielding the chains would alternate.
    adn::Queue high;
    adn::Queue low;
    low.yield_to(&high);
    adn::FifoMutex pool;
    std::atomic<int> low_done{0};
    std::atomic<bool> release{false};
    auto low_task = [&] {
      std::lock_guard<adn::FifoMutex> g(pool);
      std::this_thread::sleep_for(std::chrono::microseconds(300));
      ++low_done;
    };
    low.submit([&] {
      while (!release) std::this_thread::sleep_for(std::chrono::microseconds(50));
      low_task();
    });
    for (int i = 0; i < 30; ++i) low.submit(low_task);
    int seen = -1;
    uint64_t t = 0;
    for (int i = 0; i < 10; ++i)
      t = high.submit([&] {
        std::lock_guard<adn::FifoMutex> g(pool);
        std::this_thread::sleep_for(std::chrono::microseconds(300));
        seen = low_done;
      });
    release = true;
    high.wait(t);
    low.drain();
    expect_true(seen >= 0 && seen <= 2, "a chain on the yielded-to queue waits for at most the task running (and one starting), got " + std::to_string(seen));
    expect_true(low_done == 31, "the yielding queue then runs its backlog");
  }
  {
    // A task of the yielded-to queue waiting for the yielding one (submitted
    // first, so the yielding queue finds it pending) does not deadlock.
    adn::Queue high;
    adn::Queue low;
    low.yield_to(&high);
    std::atomic<int> value{0};
    int got = 0;
    const uint64_t t = high.submit([&] {
      high.wait_on(low, 1);
      got = value;
    });
    low.submit([&] { value = 7; });
    high.wait(t);
    low.drain();
    expect_true(got == 7, "a cross-queue wait sees the task it waited for, and neither queue stalls");
  }
  return report();
}
