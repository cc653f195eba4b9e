// Glue for the quantized adder layer (cpp/quant.cc). TypeScript validates
// first (lib/ops/quant.ts); this file re-checks the buffer lengths against the
// geometry and the pad byte's range, since either would be read out of bounds.
#include <cmath>
#include <memory>
#include <string>

#include "addernet.h"
#include "args.h"
#include "ops.h"
#include "queue.h"

namespace adn_binding {
namespace {

const napi_type_tag kLayerTag = {0x6164646572753862ULL, 0x71756164646572ULL};

// The elements of a typed array argument of `type` (any length).
template <typename T>
std::vector<T> copy_array(const Napi::CallbackInfo& info, size_t index, const char* name,
                          napi_typedarray_type type, const char* type_name) {
  Napi::Value v = info[index];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    throw_type(info.Env(), std::string("Expected ") + type_name + " for " + name + " but received " + received(v));
  auto arr = v.As<Napi::TypedArray>();
  const T* p = reinterpret_cast<const T*>(static_cast<const uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset());
  return std::vector<T>(p, p + arr.ElementLength());
}

}  // namespace

Napi::Value Adder2dU8Forward(const Napi::CallbackInfo& info) {
  const adn::Conv2dShape s = conv_shape(info, 3);
  const int64_t pad = integer(info, 4, "padValue");
  if (pad < 0 || pad > 255)
    throw_option(info.Env(), "Expected an integer from 0 to 255 for padValue but received " + std::to_string(pad));
  Launch k(info, "adder2dU8Forward");
  const uint8_t* qx = uint8_array(info, 0, "qx", s.input_size());
  const uint8_t* qw = uint8_array(info, 1, "qw", s.weight_size());
  k.host_array();  // plain Uint8Arrays: nothing keeps them alive once this call returns
  int32_t* out = k.out_int32(2, "out", s.output_size());
  const uint8_t pv = uint8_t(pad);
  return Napi::Number::New(info.Env(), double(k.run([=] { adn::adder2d_u8_forward(s, qx, qw, pv, out); })));
}

Napi::Function QuantizedAdderLayer::Define(Napi::Env env) {
  return DefineClass(env, "QuantizedAdderLayer",
                     {InstanceAccessor<&QuantizedAdderLayer::Disposed>("disposed"),
                      InstanceMethod<&QuantizedAdderLayer::Dispose>("dispose")});
}

// new QuantizedAdderLayer(qweight: Uint8Array, scale, zeroPoint, bits, mul: Float64Array, add: Float64Array):
// copies everything; the sizes are checked against each call's geometry.
QuantizedAdderLayer::QuantizedAdderLayer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<QuantizedAdderLayer>(info) {
  Napi::Env env = info.Env();
  napi_type_tag_object(env, info.This(), &kLayerTag);
  auto q = std::make_shared<adn::QuantizedAdder>();
  q->qweight = copy_array<uint8_t>(info, 0, "qweight", napi_uint8_array, "a Uint8Array");
  q->scale = number(info, 1, "scale");
  const int64_t z = integer(info, 2, "zeroPoint"), bits = integer(info, 3, "bits");
  q->mul = copy_array<double>(info, 4, "mul", napi_float64_array, "a Float64Array");
  q->add = copy_array<double>(info, 5, "add", napi_float64_array, "a Float64Array");
  if (bits < 1 || bits > 8 || z < 0 || z > (int64_t(1) << bits) - 1 || !(q->scale > 0) || !std::isfinite(q->scale))
    throw_option(env, "Expected a grid with bits 1..8, zeroPoint in [0, 2^bits - 1] and a finite scale > 0 but received bits " +
                          std::to_string(bits) + ", zeroPoint " + std::to_string(z));
  if (q->mul.size() != q->add.size())
    throw_range(env, "Expected mul and add of one length but received " + std::to_string(q->mul.size()) + " and " +
                         std::to_string(q->add.size()));
  q->zero_point = int(z);
  q->bits = int(bits);
  bytes_ = int64_t(q->qweight.size() + 16 * q->mul.size());
  Napi::MemoryManagement::AdjustExternalMemory(env, bytes_);
  layer_ = std::move(q);
}

QuantizedAdderLayer::~QuantizedAdderLayer() {
  if (layer_) Napi::MemoryManagement::AdjustExternalMemory(Env(), -bytes_);
}

QuantizedAdderLayer* QuantizedAdderLayer::From(Napi::Env env, Napi::Value v) {
  if (!v.IsObject() || v.IsTypedArray()) return nullptr;
  bool tagged = false;
  if (napi_check_object_type_tag(env, v, &kLayerTag, &tagged) != napi_ok || !tagged) return nullptr;
  return Unwrap(v.As<Napi::Object>());
}

Napi::Value QuantizedAdderLayer::Disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !layer_);
}

// Queued kernels keep their own reference: the memory goes when the last one ran.
Napi::Value QuantizedAdderLayer::Dispose(const Napi::CallbackInfo& info) {
  if (layer_) Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -bytes_);
  layer_.reset();
  return info.Env().Undefined();
}

Napi::Value QuantizedAdder2dForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const adn::Conv2dShape s = conv_shape(info, 3);
  QuantizedAdderLayer* layer = QuantizedAdderLayer::From(env, info[1]);
  if (!layer) throw_type(env, "Expected a QuantizedAdderLayer for layer but received " + received(info[1]));
  std::shared_ptr<const adn::QuantizedAdder> q = layer->layer();
  if (!q) throw error_with_code(env, Napi::Error::New(env, "addernet: the quantized layer was disposed"), "ERR_ADDERNET_DISPOSED");
  if (int64_t(q->qweight.size()) != s.weight_size() || int64_t(q->mul.size()) != s.t)
    throw_range(env, "Expected a layer of " + std::to_string(s.weight_size()) + " filter bytes and " + std::to_string(s.t) +
                         " channels for layer but received " + std::to_string(q->qweight.size()) + " and " +
                         std::to_string(q->mul.size()));
  Launch k(info, "quantizedAdder2dForward");
  const float* x = k.in(0, "x", s.input_size());
  float* y = k.out(2, "out", s.output_size());
  return Napi::Number::New(env, double(k.run([=] { adn::adder2d_u8_quantized_forward(s, x, *q, y); })));
}

}  // namespace adn_binding
