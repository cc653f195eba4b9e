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

namespace adn_binding {

Napi::Error error_with_code(Napi::Env env, Napi::Error err, const char* code);
[[noreturn]] void throw_type(Napi::Env env, const std::string& msg);
[[noreturn]] void throw_range(Napi::Env env, const std::string& msg);
[[noreturn]] void throw_option(Napi::Env env, const std::string& msg);
[[noreturn]] void throw_shape(Napi::Env env, const std::string& msg);

// A tensor argument, a Storage (binding/tensor.h) or a Float32Array, with
// exactly `expected` elements. Returns null for an absent optional argument;
// a disposed Storage is ERR_ADDERNET_DISPOSED.
float* float_array(const Napi::CallbackInfo& info, size_t index, const char* name,
                   int64_t expected, bool optional);
// The element count of a tensor argument (Storage or Float32Array) that sets the size of the others.
int64_t float_length(const Napi::CallbackInfo& info, size_t index, const char* name);
int64_t integer(const Napi::CallbackInfo& info, size_t index, const char* name);
// What a wrong argument was, for "... but received X".
std::string received(const Napi::Value& v);
// An array of `count` integers >= min, each below 9e15 (exact in a double).
std::vector<int64_t> int_dims(const Napi::CallbackInfo& info, size_t index, uint32_t count, int64_t min);
// Refuses an element count that is not a safe integer (ERR_ADDERNET_SHAPE).
void check_elements(Napi::Env env, double elements);
// An Int32Array argument of exactly `expected` elements.
int32_t* int32_array(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t expected);
bool flag(const Napi::CallbackInfo& info, size_t index, const char* name);
double number(const Napi::CallbackInfo& info, size_t index, const char* name);
// dims = [n, c, h, w, t, kh, kw, sh, sw, ph, pw], validated.
adn::Conv2dShape conv_shape(const Napi::CallbackInfo& info, size_t index);

}  // namespace adn_binding
