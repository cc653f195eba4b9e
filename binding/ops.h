// The N-API entry points of the ops, by family; each family's glue is in
// binding/<family>.cc over cpp/<family>.cc. Every op takes tensors (Storage or
// typed arrays, binding/args.h), enqueues its kernel on the calling queue
// (binding/queue.h) and returns the task's ticket.
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>

#include "../cpp/addernet.h"

namespace adn_binding {

// ---- conv
// (x, w, bias|null, out, dims) -> ticket
Napi::Value Adder2dForward(const Napi::CallbackInfo& info);
Napi::Value Conv2dForward(const Napi::CallbackInfo& info);
// (x, w, gradOut, gradInput|null, gradWeight|null, gradBias|null, dims) -> ticket
Napi::Value Adder2dBackward(const Napi::CallbackInfo& info);
Napi::Value Conv2dBackward(const Napi::CallbackInfo& info);

// ---- quant
// (qx: Uint8Array, qw: Uint8Array, out: int32, dims, padValue) -> ticket; out = SAD
Napi::Value Adder2dU8Forward(const Napi::CallbackInfo& info);
// A quantized adder layer's constants (adn::QuantizedAdder), owned natively
// and shared with every queued kernel that uses them, so the filters are
// copied once (quantize or load), not per call.
class QuantizedAdderLayer : public Napi::ObjectWrap<QuantizedAdderLayer> {
 public:
  static Napi::Function Define(Napi::Env env);
  static QuantizedAdderLayer* From(Napi::Env env, Napi::Value v);
  explicit QuantizedAdderLayer(const Napi::CallbackInfo& info);
  ~QuantizedAdderLayer() override;
  // Null once disposed.
  std::shared_ptr<const adn::QuantizedAdder> layer() const { return layer_; }

 private:
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  std::shared_ptr<const adn::QuantizedAdder> layer_;
  int64_t bytes_ = 0;
};
// (x: float32, layer: QuantizedAdderLayer, out: float32, dims) -> ticket; the
// whole layer: x quantized on the fly, SAD, folded epilogue (queued).
Napi::Value QuantizedAdder2dForward(const Napi::CallbackInfo& info);

// ---- norm
// (x, gamma, beta, runningMean, runningVar, out, saveMean, saveInvStd, [n, c, hw],
//  training, momentum, eps) -> ticket; updates the running stats when training
Napi::Value BatchNormForward(const Napi::CallbackInfo& info);
// (x, gamma, gradOut, saveMean, saveInvStd, gradInput|null, gradGamma|null,
//  gradBeta|null, [n, c, hw]) -> ticket
Napi::Value BatchNormBackward(const Napi::CallbackInfo& info);

// ---- activation
// (x, out) / (y, gradOut, gradInput) / (a, b, out) -> ticket
Napi::Value ReluForward(const Napi::CallbackInfo& info);
Napi::Value ReluBackward(const Napi::CallbackInfo& info);
Napi::Value Add(const Napi::CallbackInfo& info);

// ---- pool
// dims = [n, c, h, w, kh, kw, sh, sw, ph, pw]
// (x, out, argmax, dims) -> ticket
Napi::Value MaxPool2dForward(const Napi::CallbackInfo& info);
// (gradOut, argmax, gradInput, [planes, inPlane, outPlane]) -> ticket
Napi::Value MaxPool2dBackward(const Napi::CallbackInfo& info);
// (x, out, dims) / (gradOut, gradInput, dims) -> ticket
Napi::Value AvgPool2dForward(const Napi::CallbackInfo& info);
Napi::Value AvgPool2dBackward(const Napi::CallbackInfo& info);

// ---- loss
// (logits, labels, gradLogits|null, [n, k]) -> { loss, correct }
Napi::Value SoftmaxCrossEntropy(const Napi::CallbackInfo& info);

// ---- optim
// (param, grad, momentumBuffer|null, lr, momentum, dampening, weightDecay,
//  nesterov, firstStep) -> ticket; in place
Napi::Value SgdUpdate(const Napi::CallbackInfo& info);
// (param, grad, expAvg, expAvgSq, maxExpAvgSq|null, step, lr, beta1, beta2,
//  eps, weightDecay, decoupled, amsgrad) -> ticket; in place
Napi::Value AdamUpdate(const Napi::CallbackInfo& info);
// (grad, out, eta) -> ticket
Napi::Value AdaptiveScale(const Napi::CallbackInfo& info);

}  // namespace adn_binding
