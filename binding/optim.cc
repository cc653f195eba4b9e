// Glue for the in-place optimiser updates (cpp/optim.cc): SGD, Adam / AdamW,
// the adaptive learning-rate scale.
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

Napi::Value AdamUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t n = float_length(info, 0, "param");
  Launch k(info, "adamUpdate");
  float* param = k.inout(0, "param", n);
  const float* grad = k.in(1, "grad", n);
  float* exp_avg = k.inout(2, "expAvg", n);
  float* exp_avg_sq = k.inout(3, "expAvgSq", n);
  float* max_exp_avg_sq = k.inout(4, "maxExpAvgSq", n, true);
  const int64_t step = integer(info, 5, "step");
  adn::AdamOptions o;
  o.lr = number(info, 6, "lr");
  o.beta1 = number(info, 7, "beta1");
  o.beta2 = number(info, 8, "beta2");
  o.eps = number(info, 9, "eps");
  o.weight_decay = number(info, 10, "weightDecay");
  o.decoupled = flag(info, 11, "decoupled");
  o.amsgrad = flag(info, 12, "amsgrad");
  if (step < 1) throw_option(env, "Expected an integer >= 1 for step but received " + std::to_string(step));
  if (o.amsgrad && !max_exp_avg_sq)
    throw_type(env, "Expected a Float32Array for maxExpAvgSq (amsgrad is true) but received " + received(info[4]));
  return Napi::Number::New(env, double(k.run([=] {
    adn::adam_update(n, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, o);
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
