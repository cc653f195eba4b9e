#pragma once
#include <napi.h>

namespace adn_binding {
// (x, w, bias|null, out, dims) -> undefined
Napi::Value Adder2dForward(const Napi::CallbackInfo& info);
Napi::Value Conv2dForward(const Napi::CallbackInfo& info);
// (x, w, gradOut, gradInput|null, gradWeight|null, gradBias|null, dims) -> undefined
Napi::Value Adder2dBackward(const Napi::CallbackInfo& info);
Napi::Value Conv2dBackward(const Napi::CallbackInfo& info);
// (grad, out, eta) -> undefined
Napi::Value AdaptiveScale(const Napi::CallbackInfo& info);
}  // namespace adn_binding
