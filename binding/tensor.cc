#include "tensor.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "../cpp/allocator.h"
#include "../cpp/checked_size.h"
#include "args.h"

namespace adn_binding {

namespace {

// Marks Storage objects so that args.cc can tell them from any other object
// before unwrapping (napi_check_object_type_tag, N-API 8).
const napi_type_tag kStorageTag = {0x6164646572736e74ULL, 0x73746f7261676531ULL};

[[noreturn]] void throw_disposed(Napi::Env env) {
  throw error_with_code(env, Napi::Error::New(env, "addernet: the tensor was disposed"), "ERR_ADDERNET_DISPOSED");
}

int64_t checked_length(Napi::Env env, const Napi::Value& v) {
  const double x = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(x >= 0 && x <= double(adn::kMaxElements) && x == double(int64_t(x))))
    throw_range(env, "Expected an element count from 0 to 2^48 for length");
  return int64_t(x);
}

Napi::Float32Array float32(Napi::Env env, const Napi::Value& v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_type(env, std::string("Expected a Float32Array for ") + name);
  return v.As<Napi::Float32Array>();
}

}  // namespace

HostBuffer::HostBuffer(int64_t n)
    : data(static_cast<float*>(adn::host_allocator().allocate(adn::checked_bytes(size_t(n), sizeof(float))))),
      length(n),
      bytes(adn::host_allocator().block_bytes(data)) {}

HostBuffer::~HostBuffer() { adn::host_allocator().release(data); }

Napi::Function Storage::Define(Napi::Env env) {
  return DefineClass(env, "Storage",
                     {InstanceAccessor<&Storage::Length>("length"),
                      InstanceAccessor<&Storage::Bytes>("bytes"),
                      InstanceAccessor<&Storage::Disposed>("disposed"),
                      InstanceMethod<&Storage::Read>("read"),
                      InstanceMethod<&Storage::Write>("write"),
                      InstanceMethod<&Storage::Fill>("fill"),
                      InstanceMethod<&Storage::CopyFrom>("copyFrom"),
                      InstanceMethod<&Storage::Share>("share"),
                      InstanceMethod<&Storage::Dispose>("dispose")});
}

Storage* Storage::From(Napi::Env env, Napi::Value v) {
  if (!v.IsObject() || v.IsTypedArray()) return nullptr;
  bool tagged = false;
  if (napi_check_object_type_tag(env, v, &kStorageTag, &tagged) != napi_ok || !tagged) return nullptr;
  return Unwrap(v.As<Napi::Object>());
}

// new Storage(length): zeros; new Storage(Float32Array): a copy;
// new Storage(External<shared_ptr>): another reference (share()).
Storage::Storage(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Storage>(info) {
  Napi::Env env = info.Env();
  napi_type_tag_object(env, info.This(), &kStorageTag);
  Napi::Value arg = info[0];
  if (arg.IsExternal()) {
    buf_ = *arg.As<Napi::External<std::shared_ptr<HostBuffer>>>().Data();
    return;
  }
  try {
    if (arg.IsTypedArray()) {
      auto src = float32(env, arg, "data");
      buf_ = std::make_shared<HostBuffer>(int64_t(src.ElementLength()));
      if (src.ElementLength()) std::memcpy(buf_->data, src.Data(), src.ElementLength() * sizeof(float));
    } else {
      buf_ = std::make_shared<HostBuffer>(checked_length(env, arg));
      if (buf_->length) std::memset(buf_->data, 0, size_t(buf_->length) * sizeof(float));
    }
  } catch (const std::bad_alloc&) {
    throw error_with_code(env, Napi::RangeError::New(env, "addernet: out of memory for a tensor"), "ERR_ADDERNET_MEMORY");
  } catch (const std::length_error& e) {
    throw error_with_code(env, Napi::RangeError::New(env, std::string("addernet: ") + e.what()), "ERR_ADDERNET_MEMORY");
  }
  Napi::MemoryManagement::AdjustExternalMemory(env, int64_t(buf_->bytes));
}

Storage::~Storage() {
  // Finaliser: the tensor was never disposed. The block goes back to the
  // cache; V8's external-memory count is corrected in drop() when possible.
  if (buf_ && buf_.use_count() == 1) {
    int64_t ignored = 0;
    napi_adjust_external_memory(Env(), -int64_t(buf_->bytes), &ignored);
  }
}

HostBuffer& Storage::live(Napi::Env env) const {
  if (!buf_) throw_disposed(env);
  return *buf_;
}

void Storage::drop(Napi::Env env) {
  if (!buf_) return;
  if (buf_.use_count() == 1) Napi::MemoryManagement::AdjustExternalMemory(env, -int64_t(buf_->bytes));
  buf_.reset();
}

Napi::Value Storage::Length(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(live(info.Env()).length));
}

