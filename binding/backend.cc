#include "backend.h"

#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "addernet.h"
#include "args.h"

namespace adn_binding {

// glibc serves every allocation above 32 MiB (a layer's activations, say)
// with fresh mmap pages and unmaps them on free, so each training step or
// forward pays a page fault per 4 KiB of output: on a VM that is slower than
// the kernel that fills it (bench/malloc.ts: a 51 MB output, 250 ms -> 72 ms
// at 2 threads). Serving such blocks from the heap and keeping freed memory
// there makes the next tensor of that size reuse mapped pages. Skipped when
// ADDERNET_MALLOC_TUNING=0 or when the user tunes malloc with its MALLOC_*_
// environment variables.
bool TuneAllocator() {
  static bool tuned = false;
  static std::once_flag once;
  std::call_once(once, [] {
#if defined(__GLIBC__)
    const char* opt = std::getenv("ADDERNET_MALLOC_TUNING");
    if (opt && std::string(opt) == "0") return;
    for (const char* var : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"})
      if (std::getenv(var)) return;
    tuned = mallopt(M_MMAP_THRESHOLD, 1 << 30) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 &&
            mallopt(M_TOP_PAD, 64 << 20) == 1;
#endif
  });
  return tuned;
}

Napi::Value BackendInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("isa", adn::isa_name(adn::active_isa()));
  o.Set("threads", adn::num_threads());
  o.Set("mallocTuned", TuneAllocator());
  o.Set("layerMemoryLimit", double(adn::layer_memory_limit()));
  Napi::Array warnings = Napi::Array::New(env);
  const std::string all = adn::environment_warnings();
  for (size_t begin = 0, i = 0; begin < all.size(); ++i) {
    size_t end = all.find('\n', begin);
    if (end == std::string::npos) end = all.size();
    warnings.Set(uint32_t(i), all.substr(begin, end - begin));
    begin = end + 1;
  }
  o.Set("warnings", warnings);
  return o;
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  const int64_t n = integer(info, 0, "threads");
  if (n < 1 || n > adn::kMaxThreads)
    throw_option(info.Env(), "Expected an integer from 1 to " + std::to_string(adn::kMaxThreads) +
                                 " for threads but received " + std::to_string(n));
  adn::set_num_threads(int(n));
  return info.Env().Undefined();
}

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw_type(env, "Expected a string for isa");
  try {
    adn::set_isa(adn::parse_isa(info[0].As<Napi::String>()));
  } catch (const std::exception& e) {
    throw error_with_code(env, Napi::Error::New(env, e.what()), "ERR_ADDERNET_ISA");
  }
  return env.Undefined();
}

Napi::Value SupportedIsas(const Napi::CallbackInfo& info) {
  Napi::Array out = Napi::Array::New(info.Env());
  uint32_t i = 0;
  for (adn::Isa isa : {adn::Isa::scalar, adn::Isa::avx2, adn::Isa::avx512})
    if (adn::isa_supported(isa)) out.Set(i++, adn::isa_name(isa));
  return out;
}

}  // namespace adn_binding
