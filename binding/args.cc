#include "args.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor.h"

namespace adn_binding {

Napi::Error error_with_code(Napi::Env env, Napi::Error err, const char* code) {
  err.Set("code", Napi::String::New(env, code));
  return err;
}

void throw_type(Napi::Env env, const std::string& msg) {
  throw error_with_code(env, Napi::TypeError::New(env, msg), "ERR_ADDERNET_TYPE");
}

void throw_range(Napi::Env env, const std::string& msg) {
  throw error_with_code(env, Napi::RangeError::New(env, msg), "ERR_ADDERNET_SIZE");
}

void throw_option(Napi::Env env, const std::string& msg) {
  throw error_with_code(env, Napi::RangeError::New(env, msg), "ERR_ADDERNET_OPTION");
}

void throw_shape(Napi::Env env, const std::string& msg) {
  throw error_with_code(env, Napi::RangeError::New(env, msg), "ERR_ADDERNET_SHAPE");
}

// Largest element count we accept: exact in a double and a JS array length.
constexpr double kMaxElements = 9.0e15;

// An array of `count` integers >= min whose product stays a safe element count.
std::vector<int64_t> int_dims(const Napi::CallbackInfo& info, size_t index, uint32_t count,
                              int64_t min) {
  Napi::Env env = info.Env();
  const std::string what = "Expected an array of " + std::to_string(count) + " integers >= " +
                           std::to_string(min) + " for dims";
  if (!info[index].IsArray()) throw_type(env, what);
  auto arr = info[index].As<Napi::Array>();
  if (arr.Length() != count) throw_range(env, what);
  std::vector<int64_t> d(count);
  for (uint32_t i = 0; i < count; ++i) {
    Napi::Value v = arr.Get(i);
    const double x = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(x) || x != std::floor(x) || x < double(min) || x >= kMaxElements)
      throw_type(env, what);
    d[i] = int64_t(x);
  }
  return d;
}

std::string received(const Napi::Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsUndefined()) return "undefined";
  if (v.IsTypedArray()) {
    static const char* names[] = {"Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array",
                                  "Uint16Array", "Int32Array", "Uint32Array", "Float32Array",
                                  "Float64Array", "BigInt64Array", "BigUint64Array"};
    const auto type = v.As<Napi::TypedArray>().TypedArrayType();
    return type <= napi_biguint64_array ? names[type] : "a typed array";
  }
  if (v.IsArray()) return "an array";
  if (v.IsNumber()) return "a number";
  if (v.IsBoolean()) return "a boolean";
  if (v.IsString()) return "a string";
  return "an object";
}

void check_elements(Napi::Env env, double elements) {
  if (!(elements < kMaxElements)) throw_shape(env, "addernet: tensor too large");
}

namespace {
// The data of a typed array of `type` with exactly `expected` elements.
void* typed_array(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t expected,
                  napi_typedarray_type type, const char* type_name) {
  Napi::Env env = info.Env();
  Napi::Value v = info[index];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    throw_type(env, std::string("Expected ") + type_name + " for " + name + " but received " + received(v));
  auto arr = v.As<Napi::TypedArray>();
  if (int64_t(arr.ElementLength()) != expected)
    throw_range(env, std::string("Expected ") + std::to_string(expected) + " elements for " +
                         name + " but received " + std::to_string(arr.ElementLength()));
  return static_cast<uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset();
}
}  // namespace

int32_t* int32_array(const Napi::CallbackInfo& info, size_t index, const char* name,
                     int64_t expected) {
  return static_cast<int32_t*>(typed_array(info, index, name, expected, napi_int32_array, "an Int32Array"));
}

const uint8_t* uint8_array(const Napi::CallbackInfo& info, size_t index, const char* name,
                           int64_t expected) {
  return static_cast<const uint8_t*>(typed_array(info, index, name, expected, napi_uint8_array, "a Uint8Array"));
}

bool flag(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (!info[index].IsBoolean())
    throw_type(info.Env(), std::string("Expected a boolean for ") + name + " but received " + received(info[index]));
  return info[index].As<Napi::Boolean>().Value();
}


