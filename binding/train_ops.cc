// Glue for the training operations. TypeScript validates first; this file
// re-checks every buffer against the sizes it is told, since a wrong length
// here would be an out-of-bounds write.
#include "train_ops.h"

#include <cmath>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "../cpp/train_ops.h"  // the kernels' header of the same name
#include "args.h"
#include "queue.h"

namespace adn_binding {
namespace {

adn::Pool2dShape pool_shape(const Napi::CallbackInfo& info, size_t index) {
  const auto d = int_dims(info, index, 10, 0);
  adn::Pool2dShape s{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9]};
  try {
    s.validate();
  } catch (const std::invalid_argument& e) {
    throw_shape(info.Env(), std::string("Invalid pooling geometry: ") + e.what());
  }
  return s;
}

}  // namespace

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

Napi::Value SoftmaxCrossEntropy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto d = int_dims(info, 3, 2, 1);
  const int64_t n = d[0], k = d[1];
  check_elements(env, double(n) * double(k));
  Launch launch(info, "softmaxCrossEntropy");
  const float* logits = launch.in(0, "logits", n * k);
  // Copied: labels are small, and the kernel may run after this call returns.
  const int32_t* given = int32_array(info, 1, "labels", n);
  auto labels = std::make_shared<std::vector<int32_t>>(given, given + n);
  float* grad = launch.out(2, "gradLogits", n * k, true);
  // Checked here for the message; the kernel checks again before reading.
  for (int64_t r = 0; r < n; ++r)
    if ((*labels)[size_t(r)] < 0 || (*labels)[size_t(r)] >= k)
      throw_shape(env, "Expected class labels in [0, " + std::to_string(k) +
                           ") for labels but received " + std::to_string((*labels)[size_t(r)]) +
                           " at index " + std::to_string(r));
  // result: a 2-element storage for [loss, correct] (queued), or absent: wait and return them.
  const bool queued = !info[4].IsUndefined();
  float* result = queued ? launch.out(4, "result", 2) : nullptr;
  auto r = std::make_shared<adn::LossResult>();
  if (!queued) launch.host_array();
  const uint64_t ticket = launch.run([=] {
    *r = adn::softmax_cross_entropy(n, k, logits, labels->data(), grad);
    if (result) {
      result[0] = float(r->loss);
      result[1] = float(r->correct);
    }
  });
  if (queued) return Napi::Number::New(env, double(ticket));
  Napi::Object out = Napi::Object::New(env);
  out.Set("loss", Napi::Number::New(env, r->loss));
  out.Set("correct", Napi::Number::New(env, double(r->correct)));
  return out;
}

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

}  // namespace adn_binding
