#include "layers.h"

#include <exception>
#include <string>

#include "addernet.h"
#include "args.h"

namespace adn_binding {
namespace {

typedef void (*ForwardFn)(const adn::Conv2dShape&, const float*, const float*, const float*, float*);
typedef void (*BackwardFn)(const adn::Conv2dShape&, const float*, const float*, const float*,
                           float*, float*, float*);

Napi::Value forward(const Napi::CallbackInfo& info, ForwardFn fn) {
  const adn::Conv2dShape s = conv_shape(info, 4);
  const float* x = float_array(info, 0, "x", s.input_size(), false);
  const float* w = float_array(info, 1, "weight", s.weight_size(), false);
  const float* b = float_array(info, 2, "bias", s.t, true);
  float* y = float_array(info, 3, "out", s.output_size(), false);
  run_kernel(info.Env(), [&] { fn(s, x, w, b, y); });
  return info.Env().Undefined();
}

Napi::Value backward(const Napi::CallbackInfo& info, BackwardFn fn) {
  const adn::Conv2dShape s = conv_shape(info, 6);
  const float* x = float_array(info, 0, "x", s.input_size(), false);
  const float* w = float_array(info, 1, "weight", s.weight_size(), false);
  const float* gy = float_array(info, 2, "gradOut", s.output_size(), false);
  float* gx = float_array(info, 3, "gradInput", s.input_size(), true);
  float* gw = float_array(info, 4, "gradWeight", s.weight_size(), true);
  float* gb = float_array(info, 5, "gradBias", s.t, true);
  run_kernel(info.Env(), [&] { fn(s, x, w, gy, gx, gw, gb); });
  return info.Env().Undefined();
}

}  // namespace

Napi::Value Adder2dForward(const Napi::CallbackInfo& info) { return forward(info, adn::adder2d_forward); }
Napi::Value Conv2dForward(const Napi::CallbackInfo& info) { return forward(info, adn::conv2d_forward); }
Napi::Value Adder2dBackward(const Napi::CallbackInfo& info) { return backward(info, adn::adder2d_backward); }
Napi::Value Conv2dBackward(const Napi::CallbackInfo& info) { return backward(info, adn::conv2d_backward); }

Napi::Value AdaptiveScale(const Napi::CallbackInfo& info) {
  const int64_t n = float_length(info, 0, "grad");
  const float* g = float_array(info, 0, "grad", n, false);
  float* out = float_array(info, 1, "out", n, false);
  const double eta = number(info, 2, "eta");
  adn::adaptive_scale(g, n, float(eta), out);
  return info.Env().Undefined();
}

}  // namespace adn_binding
