#include "queue.h"

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

float* Launch::arg(size_t index, const char* name, int64_t expected, bool optional, bool read, bool write) {
  Napi::Value v = info_[index];
  if (optional && (v.IsNull() || v.IsUndefined())) return nullptr;
  // float_array checks the kind, the disposal and the length of either kind of argument.
  float* data = float_array(info_, index, name, expected, false);
  if (Storage* s = Storage::From(info_.Env(), v)) {
    if (read) reads_.push_back(s->shared());
    if (write) writes_.push_back(s->shared());
  } else {
    wait_ = true;  // a typed array: nothing keeps it alive once this call returns
  }
  return data;
}

const float* Launch::in(size_t index, const char* name, int64_t expected, bool optional) {
  return arg(index, name, expected, optional, true, false);
}

float* Launch::out(size_t index, const char* name, int64_t expected, bool optional) {
  return arg(index, name, expected, optional, false, true);
}

float* Launch::inout(size_t index, const char* name, int64_t expected, bool optional) {
  return arg(index, name, expected, optional, true, true);
}

void Launch::host_array() { wait_ = true; }

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

thread_local adn::Queue* t_queue = nullptr;

// Blocks released by this thread's tensors, by size class, with the queue
// ticket at release: kernels up to it may still use them.
struct StreamBlock {
  float* block;
  uint64_t ticket;
};
thread_local std::multimap<size_t, StreamBlock>* t_stream = nullptr;

void flush_completed(uint64_t completed) {
  if (!t_stream) return;
  for (auto it = t_stream->begin(); it != t_stream->end();) {
    if (it->second.ticket <= completed) {
      adn::host_allocator().release(it->second.block);
      it = t_stream->erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace

uint64_t Launch::run(std::function<void()> kernel) {
  auto failed = std::make_shared<std::shared_ptr<const Failure>>();
  const char* op = op_;
  // The task owns references to every storage it touches: disposing a tensor
  // while its kernel is queued frees the memory only after the kernel ran.
  adn::Queue& q = cpu_queue(info_.Env());
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
  const uint64_t ticket = q.submit(std::move(task));
  for (const auto& w : writes_) w->last_write = ticket;
  if (wait_) {
    q.wait(ticket);
    if (*failed) throw failure_error(info_.Env(), **failed);
  }
  return ticket;
}

Napi::Error failure_error(Napi::Env env, const Failure& f) {
  Napi::Error e = f.range ? Napi::RangeError::New(env, f.message) : Napi::Error::New(env, f.message);
  return error_with_code(env, e, f.code);
}

adn::Queue& cpu_queue(Napi::Env env) {
  if (!t_queue) {
    t_queue = new adn::Queue();
    t_stream = new std::multimap<size_t, StreamBlock>();
    napi_add_env_cleanup_hook(env, [](void*) {
      delete t_queue;  // runs what is queued, then joins the executor
      t_queue = nullptr;
      flush_completed(UINT64_MAX);
      delete t_stream;
      t_stream = nullptr;
    }, nullptr);
  }
  return *t_queue;
}

float* stream_allocate(Napi::Env env, size_t bytes, bool host_write) {
  adn::Queue& q = cpu_queue(env);
  const uint64_t completed = q.completed();
  flush_completed(completed);
  const size_t cls = adn::CachingAllocator::size_class(bytes);
  auto range = t_stream->equal_range(cls);
  for (auto it = range.first; it != range.second; ++it) {
    if (!host_write || it->second.ticket <= completed) {
      float* b = it->second.block;
      t_stream->erase(it);
      return b;
    }
  }
  return static_cast<float*>(adn::host_allocator().allocate(bytes));
}

void stream_release(Napi::Env env, float* block, size_t bytes) {
  if (!t_stream) {  // this thread's queue is gone (environment teardown): nothing runs any more
    adn::host_allocator().release(block);
    return;
  }
  adn::Queue& q = cpu_queue(env);
  t_stream->emplace(bytes, StreamBlock{block, q.submitted()});
  flush_completed(q.completed());
}

void stream_flush(Napi::Env env) { flush_completed(cpu_queue(env).completed()); }

}  // namespace adn_binding
