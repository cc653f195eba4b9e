#pragma once
#include <napi.h>

namespace adn_binding {
// () -> { isa, threads, cacheLimit, layerMemoryLimit, warnings }
Napi::Value BackendInfo(const Napi::CallbackInfo& info);
// (n) -> undefined
Napi::Value SetNumThreads(const Napi::CallbackInfo& info);
// ('scalar' | 'avx2' | 'avx512') -> undefined; for tests and benchmarks.
Napi::Value SetIsa(const Napi::CallbackInfo& info);
// () -> string[] of the paths this CPU supports
Napi::Value SupportedIsas(const Napi::CallbackInfo& info);
}  // namespace adn_binding
