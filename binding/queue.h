// Launching kernels on the device queue (cpp/queue.h) from the binding
// (issue 9). An op's glue collects its tensor arguments through a Launch,
// which checks each against the size it must have and keeps its storage
// alive, then hands the kernel to run(): with every tensor a Storage the
// kernel is queued and the call returns at once; a failure inside it is
// recorded on the op's outputs, so the read (or op) that depends on them
// reports it. With a plain typed array among the arguments (tests, the
// binding's own checks) the call waits for the kernel and throws at once,
// since nothing keeps a JavaScript array alive after the call.
#pragma once
#include <napi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../cpp/queue.h"
#include "tensor.h"

namespace adn_binding {

class Launch {
 public:
  Launch(const Napi::CallbackInfo& info, const char* op);
  // A tensor argument of exactly `expected` elements read by the kernel (null when optional and absent).
  const float* in(size_t index, const char* name, int64_t expected, bool optional = false);
  // Written by the kernel (null when optional and absent).
  float* out(size_t index, const char* name, int64_t expected, bool optional = false);
  // Read and written (running statistics, parameters, momentum buffers).
  float* inout(size_t index, const char* name, int64_t expected, bool optional = false);
  // A typed array argument the kernel uses directly (forces the waiting path).
  void host_array();
  // Queues the kernel (or runs it and waits, see above). The kernel must
  // capture by value: it may run after this call returns. Returns the
  // ticket of the queued task.
  uint64_t run(std::function<void()> kernel);

 private:
  float* arg(size_t index, const char* name, int64_t expected, bool optional, bool read, bool write);
  const Napi::CallbackInfo& info_;
  const char* op_;
  bool wait_ = false;
  std::vector<std::shared_ptr<HostBuffer>> reads_, writes_;
};

// The failure a kernel left on a storage, as the JS error a read throws.
Napi::Error failure_error(Napi::Env env, const Failure& f);

// The CPU queue of the calling JavaScript thread: the main thread and each
// worker (a predict worker) get their own, so inference in a worker waits at
// most for the kernel a training step is running (kernels take the thread
// pool one at a time), never for the whole step. Created on first use,
// drained and joined when that thread's environment shuts down.
adn::Queue& cpu_queue(Napi::Env env);

// Stream-ordered reuse of tensor memory, as CUDA caching allocators do per
// stream. When a tensor's last JS reference goes, kernels queued before may
// still read its block; but every kernel queued from now on runs after them,
// so the block can back a new kernel output at once. Host-side writes (a
// tensor copied in, zeros) run now, so they take only blocks whose earlier
// kernels have all run. Blocks the queue has passed go back to the allocator
// (on the next release or allocation, and before memoryInfo).
float* stream_allocate(Napi::Env env, size_t bytes, bool host_write);
// bytes: the block's size class (HostBuffer::bytes).
void stream_release(Napi::Env env, float* block, size_t bytes);
void stream_flush(Napi::Env env);

}  // namespace adn_binding
