#include "queue.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <new>
#include <stdexcept>
#include <utility>

#include "../cpp/addernet.h"
#include "../cpp/allocator.h"
#include "args.h"

namespace adn_binding {

Launch::Launch(const Napi::CallbackInfo& info, const char* op) : info_(info), op_(op) {}

void* Launch::arg(size_t index, const char* name, int64_t expected, bool optional, bool read, bool write, Dtype dtype) {
  Napi::Value v = info_[index];
  if (optional && (v.IsNull() || v.IsUndefined())) return nullptr;
  // tensor_arg checks the kind, the dtype, the disposal and the length of either kind of argument.
  const TensorArg t = tensor_arg(info_, index, name, dtype, expected);
  if (t.storage) {
    if (read) reads_.push_back(t.storage->shared());
    if (write) writes_.push_back(t.storage->shared());
  } else {
    wait_ = true;  // a typed array: nothing keeps it alive once this call returns
  }
  return t.data;
}

const float* Launch::in(size_t index, const char* name, int64_t expected, bool optional) {
  return static_cast<const float*>(arg(index, name, expected, optional, true, false, Dtype::kFloat32));
}

float* Launch::out(size_t index, const char* name, int64_t expected, bool optional) {
  return static_cast<float*>(arg(index, name, expected, optional, false, true, Dtype::kFloat32));
}

float* Launch::inout(size_t index, const char* name, int64_t expected, bool optional) {
  return static_cast<float*>(arg(index, name, expected, optional, true, true, Dtype::kFloat32));
}

const int32_t* Launch::in_int32(size_t index, const char* name, int64_t expected) {
  return static_cast<const int32_t*>(arg(index, name, expected, false, true, false, Dtype::kInt32));
}

int32_t* Launch::out_int32(size_t index, const char* name, int64_t expected) {
  return static_cast<int32_t*>(arg(index, name, expected, false, false, true, Dtype::kInt32));
}

void Launch::host_array() { wait_ = true; }

adn::FilterVersion Launch::contents(size_t index) const {
  Storage* st = Storage::From(info_.Env(), info_[index]);
  if (!st || !st->buffer()) return {};
  return {st->buffer()->id, st->buffer()->version};
}

namespace {

std::shared_ptr<const Failure> failure_of(const char* op, const std::exception_ptr& e) {
  const std::string prefix = std::string("addernet: ") + op + ": ";
  try {
    std::rethrow_exception(e);
  } catch (const std::invalid_argument& x) {
    return std::make_shared<Failure>(Failure{prefix + x.what(), "ERR_ADDERNET_SHAPE", true});
  } catch (const std::length_error& x) {
    return std::make_shared<Failure>(Failure{prefix + x.what(), "ERR_ADDERNET_MEMORY", true});
  } catch (const std::bad_alloc&) {
    return std::make_shared<Failure>(Failure{prefix + "out of memory for a kernel", "ERR_ADDERNET_MEMORY", true});
  } catch (const std::exception& x) {
    return std::make_shared<Failure>(Failure{prefix + x.what(), "ERR_ADDERNET_NATIVE", false});
  } catch (...) {
    return std::make_shared<Failure>(Failure{prefix + "unknown failure", "ERR_ADDERNET_NATIVE", false});
  }
}

// The device queues of this JavaScript thread and the blocks its tensors
// released, by size class, with the tickets of the tasks that may still use
// them.
struct StreamBlock {
  void* block;
  Tickets use;
};
struct Streams {
  Streams() { queues[kDefaultQueue].yield_to(&queues[kInferenceQueue]); }
  adn::Queue queues[kQueues];
  int current = kDefaultQueue;
  std::multimap<size_t, StreamBlock> released;
  // True when every task with these tickets has run (on every queue but `except`).
  bool passed(const Tickets& tickets, int except = -1) const {
    for (int q = 0; q < kQueues; ++q)
      if (q != except && tickets[q] > queues[q].completed()) return false;
    return true;
  }
  void flush() {
    for (auto it = released.begin(); it != released.end();) {
      if (passed(it->second.use)) {
        adn::host_allocator().release(it->second.block);
        it = released.erase(it);
      } else {
        ++it;
      }
    }
  }
};
thread_local Streams* t_streams = nullptr;

Streams& streams(Napi::Env env) {
  if (!t_streams) {
    t_streams = new Streams();
    napi_add_env_cleanup_hook(env, [](void*) {
      // Drain every queue before destroying any: a task may wait for the other queue.
      for (auto& q : t_streams->queues) q.drain();
      Streams* s = t_streams;
      t_streams = nullptr;
      for (auto& b : s->released) adn::host_allocator().release(b.second.block);
      delete s;  // joins the executors
    }, nullptr);
  }
  return *t_streams;
}

}  // namespace

Ticket submit(Napi::Env env, const std::vector<std::shared_ptr<HostBuffer>>& reads,
              const std::vector<std::shared_ptr<HostBuffer>>& writes, std::function<void()> task) {
  Streams& s = streams(env);
  int q = s.current;
  // A read alone goes to the queue whose writes it waits for, when only that
  // one has them pending: the read of a predict's output never queues behind
  // a training step, nor a read of training results behind a predict.
  if (writes.empty() && reads.size() == 1) {
    const HostBuffer& r = *reads[0];
    for (int o = 0; o < kQueues; ++o)
      if (o != q && r.write[o] > s.queues[o].completed() && r.write[q] <= s.queues[q].completed()) q = o;
  }
  Tickets after{};
  for (int o = 0; o < kQueues; ++o) {
    if (o == q) continue;
    for (const auto& r : reads) after[o] = std::max(after[o], r->write[o]);
    for (const auto& w : writes) after[o] = std::max(after[o], w->use[o]);
    if (after[o] <= s.queues[o].completed()) after[o] = 0;
  }
  bool waits = false;
  for (uint64_t t : after) waits = waits || t;
  if (waits) {
    adn::Queue* queues = s.queues;
    task = [queues, q, after, task = std::move(task)] {
      for (int o = 0; o < kQueues; ++o)
        if (after[o]) queues[q].wait_on(queues[o], after[o]);
      task();
    };
  }
  const uint64_t ticket = s.queues[q].submit(std::move(task));
  for (const auto& w : writes) ++w->version;
  for (const auto& r : reads) r->use[q] = ticket;
  for (const auto& w : writes) w->use[q] = w->write[q] = ticket;
  return Ticket{&s.queues[q], ticket};
}

bool written(Napi::Env env, const HostBuffer& b) { return streams(env).passed(b.write); }

Napi::Value SetQueue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double v = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (v != kDefaultQueue && v != kInferenceQueue) throw_range(env, "Expected 0 or 1 for queue");
  Streams& s = streams(env);
  const int previous = s.current;
  s.current = int(v);
  return Napi::Number::New(env, previous);
}

