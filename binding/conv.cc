// Glue for the adder and convolution layers (cpp/conv.cc).
// TypeScript validates first (lib/ops/); this file re-checks every buffer
// against the sizes it is told, since a wrong length would be an out-of-bounds write.
#include <exception>
#include <string>

#include "addernet.h"
#include "args.h"
#include "ops.h"
#include "queue.h"

namespace adn_binding {
namespace {

typedef void (*ForwardFn)(const adn::Conv2dShape&, const float*, const float*, const float*, float*);
typedef void (*BackwardFn)(const adn::Conv2dShape&, const float*, const float*, const float*,
                           float*, float*, float*);

Napi::Value forward(const Napi::CallbackInfo& info, ForwardFn fn, const char* op) {
  const adn::Conv2dShape s = conv_shape(info, 4);
  Launch k(info, op);
  const float* x = k.in(0, "x", s.input_size());
  const float* w = k.in(1, "weight", s.weight_size());
  const float* b = k.in(2, "bias", s.t, true);
  float* y = k.out(3, "out", s.output_size());
  return Napi::Number::New(info.Env(), double(k.run([=] { fn(s, x, w, b, y); })));
}

Napi::Value backward(const Napi::CallbackInfo& info, BackwardFn fn, const char* op) {
  const adn::Conv2dShape s = conv_shape(info, 6);
  Launch k(info, op);
  const float* x = k.in(0, "x", s.input_size());
  const float* w = k.in(1, "weight", s.weight_size());
  const float* gy = k.in(2, "gradOut", s.output_size());
  float* gx = k.out(3, "gradInput", s.input_size(), true);
  float* gw = k.out(4, "gradWeight", s.weight_size(), true);
  float* gb = k.out(5, "gradBias", s.t, true);
  return Napi::Number::New(info.Env(), double(k.run([=] { fn(s, x, w, gy, gx, gw, gb); })));
}

}  // namespace

Napi::Value Adder2dForward(const Napi::CallbackInfo& info) { return forward(info, adn::adder2d_forward, "adder2dForward"); }
Napi::Value Conv2dForward(const Napi::CallbackInfo& info) { return forward(info, adn::conv2d_forward, "conv2dForward"); }
Napi::Value Adder2dBackward(const Napi::CallbackInfo& info) { return backward(info, adn::adder2d_backward, "adder2dBackward"); }
Napi::Value Conv2dBackward(const Napi::CallbackInfo& info) { return backward(info, adn::conv2d_backward, "conv2dBackward"); }

}  // namespace adn_binding
