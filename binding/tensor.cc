#include "tensor.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "../cpp/allocator.h"
#include "../cpp/checked_size.h"
#include "../cpp/queue.h"
#include "args.h"
#include "queue.h"

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

constexpr size_t kElementBytes = 4;  // float32 and int32 alike

napi_typedarray_type array_type(Dtype d) { return d == Dtype::kInt32 ? napi_int32_array : napi_float32_array; }

// A host array of the storage's element type (read, write).
Napi::TypedArray typed_array(Napi::Env env, const Napi::Value& v, Dtype dtype, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != array_type(dtype))
    throw_type(env, std::string("Expected ") + (dtype == Dtype::kInt32 ? "an Int32Array" : "a Float32Array") + " for " +
                        name + " (the storage is " + dtype_name(dtype) + ") but received " + received(v));
  return v.As<Napi::TypedArray>();
}

void* elements_of(const Napi::TypedArray& a) {
  return static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
}

Napi::TypedArray new_array(Napi::Env env, Dtype dtype, size_t n, Napi::ArrayBuffer ab) {
  if (dtype == Dtype::kInt32) return Napi::Int32Array::New(env, n, ab, 0);
  return Napi::Float32Array::New(env, n, ab, 0);
}

Dtype parse_dtype(Napi::Env env, const Napi::Value& v) {
  if (v.IsUndefined()) return Dtype::kFloat32;
  const std::string name = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (name == "float32") return Dtype::kFloat32;
  if (name == "int32") return Dtype::kInt32;
  throw_type(env, "Expected \"float32\" or \"int32\" for dtype but received " + received(v));
}

}  // namespace

const char* dtype_name(Dtype d) { return d == Dtype::kInt32 ? "int32" : "float32"; }

namespace {
std::atomic<uint64_t> g_next_buffer_id{1};
}

HostBuffer::HostBuffer(Napi::Env env, int64_t n, bool host_write, Dtype type)
    : length(n), dtype(type), id(g_next_buffer_id.fetch_add(1)) {
  // Not in the initialiser list: write and use are initialised after data,
  // and would reset the tickets a reused block passes on.
  data = stream_allocate(env, adn::checked_bytes(size_t(n), kElementBytes), host_write, write);
  bytes = adn::host_allocator().block_bytes(data);
  use = write;
}

HostBuffer::~HostBuffer() {
  adn::forget_packed_filters(id);
  if (owns_block) adn::host_allocator().release(data);
}

std::shared_ptr<const Failure> HostBuffer::failure() const {
  std::lock_guard<std::mutex> g(mutex_);
  return failure_;
}

void HostBuffer::set_failure(std::shared_ptr<const Failure> f) {
  std::lock_guard<std::mutex> g(mutex_);
  failure_ = std::move(f);
}

Napi::Function Storage::Define(Napi::Env env) {
  return DefineClass(env, "Storage",
                     {InstanceAccessor<&Storage::Length>("length"),
                      InstanceAccessor<&Storage::DtypeName>("dtype"),
                      InstanceAccessor<&Storage::Bytes>("bytes"),
                      InstanceAccessor<&Storage::Disposed>("disposed"),
                      InstanceMethod<&Storage::Read>("read"),
                      InstanceMethod<&Storage::ReadAsync>("readAsync"),
                      InstanceMethod<&Storage::Write>("write"),
                      InstanceMethod<&Storage::Fill>("fill"),
                      InstanceMethod<&Storage::CopyFrom>("copyFrom"),
                      InstanceMethod<&Storage::Share>("share"),
                      InstanceMethod<&Storage::Swap>("swap"),
                      InstanceMethod<&Storage::Dispose>("dispose")});
}

Storage* Storage::From(Napi::Env env, Napi::Value v) {
  if (!v.IsObject() || v.IsTypedArray()) return nullptr;
  bool tagged = false;
  if (napi_check_object_type_tag(env, v, &kStorageTag, &tagged) != napi_ok || !tagged) return nullptr;
  return Unwrap(v.As<Napi::Object>());
}

