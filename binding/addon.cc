// Registration only: each feature's glue lives in its own file pair.
#include <napi.h>

#include "backend.h"
#include "ops.h"
#include "queue.h"
#include "tensor.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using namespace adn_binding;
  exports.Set("adder2dForward", Napi::Function::New(env, Adder2dForward));
  exports.Set("adder2dBackward", Napi::Function::New(env, Adder2dBackward));
  exports.Set("conv2dForward", Napi::Function::New(env, Conv2dForward));
  exports.Set("conv2dBackward", Napi::Function::New(env, Conv2dBackward));
  exports.Set("adder2dU8Forward", Napi::Function::New(env, Adder2dU8Forward));
  exports.Set("QuantizedAdderLayer", QuantizedAdderLayer::Define(env));
  exports.Set("quantizedAdder2dForward", Napi::Function::New(env, QuantizedAdder2dForward));
  exports.Set("adaptiveScale", Napi::Function::New(env, AdaptiveScale));
  exports.Set("batchNormForward", Napi::Function::New(env, BatchNormForward));
  exports.Set("batchNormBackward", Napi::Function::New(env, BatchNormBackward));
  exports.Set("reluForward", Napi::Function::New(env, ReluForward));
  exports.Set("reluBackward", Napi::Function::New(env, ReluBackward));
  exports.Set("add", Napi::Function::New(env, Add));
  exports.Set("maxPool2dForward", Napi::Function::New(env, MaxPool2dForward));
  exports.Set("maxPool2dBackward", Napi::Function::New(env, MaxPool2dBackward));
  exports.Set("avgPool2dForward", Napi::Function::New(env, AvgPool2dForward));
  exports.Set("avgPool2dBackward", Napi::Function::New(env, AvgPool2dBackward));
  exports.Set("softmaxCrossEntropy", Napi::Function::New(env, SoftmaxCrossEntropy));
  exports.Set("sgdUpdate", Napi::Function::New(env, SgdUpdate));
  exports.Set("adamUpdate", Napi::Function::New(env, AdamUpdate));
  exports.Set("Storage", Storage::Define(env));
  exports.Set("memoryInfo", Napi::Function::New(env, MemoryInfo));
  exports.Set("emptyCache", Napi::Function::New(env, EmptyCache));
  exports.Set("setCacheLimit", Napi::Function::New(env, SetCacheLimit));
  exports.Set("resetPeakMemory", Napi::Function::New(env, ResetPeakMemory));
  exports.Set("setQueue", Napi::Function::New(env, SetQueue));
  exports.Set("backendInfo", Napi::Function::New(env, BackendInfo));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa));
  exports.Set("supportedIsas", Napi::Function::New(env, SupportedIsas));
  return exports;
}

NODE_API_MODULE(addernet, Init)