Napi::Value Storage::Bytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), buf_ ? double(buf_->bytes) : 0.0);
}

Napi::Value Storage::Disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !buf_);
}

// read(dst: Float32Array of exactly `length` elements): copies out.
Napi::Value Storage::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HostBuffer& b = live(env);
  auto dst = float32(env, info[0], "dst");
  if (int64_t(dst.ElementLength()) != b.length)
    throw_range(env, "Expected " + std::to_string(b.length) + " elements for dst but received " +
                         std::to_string(dst.ElementLength()));
  if (b.length) std::memcpy(dst.Data(), b.data, size_t(b.length) * sizeof(float));
  return env.Undefined();
}

// write(src: Float32Array, offset = 0): copies src into [offset, offset + src.length).
Napi::Value Storage::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HostBuffer& b = live(env);
  auto src = float32(env, info[0], "src");
  const int64_t offset = info[1].IsUndefined() ? 0 : checked_length(env, info[1]);
  const int64_t n = int64_t(src.ElementLength());
  if (offset > b.length || n > b.length - offset)
    throw_range(env, "Expected at most " + std::to_string(b.length - std::min(offset, b.length)) +
                         " elements for src but received " + std::to_string(n));
  if (n) std::memcpy(b.data + offset, src.Data(), size_t(n) * sizeof(float));
  return env.Undefined();
}

Napi::Value Storage::Fill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HostBuffer& b = live(env);
  if (!info[0].IsNumber()) throw_type(env, "Expected a number for value");
  const float v = float(info[0].As<Napi::Number>().DoubleValue());
  std::fill(b.data, b.data + b.length, v);
  return env.Undefined();
}

// copyFrom(other: Storage of the same length).
Napi::Value Storage::CopyFrom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HostBuffer& b = live(env);
  Storage* other = From(env, info[0]);
  if (!other) throw_type(env, "Expected a Storage for source");
  HostBuffer& o = other->live(env);
  if (o.length != b.length)
    throw_range(env, "Expected " + std::to_string(b.length) + " elements for source but received " + std::to_string(o.length));
  if (&o != &b && b.length) std::memcpy(b.data, o.data, size_t(b.length) * sizeof(float));
  return env.Undefined();
}

Napi::Value Storage::Share(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  live(env);
  auto ref = std::make_unique<std::shared_ptr<HostBuffer>>(buf_);
  Napi::Object obj = info.This().As<Napi::Object>().Get("constructor").As<Napi::Function>().New(
      {Napi::External<std::shared_ptr<HostBuffer>>::New(env, ref.get())});
  return obj;  // the new Storage copied the shared_ptr; ref is freed here
}

Napi::Value Storage::Dispose(const Napi::CallbackInfo& info) {
  drop(info.Env());
  return info.Env().Undefined();
}

namespace {

adn::CachingAllocator& allocator_for(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string device = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (device != "cpu")
    throw error_with_code(env, Napi::RangeError::New(env, "Expected \"cpu\" for device but received " +
                                                             (device.empty() ? std::string("no device name") : "\"" + device + "\"")),
                          "ERR_ADDERNET_DEVICE");
  return adn::host_allocator();
}

}  // namespace

Napi::Value MemoryInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  adn::CachingAllocator& a = allocator_for(info);
  const adn::AllocatorStats s = a.stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("device", a.device());
  o.Set("liveTensors", double(s.live_blocks));
  o.Set("liveBytes", double(s.live_bytes));
  o.Set("cachedBytes", double(s.cached_bytes));
  o.Set("peakBytes", double(s.peak_bytes));
  o.Set("cacheLimit", double(a.cache_limit()));
  o.Set("systemAllocations", double(s.system_allocations));
  o.Set("cacheHits", double(s.cache_hits));
  return o;
}

Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  allocator_for(info).empty_cache();
  return info.Env().Undefined();
}

Napi::Value SetCacheLimit(const Napi::CallbackInfo& info) {
  adn::CachingAllocator& a = allocator_for(info);
  const double v = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
  if (!(v >= 0 && v <= 9.0e15 && v == double(int64_t(v))))
    throw_option(info.Env(), "Expected an integer number of bytes >= 0 for bytes");
  a.set_cache_limit(int64_t(v));
  return info.Env().Undefined();
}

Napi::Value ResetPeakMemory(const Napi::CallbackInfo& info) {
  allocator_for(info).reset_peak();
  return info.Env().Undefined();
}

}  // namespace adn_binding