// new Storage(length[, zero = true[, dtype = "float32"]]): zeros;
// new Storage(Float32Array | Int32Array): a copy, of that dtype;
// new Storage(External<shared_ptr>): another reference (share()).
Storage::Storage(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Storage>(info) {
  Napi::Env env = info.Env();
  napi_type_tag_object(env, info.This(), &kStorageTag);
  Napi::Value arg = info[0];
  if (arg.IsExternal()) {
    adopt(env, *arg.As<Napi::External<std::shared_ptr<HostBuffer>>>().Data());
    return;
  }
  std::shared_ptr<HostBuffer> b;
  try {
    if (arg.IsTypedArray()) {
      // Copied on this thread: a host write, so the block is one no queued kernel uses (stream_allocate).
      const Dtype dtype = arg.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array ? Dtype::kInt32 : Dtype::kFloat32;
      auto src = typed_array(env, arg, dtype, "data");
      b = std::make_shared<HostBuffer>(env, int64_t(src.ElementLength()), true, dtype);
      if (src.ElementLength()) std::memcpy(b->data, elements_of(src), src.ElementLength() * kElementBytes);
    } else {
      // new Storage(n, false): left as the allocator gives it, for a kernel
      // output (every kernel writes its whole output; the native tests
      // poison outputs to prove it).
      const bool zero = !(info[1].IsBoolean() && !info[1].As<Napi::Boolean>().Value());
      const int64_t n = checked_length(env, arg);
      b = std::make_shared<HostBuffer>(env, n, zero, parse_dtype(env, info[2]));
      if (zero && b->length) std::memset(b->data, 0, size_t(b->length) * kElementBytes);
    }
  } catch (const std::bad_alloc&) {
    throw error_with_code(env, Napi::RangeError::New(env, "addernet: out of memory for a tensor"), "ERR_ADDERNET_MEMORY");
  } catch (const std::length_error& e) {
    throw error_with_code(env, Napi::RangeError::New(env, std::string("addernet: ") + e.what()), "ERR_ADDERNET_MEMORY");
  }
  adopt(env, std::move(b));
}

// V8 is told a block's bytes while any JS Storage holds it (queued tasks may
// hold it a little longer; they are not counted).
void Storage::adopt(Napi::Env env, std::shared_ptr<HostBuffer> b) {
  buf_ = std::move(b);
  if (buf_->js_refs.fetch_add(1) == 0) Napi::MemoryManagement::AdjustExternalMemory(env, int64_t(buf_->bytes));
}

// Finaliser of a tensor that was never disposed.
Storage::~Storage() { drop(Env()); }

HostBuffer& Storage::live(Napi::Env env) const {
  if (!buf_) throw_disposed(env);
  return *buf_;
}

// The last JS reference hands the block to stream-ordered reuse. The C call,
// not the throwing C++ wrapper: this also runs in the finaliser.
void Storage::drop(Napi::Env env) {
  if (!buf_) return;
  if (buf_->js_refs.fetch_sub(1) == 1) {
    int64_t ignored = 0;
    napi_adjust_external_memory(env, -int64_t(buf_->bytes), &ignored);
    buf_->owns_block = false;
    stream_release(env, *buf_);
  }
  buf_.reset();
}

void Storage::on_queue(Napi::Env env, std::function<void()> fn, bool check_failure) {
  auto failed = std::make_shared<std::shared_ptr<const Failure>>();
  auto task = [b = buf_, fn = std::move(fn), failed, check_failure] {
    if (check_failure && (*failed = b->failure())) return;
    fn();
  };
  const Ticket t = check_failure ? submit(env, {buf_}, {}, std::move(task)) : submit(env, {}, {buf_}, std::move(task));
  t.queue->wait(t.ticket);
  if (*failed) throw failure_error(env, **failed);
}

Napi::Value Storage::Length(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(live(info.Env()).length));
}

Napi::Value Storage::DtypeName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), dtype_name(live(info.Env()).dtype));
}

Napi::Value Storage::Bytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), buf_ ? double(buf_->bytes) : 0.0);
}

Napi::Value Storage::Disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !buf_);
}

// read(dst: Float32Array (Int32Array for int32) of exactly `length` elements): copies out.
Napi::Value Storage::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HostBuffer& b = live(env);
  auto dst = typed_array(env, info[0], b.dtype, "dst");
  if (int64_t(dst.ElementLength()) != b.length)
    throw_range(env, "Expected " + std::to_string(b.length) + " elements for dst but received " +
                         std::to_string(dst.ElementLength()));
  void* out = elements_of(dst);
  if (written(env, b)) {  // every writer has run: read now, behind nothing else
    if (auto f = b.failure()) throw failure_error(env, *f);
    if (b.length) std::memcpy(out, b.data, size_t(b.length) * kElementBytes);
    return env.Undefined();
  }
  // This thread is blocked until the copy is done, so dst stays where it is.
  on_queue(env, [&b, out] { if (b.length) std::memcpy(out, b.data, size_t(b.length) * kElementBytes); }, true);
  return env.Undefined();
}

// readAsync(): Promise<Float32Array> (Int32Array for int32), resolved on this thread once the
// kernels writing this storage have run (at once when they have; else by a
// copy queued after them); rejected with the failure of a kernel it depends on.
Napi::Value Storage::ReadAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HostBuffer& b = live(env);
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  // The destination lives off the V8 heap and is pinned by a reference until resolved.
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, size_t(b.length) * kElementBytes);
  auto pinned = std::make_shared<Napi::Reference<Napi::ArrayBuffer>>(Napi::Persistent(ab));
  void* out = ab.Data();
  const Dtype dtype = b.dtype;
  if (written(env, b)) {  // every writer has run: copy now, behind nothing else
    if (auto f = b.failure()) {
      deferred->Reject(failure_error(env, *f).Value());
    } else {
      if (b.length) std::memcpy(out, b.data, size_t(b.length) * kElementBytes);
      deferred->Resolve(new_array(env, dtype, size_t(b.length), ab));
    }
    return deferred->Promise();
  }
  auto tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                            "addernet.readAsync", 0, 1);
  submit(env, {buf_}, {}, [buf = buf_, out, dtype, tsfn, deferred, pinned]() mutable {
    auto f = buf->failure();
    const int64_t n = buf->length;
    if (!f && n) std::memcpy(out, buf->data, size_t(n) * kElementBytes);
    buf.reset();  // before resolving: the reader may dispose and count live tensors at once
    tsfn.BlockingCall([f, deferred, pinned, n, dtype](Napi::Env env, Napi::Function) {
      if (f) deferred->Reject(failure_error(env, *f).Value());
      else deferred->Resolve(new_array(env, dtype, size_t(n), pinned->Value()));
      pinned->Reset();
    });
    tsfn.Release();
  });
  return deferred->Promise();
}