uint64_t Launch::run(std::function<void()> kernel) {
  auto failed = std::make_shared<std::shared_ptr<const Failure>>();
  const char* op = op_;
  // The task owns references to every storage it touches: disposing a tensor
  // while its kernel is queued frees the memory only after the kernel ran.
  auto task = [reads = reads_, writes = writes_, kernel = std::move(kernel), failed, op] {
    for (const auto& b : reads) {
      if (auto f = b->failure()) {  // an earlier kernel failed: its dependents fail alike
        for (const auto& w : writes) w->set_failure(f);
        *failed = f;
        return;
      }
    }
    for (const auto& w : writes) w->set_failure(nullptr);
    try {
      kernel();
    } catch (...) {
      auto f = failure_of(op, std::current_exception());
      for (const auto& w : writes) w->set_failure(f);
      *failed = f;
    }
  };
  const Ticket t = submit(info_.Env(), reads_, writes_, std::move(task));
  if (wait_) {
    t.queue->wait(t.ticket);
    if (*failed) throw failure_error(info_.Env(), **failed);
  }
  return t.ticket;
}

Napi::Error failure_error(Napi::Env env, const Failure& f) {
  Napi::Error e = f.range ? Napi::RangeError::New(env, f.message) : Napi::Error::New(env, f.message);
  return error_with_code(env, e, f.code);
}

void* stream_allocate(Napi::Env env, size_t bytes, bool host_write, Tickets& after) {
  Streams& s = streams(env);
  s.flush();
  after = {};
  if (!host_write) {
    // Every block left has tasks pending. One whose pending tasks are all on
    // the current queue backs a new output at once (they run before its
    // kernel; the tensor inherits their tickets for any other access). One
    // with another queue's tasks pending would make this queue wait for them:
    // a predict would wait for the training step that freed it.
    auto range = s.released.equal_range(adn::CachingAllocator::size_class(bytes));
    for (auto it = range.first; it != range.second; ++it) {
      if (!s.passed(it->second.use, s.current)) continue;
      void* b = it->second.block;
      after = it->second.use;
      s.released.erase(it);
      return b;
    }
  }
  return adn::host_allocator().allocate(bytes);
}

void stream_release(Napi::Env env, const HostBuffer& b) {
  if (!t_streams) {  // this thread's queues are gone (environment teardown): nothing runs any more
    adn::host_allocator().release(b.data);
    return;
  }
  Streams& s = streams(env);
  s.released.emplace(b.bytes, StreamBlock{b.data, b.use});
  s.flush();
}

void stream_flush(Napi::Env env) { streams(env).flush(); }

StreamPending stream_pending(Napi::Env env) {
  StreamPending p;
  for (const auto& b : streams(env).released) {
    p.blocks += 1;
    p.bytes += int64_t(b.first);
  }
  return p;
}

}  // namespace adn_binding
