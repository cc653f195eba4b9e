// Registration only: each feature's glue lives in its own file pair.
#include <napi.h>

#include "backend.h"
#include "layers.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using namespace adn_binding;
  exports.Set("adder2dForward", Napi::Function::New(env, Adder2dForward));
  exports.Set("adder2dBackward", Napi::Function::New(env, Adder2dBackward));
  exports.Set("conv2dForward", Napi::Function::New(env, Conv2dForward));
  exports.Set("conv2dBackward", Napi::Function::New(env, Conv2dBackward));
  exports.Set("adaptiveScale", Napi::Function::New(env, AdaptiveScale));
  exports.Set("backendInfo", Napi::Function::New(env, BackendInfo));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa));
  exports.Set("supportedIsas", Napi::Function::New(env, SupportedIsas));
  return exports;
}

NODE_API_MODULE(addernet, Init)