// write(src: Float32Array (Int32Array for int32), offset = 0): copies src into [offset, offset + src.length).
Napi::Value Storage::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HostBuffer& b = live(env);
  auto src = typed_array(env, info[0], b.dtype, "src");
  const int64_t offset = info[1].IsUndefined() ? 0 : checked_length(env, info[1]);
  const int64_t n = int64_t(src.ElementLength());
  if (offset > b.length || n > b.length - offset)
    throw_range(env, "Expected at most " + std::to_string(b.length - std::min(offset, b.length)) +
                         " elements for src but received " + std::to_string(n));
  const void* from = elements_of(src);
  on_queue(env, [&b, from, offset, n] {
    if (n) std::memcpy(static_cast<uint8_t*>(b.data) + size_t(offset) * kElementBytes, from, size_t(n) * kElementBytes);
  }, false);
  return env.Undefined();
}

Napi::Value Storage::Fill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HostBuffer& b = live(env);
  if (!info[0].IsNumber()) throw_type(env, "Expected a number for value but received " + received(info[0]));
  const double v = info[0].As<Napi::Number>().DoubleValue();
  if (b.dtype == Dtype::kInt32) {
    if (!(v >= -2147483648.0 && v <= 2147483647.0 && v == double(int64_t(v))))
      throw_range(env, "Expected an integer from -2^31 to 2^31 - 1 for value (the storage is int32) but received " +
                           std::to_string(v));
    int32_t* p = static_cast<int32_t*>(b.data);
    on_queue(env, [p, n = b.length, i = int32_t(v)] { std::fill(p, p + n, i); }, false);
  } else {
    float* p = static_cast<float*>(b.data);
    on_queue(env, [p, n = b.length, f = float(v)] { std::fill(p, p + n, f); }, false);
  }
  return env.Undefined();
}

Storage* Storage::peer(Napi::Env env, const Napi::Value& v, const char* name) const {
  HostBuffer& b = live(env);
  Storage* other = From(env, v);
  if (!other) throw_type(env, std::string("Expected a Storage for ") + name);
  HostBuffer& o = other->live(env);
  if (o.dtype != b.dtype)
    throw_type(env, std::string("Expected a Storage of dtype ") + dtype_name(b.dtype) + " for " + name + " but received one of " + dtype_name(o.dtype));
  if (o.length != b.length)
    throw_range(env, "Expected " + std::to_string(b.length) + " elements for " + name + " but received " + std::to_string(o.length));
  return other;
}

// copyFrom(other: Storage of the same length and dtype).
Napi::Value Storage::CopyFrom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Storage* other = peer(env, info[0], "source");
  // Queued like a kernel: it reads `other` after its writers and passes their failure on.
  auto src = other->shared();
  submit(env, {src}, {buf_}, [src, dst = buf_] {
    dst->set_failure(src->failure());
    if (src != dst && dst->length) std::memcpy(dst->data, src->data, size_t(dst->length) * kElementBytes);
  });
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

// swap(other: Storage of the same length and dtype): exchanges the two storages'
// blocks. Queued tasks keep the blocks they were given; model.predict runs
// on a snapshot of the weights this way while fit() updates them.
Napi::Value Storage::Swap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Storage* other = peer(env, info[0], "other");
  buf_.swap(other->buf_);
  return env.Undefined();
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
  stream_flush(env);
  const adn::AllocatorStats s = a.stats();
  // Blocks no tensor holds any more, waiting for their last queued tasks
  // (a read that has already resolved may not have been counted done yet),
  // are the allocator's but no tensor's.
  const StreamPending pending = stream_pending(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("device", a.device());
  o.Set("liveTensors", double(s.live_blocks - pending.blocks));
  o.Set("liveBytes", double(s.live_bytes - pending.bytes));
  o.Set("cachedBytes", double(s.cached_bytes));
  o.Set("peakBytes", double(s.peak_bytes));
  o.Set("cacheLimit", double(a.cache_limit()));
  o.Set("systemAllocations", double(s.system_allocations));
  o.Set("cacheHits", double(s.cache_hits));
  return o;
}

Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  adn::CachingAllocator& a = allocator_for(info);
  stream_flush(info.Env());  // blocks the queue has passed go to the cache first, then to the system
  a.empty_cache();
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
