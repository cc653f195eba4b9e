// Glue for the adder and convolution layers (cpp/conv.cc).
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
namespace {

typedef void (*ForwardFn)(const adn::Conv2dShape&, const float*, const float*, const float*, float*,
                          const adn::Epilogue&, adn::FilterVersion);
typedef void (*BackwardFn)(const adn::Conv2dShape&, const float*, const float*, const float*,
                           float*, float*, float*);

Napi::Value forward(const Napi::CallbackInfo& info, ForwardFn fn, const char* op) {
  const adn::Conv2dShape s = conv_shape(info, 4);
  Launch k(info, op);
  const float* x = k.in(0, "x", s.input_size());
  const float* w = k.in(1, "weight", s.weight_size());
  const float* b = k.in(2, "bias", s.t, true);
  float* y = k.out(3, "out", s.output_size());
  // Optional fused epilogue (cpp/addernet.h Epilogue): [5..8] BatchNorm
  // weight, bias, running mean, running var (all or none), [9] eps,
  // [10] residual, [11] relu.
  adn::Epilogue ep;
  if (info.Length() > 5 && !info[5].IsNull() && !info[5].IsUndefined()) {
    ep.bn_gamma = k.in(5, "bnWeight", s.t);
    ep.bn_beta = k.in(6, "bnBias", s.t);
    ep.bn_mean = k.in(7, "runningMean", s.t);
    ep.bn_var = k.in(8, "runningVar", s.t);
    ep.bn_eps = number(info, 9, "eps");
    if (!(ep.bn_eps >= 0.0) || !std::isfinite(ep.bn_eps)) throw_option(info.Env(), "eps must be a finite number >= 0");
  }
  if (info.Length() > 10) ep.residual = k.in(10, "residual", s.output_size(), true);
  if (info.Length() > 11) ep.relu = flag(info, 11, "relu");
  const adn::FilterVersion filters = k.contents(1);
  return Napi::Number::New(info.Env(), double(k.run([=] { fn(s, x, w, b, y, ep, filters); })));
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
