#include "backend.h"

#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>

#include "../cpp/allocator.h"
#include "addernet.h"
#include "args.h"

namespace adn_binding {

Napi::Value BackendInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("isa", adn::isa_name(adn::active_isa()));
  o.Set("threads", adn::num_threads());
  o.Set("cacheLimit", double(adn::host_allocator().cache_limit()));
  o.Set("layerMemoryLimit", double(adn::layer_memory_limit()));
  Napi::Array warnings = Napi::Array::New(env);
  std::string all = adn::environment_warnings();
  const std::string cache = adn::cache_environment_warning();
  if (!cache.empty()) all += (all.empty() ? "" : "\n") + cache;
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
