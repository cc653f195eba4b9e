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

#include "../cpp/addernet.h"
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
  // Int32 tensors (indices): an int32 Storage or an Int32Array.
  const int32_t* in_int32(size_t index, const char* name, int64_t expected);
  int32_t* out_int32(size_t index, const char* name, int64_t expected);
  // A typed array argument the kernel uses directly (forces the waiting path).
  void host_array();
  // Which contents a Storage argument has now ({} for a typed array): the
  // kernel reuses work on the same contents (packed filters).
  adn::FilterVersion contents(size_t index) const;
  // Queues the kernel (or runs it and waits, see above). The kernel must
  // capture by value: it may run after this call returns. Returns the
  // ticket of the queued task.
  uint64_t run(std::function<void()> kernel);

 private:
  void* arg(size_t index, const char* name, int64_t expected, bool optional, bool read, bool write, Dtype dtype);
  const Napi::CallbackInfo& info_;
  const char* op_;
  bool wait_ = false;
  std::vector<std::shared_ptr<HostBuffer>> reads_, writes_;
};

// The failure a kernel left on a storage, as the JS error a read throws.
Napi::Error failure_error(Napi::Env env, const Failure& f);

// Each JavaScript thread has kQueues CPU queues: kDefaultQueue for ops,
// fit and evaluate, kInferenceQueue for Model.predict, so that a predict
// issued while a training step is queued runs beside it (kernels take the
// thread pool one at a time, in request order: a predict kernel waits for at
// most the training kernel then running, never for the whole step). The
// current queue (setQueue) is where ops submit. Created on first use, drained
// and joined when that thread's environment shuts down.
constexpr int kDefaultQueue = 0, kInferenceQueue = 1;

// A queued task: its queue and its ticket there.
struct Ticket {
  adn::Queue* queue;
  uint64_t ticket;
};

// Submits task on the current queue (a read of one buffer: on the queue
// writing it, when only that one is). Order within a queue is submission
// order; across queues the task first waits for the other queue's tasks that
// write what it reads or touch what it writes (tasks submitted before it, so
// the queues never wait on each other in a cycle). Then records the task in
// the buffers' tickets. JS thread only.
Ticket submit(Napi::Env env, const std::vector<std::shared_ptr<HostBuffer>>& reads,
              const std::vector<std::shared_ptr<HostBuffer>>& writes, std::function<void()> task);
// True when every queued task writing b has run.
bool written(Napi::Env env, const HostBuffer& b);
// setQueue(index): makes kDefaultQueue or kInferenceQueue current; returns the previous one.
Napi::Value SetQueue(const Napi::CallbackInfo& info);

// Stream-ordered reuse of tensor memory, as CUDA caching allocators do per
// stream. When a tensor's last JS reference goes, tasks queued before may
// still use its block; a block whose pending tasks are all on the current
// queue backs a new kernel output at once: the new tensor inherits their
// tickets (after becomes its write and use tickets), so every task touching
// it is ordered after them.
// Host-side writes (a tensor copied in, zeros) run now, so they take only
// blocks whose tasks have all run. Blocks the queues have passed go back to
// the allocator (on the next release or allocation, and before memoryInfo).
void* stream_allocate(Napi::Env env, size_t bytes, bool host_write, Tickets& after);
void stream_release(Napi::Env env, const HostBuffer& b);
void stream_flush(Napi::Env env);
// The released blocks still waiting for their queued tasks.
struct StreamPending {
  int64_t blocks = 0, bytes = 0;
};
StreamPending stream_pending(Napi::Env env);

}  // namespace adn_binding
