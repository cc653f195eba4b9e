// Glue for max and average pooling (cpp/pool.cc).
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

Napi::Value MaxPool2dForward(const Napi::CallbackInfo& info) {
  const adn::Pool2dShape s = pool_shape(info, 3);
  Launch k(info, "maxPool2dForward");
  const float* x = k.in(0, "x", s.input_size());
  float* y = k.out(1, "out", s.output_size());
  int32_t* argmax = k.out_int32(2, "argmax", s.output_size());
  return Napi::Number::New(info.Env(), double(k.run([=] { adn::max_pool2d_forward(s, x, y, argmax); })));
}

Napi::Value MaxPool2dBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto d = int_dims(info, 3, 3, 1);
  const int64_t planes = d[0], in_plane = d[1], out_plane = d[2];
  check_elements(env, double(planes) * double(in_plane));
  check_elements(env, double(planes) * double(out_plane));
  Launch k(info, "maxPool2dBackward");
  const float* gy = k.in(0, "gradOut", planes * out_plane);
  const int32_t* argmax = k.in_int32(1, "argmax", planes * out_plane);
  float* gx = k.out(2, "gradInput", planes * in_plane);
  // The kernel checks each argmax against the plane before writing through it.
  return Napi::Number::New(env, double(k.run([=] { adn::max_pool2d_backward(planes, in_plane, out_plane, gy, argmax, gx); })));
}

Napi::Value AvgPool2dForward(const Napi::CallbackInfo& info) {
  const adn::Pool2dShape s = pool_shape(info, 2);
  Launch k(info, "avgPool2dForward");
  const float* x = k.in(0, "x", s.input_size());
  float* y = k.out(1, "out", s.output_size());
  return Napi::Number::New(info.Env(), double(k.run([=] { adn::avg_pool2d_forward(s, x, y); })));
}

Napi::Value AvgPool2dBackward(const Napi::CallbackInfo& info) {
  const adn::Pool2dShape s = pool_shape(info, 2);
  Launch k(info, "avgPool2dBackward");
  const float* gy = k.in(0, "gradOut", s.output_size());
  float* gx = k.out(1, "gradInput", s.input_size());
  return Napi::Number::New(info.Env(), double(k.run([=] { adn::avg_pool2d_backward(s, gy, gx); })));
}

}  // namespace adn_binding
