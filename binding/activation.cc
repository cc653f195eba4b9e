// Glue for ReLU and the residual add (cpp/activation.cc).
// TypeScript validates first (lib/ops/); this file re-checks every buffer
// against the sizes it is told, since a wrong length would be an out-of-bounds write.
#include <cmath>
#include <exception>
#include <string>

#include "addernet.h"
#include "args.h"
#include "ops.h"
#include "queue.h"

namespace adn_binding {

Napi::Value ReluForward(const Napi::CallbackInfo& info) {
  const int64_t n = float_length(info, 0, "x");
  Launch k(info, "reluForward");
  const float* x = k.in(0, "x", n);
  float* y = k.out(1, "out", n);
  return Napi::Number::New(info.Env(), double(k.run([=] { adn::relu_forward(x, y, n); })));
}

Napi::Value ReluBackward(const Napi::CallbackInfo& info) {
  const int64_t n = float_length(info, 0, "y");
  Launch k(info, "reluBackward");
  const float* y = k.in(0, "y", n);
  const float* gy = k.in(1, "gradOut", n);
  float* gx = k.out(2, "gradInput", n);
  return Napi::Number::New(info.Env(), double(k.run([=] { adn::relu_backward(y, gy, gx, n); })));
}

Napi::Value Add(const Napi::CallbackInfo& info) {
  const int64_t n = float_length(info, 0, "a");
  Launch k(info, "add");
  const float* a = k.in(0, "a", n);
  const float* b = k.in(1, "b", n);
  float* out = k.out(2, "out", n);
  return Napi::Number::New(info.Env(), double(k.run([=] { adn::add(a, b, out, n); })));
}

}  // namespace adn_binding
