// Tensor storage owned by native code (issue 9): a JS `Storage` wraps a
// reference to a block of the device's caching allocator (cpp/allocator.h).
// lib/tensor.ts builds its Tensor on it; every op in binding/ takes Storage
// objects where it took Float32Arrays (args.h float_array accepts both).
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>

namespace adn_binding {

// One block of float32 elements from the host allocator; freed into its cache
// when the last reference goes.
struct HostBuffer {
  explicit HostBuffer(int64_t length);
  ~HostBuffer();
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  float* data;
  int64_t length;
  size_t bytes;  // the allocator's size-class bytes
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

 private:
  Napi::Value Length(const Napi::CallbackInfo& info);
  Napi::Value Bytes(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value Fill(const Napi::CallbackInfo& info);
  Napi::Value CopyFrom(const Napi::CallbackInfo& info);
  Napi::Value Share(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  void drop(Napi::Env env);
  HostBuffer& live(Napi::Env env) const;

  std::shared_ptr<HostBuffer> buf_;
};

// memoryInfo(device) -> { device, liveTensors, liveBytes, cachedBytes, peakBytes, cacheLimit }
Napi::Value MemoryInfo(const Napi::CallbackInfo& info);
// emptyCache(device), setCacheLimit(device, bytes), resetPeakMemory(device)
Napi::Value EmptyCache(const Napi::CallbackInfo& info);
Napi::Value SetCacheLimit(const Napi::CallbackInfo& info);
Napi::Value ResetPeakMemory(const Napi::CallbackInfo& info);

}  // namespace adn_binding
