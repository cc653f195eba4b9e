#include "queue.h"

#include <utility>

namespace adn {

Queue::Queue() : thread_([this] { run(); }) {}

Queue::~Queue() {
  {
    std::lock_guard<std::mutex> g(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t Queue::submit(Task task) {
  uint64_t ticket;
  {
    std::lock_guard<std::mutex> g(mutex_);
    tasks_.push_back(std::move(task));
    ticket = ++submitted_;
  }
  work_.notify_one();
  return ticket;
}

void Queue::wait(uint64_t ticket) {
  std::unique_lock<std::mutex> g(mutex_);
  done_.wait(g, [&] { return completed_ >= ticket; });
}

void Queue::drain() {
  uint64_t ticket;
  {
    std::lock_guard<std::mutex> g(mutex_);
    ticket = submitted_;
  }
  wait(ticket);
}

uint64_t Queue::completed() const {
  std::lock_guard<std::mutex> g(mutex_);
  return completed_;
}

uint64_t Queue::submitted() const {
  std::lock_guard<std::mutex> g(mutex_);
  return submitted_;
}

void Queue::yield_to(Queue* other) { yield_to_ = other; }

void Queue::wait_on(Queue& other, uint64_t ticket) {
  {
    std::lock_guard<std::mutex> g(mutex_);
    blocked_ = true;
  }
  done_.notify_all();
  other.wait(ticket);
  std::lock_guard<std::mutex> g(mutex_);
  blocked_ = false;
}

void Queue::wait_quiet() {
  std::unique_lock<std::mutex> g(mutex_);
  done_.wait(g, [&] { return blocked_ || completed_ == submitted_; });
}

bool Queue::on_executor() const { return std::this_thread::get_id() == thread_.get_id(); }

void Queue::run() {
  for (;;) {
    Task task;
    {
      std::unique_lock<std::mutex> g(mutex_);
      work_.wait(g, [&] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping, nothing left
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    if (yield_to_) yield_to_->wait_quiet();
    try {
      task();
    } catch (...) {
    }
    task = nullptr;  // release what the task held before reporting it done
    {
      std::lock_guard<std::mutex> g(mutex_);
      ++completed_;
    }
    done_.notify_all();
  }
}

}  // namespace adn
