// Argument checks the binding needs for memory safety: typed arrays of the
// right kind and length. Friendly validation happens in TypeScript first.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "addernet.h"

namespace adn_binding {

Napi::Error error_with_code(Napi::Env env, Napi::Error err, const char* code);
[[noreturn]] void throw_type(Napi::Env env, const std::string& msg);
[[noreturn]] void throw_range(Napi::Env env, const std::string& msg);
[[noreturn]] void throw_option(Napi::Env env, const std::string& msg);
// The active ISA, reading ADDERNET_ISA on first use; a bad value throws ERR_ADDERNET_ISA.
adn::Isa active_isa_or_throw(Napi::Env env);

// A Float32Array argument with exactly `expected` elements (or null when
// optional). Returns null for an absent optional argument.
float* float_array(const Napi::CallbackInfo& info, size_t index, const char* name,
                   int64_t expected, bool optional);
int64_t integer(const Napi::CallbackInfo& info, size_t index, const char* name);
double number(const Napi::CallbackInfo& info, size_t index, const char* name);
// dims = [n, c, h, w, t, kh, kw, sh, sw, ph, pw], validated.
adn::Conv2dShape conv_shape(const Napi::CallbackInfo& info, size_t index);

}  // namespace adn_binding
