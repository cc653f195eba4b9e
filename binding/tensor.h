// Tensor storage owned by native code (issue 9): a JS `Storage` wraps a
// reference to a block of the device's caching allocator (cpp/allocator.h).
// lib/tensor.ts builds its Tensor on it; every op in binding/ takes Storage
// objects where it took Float32Arrays (args.h float_array accepts both).
#pragma once
#include <napi.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace adn_binding {

// Device queues per JavaScript thread (binding/queue.h): ops and fit on the
// default queue, Model.predict on the inference queue.
constexpr int kQueues = 2;
// One ticket per queue (0: none).
using Tickets = std::array<uint64_t, kQueues>;

// What went wrong in a queued kernel, kept on the storages it was to write
// (and passed on to everything computed from them) until a read reports it.
struct Failure {
  std::string message;
  const char* code;  // ERR_ADDERNET_*
  bool range;        // a RangeError (else an Error)
};

// The element types of tensor storage, 4 bytes each: float32 for values,
// int32 for indices (max-pool argmax), so kernels pass indices device-side.
enum class Dtype { kFloat32, kInt32 };
const char* dtype_name(Dtype d);

// One block of `length` elements from the host allocator; freed into its
// cache (stream-ordered) when the last JS Storage referring to it goes.
struct HostBuffer {
  // host_write: the caller writes the block now, on this thread (see stream_allocate).
  HostBuffer(Napi::Env env, int64_t length, bool host_write, Dtype dtype);
  ~HostBuffer();
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  std::shared_ptr<const Failure> failure() const;
  void set_failure(std::shared_ptr<const Failure> f);
  void* data = nullptr;
  int64_t length;
  Dtype dtype;
  size_t bytes = 0;  // the allocator's size-class bytes
  std::atomic<int> js_refs{0};  // JS Storage objects holding it (V8 is told its bytes while > 0)
  // Cleared when the last JS reference hands the block to stream-ordered
  // reuse (binding/queue.h); queued tasks may still hold this object.
  std::atomic<bool> owns_block{true};
  // Per queue, the ticket of the last task writing it and of the last task
  // reading or writing it: a task on one queue is ordered after the other
  // queue's tasks it conflicts with (binding/queue.h submit), and a read
  // after its writers have run queues behind nothing. JS thread only.
  Tickets write{}, use{};
  // For reusing packed filters (adn::FilterVersion): never reused across
  // buffers, and bumped when a task writing the buffer is submitted. JS thread only.
  const uint64_t id;
  uint64_t version = 0;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Failure> failure_;
};

class Storage : public Napi::ObjectWrap<Storage> {
 public:
  static Napi::Function Define(Napi::Env env);
  // The Storage behind `v`, or null when `v` is not one.
  static Storage* From(Napi::Env env, Napi::Value v);

  explicit Storage(const Napi::CallbackInfo& info);
  ~Storage() override;

  // Null once disposed.
  HostBuffer* buffer() const { return buf_.get(); }
  const std::shared_ptr<HostBuffer>& shared() const { return buf_; }

 private:
  Napi::Value Length(const Napi::CallbackInfo& info);
  Napi::Value DtypeName(const Napi::CallbackInfo& info);
  Napi::Value Bytes(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value ReadAsync(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value Fill(const Napi::CallbackInfo& info);
  Napi::Value CopyFrom(const Napi::CallbackInfo& info);
  Napi::Value Share(const Napi::CallbackInfo& info);
  Napi::Value Swap(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  void drop(Napi::Env env);
  void adopt(Napi::Env env, std::shared_ptr<HostBuffer> b);
  HostBuffer& live(Napi::Env env) const;
  // The live Storage `v` of this one's length and dtype (copyFrom, swap).
  Storage* peer(Napi::Env env, const Napi::Value& v, const char* name) const;
  // Runs fn on the current queue after the tasks it depends on, waits, and
  // throws the failure a kernel left on this storage (if any). A read when
  // check_failure, else a write.
  void on_queue(Napi::Env env, std::function<void()> fn, bool check_failure);

  std::shared_ptr<HostBuffer> buf_;
};

// memoryInfo(device) -> { device, liveTensors, liveBytes, cachedBytes, peakBytes, cacheLimit }
Napi::Value MemoryInfo(const Napi::CallbackInfo& info);
// emptyCache(device), setCacheLimit(device, bytes), resetPeakMemory(device)
Napi::Value EmptyCache(const Napi::CallbackInfo& info);
Napi::Value SetCacheLimit(const Napi::CallbackInfo& info);
Napi::Value ResetPeakMemory(const Napi::CallbackInfo& info);

}  // namespace adn_binding
