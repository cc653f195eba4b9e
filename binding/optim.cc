// Glue for the in-place optimiser updates (cpp/optim.cc).
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

Napi::Value SgdUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t n = float_length(info, 0, "param");
  Launch k(info, "sgdUpdate");
  float* param = k.inout(0, "param", n);
  const float* grad = k.in(1, "grad", n);
  float* buf = k.inout(2, "momentumBuffer", n, true);
  const double lr = number(info, 3, "lr");
  const double momentum = number(info, 4, "momentum");
  const double dampening = number(info, 5, "dampening");
  const double weight_decay = number(info, 6, "weightDecay");
  const bool nesterov = flag(info, 7, "nesterov");
  const bool first_step = flag(info, 8, "firstStep");
  if (momentum != 0.0 && !buf)
    throw_type(env, "Expected a Float32Array for momentumBuffer (momentum is not 0) but received " + received(info[2]));
  return Napi::Number::New(env, double(k.run([=] {
    adn::sgd_update(n, param, grad, buf, lr, momentum, dampening, weight_decay, nesterov,
                    first_step);
  })));
}

Napi::Value AdaptiveScale(const Napi::CallbackInfo& info) {
  const int64_t n = float_length(info, 0, "grad");
  const double eta = number(info, 2, "eta");
  Launch k(info, "adaptiveScale");
  const float* g = k.in(0, "grad", n);
  float* out = k.out(1, "out", n);
  return Napi::Number::New(info.Env(), double(k.run([=] { adn::adaptive_scale(g, n, float(eta), out); })));
}

}  // namespace adn_binding
