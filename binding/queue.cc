#include "queue.h"

#include <new>
#include <stdexcept>
#include <utility>

#include "../cpp/addernet.h"
#include "args.h"

namespace adn_binding {

Launch::Launch(const Napi::CallbackInfo& info, const char* op) : info_(info), op_(op) {}

float* Launch::arg(size_t index, const char* name, int64_t expected, bool optional, bool read, bool write) {
  Napi::Env env = info_.Env();
  Napi::Value v = info_[index];
  if (optional && (v.IsNull() || v.IsUndefined())) return nullptr;
  if (Storage* s = Storage::From(env, v)) {
    const std::shared_ptr<HostBuffer>& b = s->shared();
    if (!b)
      throw error_with_code(env, Napi::Error::New(env, std::string("addernet: ") + name + " was disposed"),
                            "ERR_ADDERNET_DISPOSED");
    if (b->length != expected)
      throw_range(env, std::string("Expected ") + std::to_string(expected) + " elements for " + name +
                           " but received " + std::to_string(b->length));
    if (read) reads_.push_back(b);
    if (write) writes_.push_back(b);
    return b->data;
  }
  wait_ = true;
  return float_array(info_, index, name, expected, optional);
}

const float* Launch::in(size_t index, const char* name, int64_t expected) {
  return arg(index, name, expected, false, true, false);
}

float* Launch::out(size_t index, const char* name, int64_t expected, bool optional) {
  return arg(index, name, expected, optional, false, true);
}

float* Launch::inout(size_t index, const char* name, int64_t expected, bool optional) {
  return arg(index, name, expected, optional, true, true);
}

void Launch::host_array() { wait_ = true; }

namespace {

std::shared_ptr<const Failure> failure_of(const char* op, const std::exception_ptr& e, uint64_t ticket) {
  const std::string prefix = std::string("addernet: ") + op + ": ";
  try {
    std::rethrow_exception(e);
  } catch (const std::invalid_argument& x) {
    return std::make_shared<Failure>(Failure{prefix + x.what(), "ERR_ADDERNET_SHAPE", true, ticket});
  } catch (const std::length_error& x) {
    return std::make_shared<Failure>(Failure{prefix + x.what(), "ERR_ADDERNET_MEMORY", true, ticket});
  } catch (const std::bad_alloc&) {
    return std::make_shared<Failure>(Failure{prefix + "out of memory for a kernel", "ERR_ADDERNET_MEMORY", true, ticket});
  } catch (const std::exception& x) {
    return std::make_shared<Failure>(Failure{prefix + x.what(), "ERR_ADDERNET_NATIVE", false, ticket});
  } catch (...) {
    return std::make_shared<Failure>(Failure{prefix + "unknown failure", "ERR_ADDERNET_NATIVE", false, ticket});
  }
}

thread_local adn::Queue* t_queue = nullptr;

}  // namespace

uint64_t Launch::run(std::function<void()> kernel) {
  auto failed = std::make_shared<std::shared_ptr<const Failure>>();
  const char* op = op_;
  // The task owns references to every storage it touches: disposing a tensor
  // while its kernel is queued frees the memory only after the kernel ran.
  adn::Queue& q = cpu_queue(info_.Env());
  auto task = [reads = reads_, writes = writes_, kernel = std::move(kernel), failed, op, &q] {
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
      auto f = failure_of(op, std::current_exception(), q.running());
      for (const auto& w : writes) w->set_failure(f);
      *failed = f;
    }
  };
  const uint64_t ticket = q.submit(std::move(task));
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
    napi_add_env_cleanup_hook(env, [](void*) {
      delete t_queue;  // runs what is queued, then joins the executor
      t_queue = nullptr;
    }, nullptr);
  }
  return *t_queue;
}

}  // namespace adn_binding
