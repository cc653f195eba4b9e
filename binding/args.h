// Argument checks the binding needs for memory safety: typed arrays of the
// right kind and length. Friendly validation happens in TypeScript first.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "addernet.h"
#include "tensor.h"

namespace adn_binding {

Napi::Error error_with_code(Napi::Env env, Napi::Error err, const char* code);
[[noreturn]] void throw_type(Napi::Env env, const std::string& msg);
[[noreturn]] void throw_range(Napi::Env env, const std::string& msg);
[[noreturn]] void throw_option(Napi::Env env, const std::string& msg);
[[noreturn]] void throw_shape(Napi::Env env, const std::string& msg);

// A tensor argument of `dtype`: a Storage (binding/tensor.h; storage set) or
// a typed array of that element type (storage null), with exactly
// `expected` elements (any count when expected < 0). A disposed Storage is
// ERR_ADDERNET_DISPOSED, a Storage of another dtype ERR_ADDERNET_TYPE.
struct TensorArg {
  void* data;
  int64_t length;
  Storage* storage;
};
TensorArg tensor_arg(const Napi::CallbackInfo& info, size_t index, const char* name, Dtype dtype,
                     int64_t expected = -1);
// The element count of a float32 tensor argument that sets the size of the others.
int64_t float_length(const Napi::CallbackInfo& info, size_t index, const char* name);
int64_t integer(const Napi::CallbackInfo& info, size_t index, const char* name);
// What a wrong argument was, for "... but received X".
std::string received(const Napi::Value& v);
// An array of `count` integers >= min, each below 9e15 (exact in a double).
std::vector<int64_t> int_dims(const Napi::CallbackInfo& info, size_t index, uint32_t count, int64_t min);
// Refuses an element count that is not a safe integer (ERR_ADDERNET_SHAPE).
void check_elements(Napi::Env env, double elements);
// An Int32Array argument of exactly `expected` elements, used on this thread
// (a kernel's int32 tensors go through Launch, binding/queue.h).
int32_t* int32_array(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t expected);
// A Uint8Array argument of exactly `expected` elements (quantized tensors;
// the kernel must run before the call returns: Launch::host_array()).
const uint8_t* uint8_array(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t expected);
bool flag(const Napi::CallbackInfo& info, size_t index, const char* name);
double number(const Napi::CallbackInfo& info, size_t index, const char* name);
// dims = [n, c, h, w, t, kh, kw, sh, sw, ph, pw], validated.
adn::Conv2dShape conv_shape(const Napi::CallbackInfo& info, size_t index);
// dims = [n, c, h, w, kh, kw, sh, sw, ph, pw], validated.
adn::Pool2dShape pool_shape(const Napi::CallbackInfo& info, size_t index);

}  // namespace adn_binding
