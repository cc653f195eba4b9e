// In-order execution queue of a device (issue 9): one executor thread runs
// the submitted tasks one after another, in submission order, each on the
// shared thread pool. Ops enqueue their kernels and return at once; reads
// and host-side writes enqueue too, so order alone makes every access see
// the writes submitted before it. Thread-safe: the JavaScript thread and
// worker threads submit; tasks never throw (the binding records failures).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace adn {

class Queue {
 public:
  using Task = std::function<void()>;
  Queue();
  ~Queue();
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // Appends a task; returns its ticket (1, 2, ...). An exception escaping a
  // task is swallowed (the binding catches before that).
  uint64_t submit(Task task);
  // Blocks until the task with this ticket, and so every earlier one, has run.
  void wait(uint64_t ticket);
  // Blocks until everything submitted so far has run.
  void drain();
  uint64_t completed() const;
  uint64_t submitted() const;
  // True on the executor thread (a task must never wait on its own queue).
  bool on_executor() const;

  // Priority between two queues: before each of its tasks, this queue waits
  // until `other` has nothing it can run (empty, or its task is waiting for
  // this queue), so other's tasks run between this queue's, never behind
  // their backlog. Set before submitting; `other` must outlive this queue's
  // tasks and must not yield back.
  void yield_to(Queue* other);
  // For a task of this queue: waits for `ticket` on `other`, counting as
  // nothing to run meanwhile (so a queue yielding to this one goes on).
  void wait_on(Queue& other, uint64_t ticket);

 private:
  void run();
  // Blocks until this queue has nothing it can run.
  void wait_quiet();
  mutable std::mutex mutex_;
  std::condition_variable work_, done_;
  std::deque<Task> tasks_;
  uint64_t submitted_ = 0, completed_ = 0;
  bool stopping_ = false;
  bool blocked_ = false;  // its running task waits for another queue
  Queue* yield_to_ = nullptr;
  std::thread thread_;
};


}  // namespace adn