namespace {
std::string with_article(Dtype d) { return std::string(d == Dtype::kInt32 ? "an " : "a ") + dtype_name(d); }
}  // namespace

TensorArg tensor_arg(const Napi::CallbackInfo& info, size_t index, const char* name, Dtype dtype,
                     int64_t expected) {
  Napi::Env env = info.Env();
  Napi::Value v = info[index];
  TensorArg t{nullptr, 0, Storage::From(env, v)};
  const napi_typedarray_type array_type = dtype == Dtype::kInt32 ? napi_int32_array : napi_float32_array;
  if (t.storage) {
    HostBuffer* b = t.storage->buffer();
    if (!b)
      throw error_with_code(env, Napi::Error::New(env, std::string("addernet: ") + name + " was disposed"),
                            "ERR_ADDERNET_DISPOSED");
    if (b->dtype != dtype)
      throw_type(env, "Expected " + with_article(dtype) + " tensor for " + name + " but received " +
                          with_article(b->dtype) + " tensor");
    t.data = b->data;
    t.length = b->length;
  } else if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == array_type) {
    auto arr = v.As<Napi::TypedArray>();
    t.data = static_cast<uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset();
    t.length = int64_t(arr.ElementLength());
  } else {
    throw_type(env, "Expected " + with_article(dtype) + " tensor Storage or a " +
                        (dtype == Dtype::kInt32 ? "Int32Array" : "Float32Array") + " for " + name +
                        " but received " + received(v));
  }
  if (expected >= 0 && t.length != expected)
    throw_range(env, std::string("Expected ") + std::to_string(expected) + " elements for " + name +
                         " but received " + std::to_string(t.length));
  return t;
}

int64_t float_length(const Napi::CallbackInfo& info, size_t index, const char* name) {
  return tensor_arg(info, index, name, Dtype::kFloat32).length;
}

double number(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = info[index];
  if (!v.IsNumber()) throw_type(info.Env(), std::string("Expected a number for ") + name + " but received " + received(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) throw_option(info.Env(), std::string("Expected a finite number for ") + name + " but received " + std::to_string(d));
  return d;
}

int64_t integer(const Napi::CallbackInfo& info, size_t index, const char* name) {
  double d = number(info, index, name);
  if (d != std::floor(d) || std::fabs(d) > 9.0e15)
    throw_option(info.Env(), std::string("Expected an integer for ") + name + " but received " + std::to_string(d));
  return int64_t(d);
}

adn::Conv2dShape conv_shape(const Napi::CallbackInfo& info, size_t index) {
  Napi::Env env = info.Env();
  if (!info[index].IsArray())
    throw_type(env, "Expected an array of 11 integers for dims but received " + received(info[index]));
  auto arr = info[index].As<Napi::Array>();
  if (arr.Length() != 11)
    throw error_with_code(env, Napi::RangeError::New(env, "Expected an array of 11 integers for dims but received " +
                                                              std::to_string(arr.Length()) + " entries"),
                          "ERR_ADDERNET_SHAPE");
  int64_t d[11];
  for (uint32_t i = 0; i < 11; ++i) {
    Napi::Value v = arr.Get(i);
    double x = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(x) || x != std::floor(x) || std::fabs(x) > 9.0e15)
      throw_type(env, "Expected an array of 11 integers for dims");
    d[i] = int64_t(x);
  }
  adn::Conv2dShape s{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10]};
  try {
    s.validate();
  } catch (const std::invalid_argument& e) {
    throw_shape(env, std::string("Invalid layer geometry: ") + e.what());
  }
  return s;
}

adn::Pool2dShape pool_shape(const Napi::CallbackInfo& info, size_t index) {
  const auto d = int_dims(info, index, 10, 0);
  adn::Pool2dShape s{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9]};
  try {
    s.validate();
  } catch (const std::invalid_argument& e) {
    throw_shape(info.Env(), std::string("Invalid pooling geometry: ") + e.what());
  }
  return s;
}

}  // namespace adn_binding
