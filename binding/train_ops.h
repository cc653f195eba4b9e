#pragma once
#include <napi.h>

namespace adn_binding {
// (x, gamma, beta, runningMean, runningVar, out, saveMean, saveInvStd, [n, c, hw],
//  training, momentum, eps) -> undefined; updates the running stats when training
Napi::Value BatchNormForward(const Napi::CallbackInfo& info);
// (x, gamma, gradOut, saveMean, saveInvStd, gradInput|null, gradGamma|null,
//  gradBeta|null, [n, c, hw]) -> undefined
Napi::Value BatchNormBackward(const Napi::CallbackInfo& info);
// (x, out) / (y, gradOut, gradInput) / (a, b, out) -> undefined
Napi::Value ReluForward(const Napi::CallbackInfo& info);
Napi::Value ReluBackward(const Napi::CallbackInfo& info);
Napi::Value Add(const Napi::CallbackInfo& info);
// dims = [n, c, h, w, kh, kw, sh, sw, ph, pw]
// (x, out, argmax, dims) -> undefined
Napi::Value MaxPool2dForward(const Napi::CallbackInfo& info);
// (gradOut, argmax, gradInput, [planes, inPlane, outPlane]) -> undefined
Napi::Value MaxPool2dBackward(const Napi::CallbackInfo& info);
// (x, out, dims) / (gradOut, gradInput, dims) -> undefined
Napi::Value AvgPool2dForward(const Napi::CallbackInfo& info);
Napi::Value AvgPool2dBackward(const Napi::CallbackInfo& info);
// (logits, labels, gradLogits|null, [n, k]) -> { loss, correct }
Napi::Value SoftmaxCrossEntropy(const Napi::CallbackInfo& info);
// (param, grad, momentumBuffer|null, lr, momentum, dampening, weightDecay,
//  nesterov, firstStep) -> undefined; in place
Napi::Value SgdUpdate(const Napi::CallbackInfo& info);
}  // namespace adn_binding
