// Glue for batch norm (cpp/norm.cc).
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

Napi::Value BatchNormForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto d = int_dims(info, 8, 3, 1);
  const int64_t n = d[0], c = d[1], hw = d[2];
  check_elements(env, double(n) * double(c) * double(hw));
  const bool training = flag(info, 9, "training");
  Launch k(info, "batchNormForward");
  const float* x = k.in(0, "x", n * c * hw);
  const float* gamma = k.in(1, "weight", c);
  const float* beta = k.in(2, "bias", c);
  // Updated in training only: in evaluation a read (a predict then shares them with a queued training step).
  float* rmean = training ? k.inout(3, "runningMean", c) : const_cast<float*>(k.in(3, "runningMean", c));
  float* rvar = training ? k.inout(4, "runningVar", c) : const_cast<float*>(k.in(4, "runningVar", c));
  float* y = k.out(5, "out", n * c * hw);
  float* smean = k.out(6, "saveMean", c);
  float* sinvstd = k.out(7, "saveInvStd", c);
  const double momentum = number(info, 10, "momentum");
  const double eps = number(info, 11, "eps");
  return Napi::Number::New(env, double(k.run([=] {
    adn::batch_norm_forward(n, c, hw, x, gamma, beta, rmean, rvar, training, momentum, eps, y,
                            smean, sinvstd);
  })));
}

Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto d = int_dims(info, 8, 3, 1);
  const int64_t n = d[0], c = d[1], hw = d[2];
  check_elements(env, double(n) * double(c) * double(hw));
  Launch k(info, "batchNormBackward");
  const float* x = k.in(0, "x", n * c * hw);
  const float* gamma = k.in(1, "weight", c);
  const float* gy = k.in(2, "gradOut", n * c * hw);
  const float* smean = k.in(3, "saveMean", c);
  const float* sinvstd = k.in(4, "saveInvStd", c);
  float* gx = k.out(5, "gradInput", n * c * hw, true);
  float* gg = k.out(6, "gradWeight", c, true);
  float* gb = k.out(7, "gradBias", c, true);
  return Napi::Number::New(env, double(k.run([=] {
    adn::batch_norm_backward(n, c, hw, x, gamma, gy, smean, sinvstd, gx, gg, gb);
  })));
}

}  // namespace adn_binding
