// Run-time ISA selection: CPUID for the instructions, XGETBV for the OS saving
// YMM/ZMM state. ADDERNET_ISA=scalar|avx2|avx512 forces a path on first use;
// a value this CPU cannot honour falls back to the best path, with a warning.
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>

#include "thread_pool.h"
#include "ukernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#define ADN_X86 1
#include <cpuid.h>
#endif

namespace adn {
namespace {

struct CpuFeatures { bool avx2 = false, avx512 = false; };

CpuFeatures detect() {
  CpuFeatures f;
#if ADN_X86
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27), fma = c & (1u << 12), avx = c & (1u << 28);
  if (!osxsave || !avx) return f;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  const bool os_ymm = (lo & 0x6) == 0x6;          // XMM and YMM state
  const bool os_zmm = (lo & 0xe6) == 0xe6;        // plus opmask and ZMM state
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  const bool avx2 = b & (1u << 5);
  const bool avx512f = b & (1u << 16), avx512dq = b & (1u << 17),
             avx512bw = b & (1u << 30), avx512vl = b & (1u << 31);
  f.avx2 = os_ymm && avx2 && fma;
  f.avx512 = f.avx2 && os_zmm && avx512f && avx512dq && avx512bw && avx512vl;
#endif
  return f;
}

const CpuFeatures& features() {
  static const CpuFeatures f = detect();
  return f;
}

const IsaConfig* config_for(Isa isa) {
  switch (isa) {
    case Isa::avx512: return avx512_config();
    case Isa::avx2: return avx2_config();
    default: return scalar_config();
  }
}

std::atomic<const IsaConfig*> g_active{nullptr};
std::once_flag g_init;
std::string g_isa_warning;  // written once, under g_init

// A bad ADDERNET_ISA falls back to the best path with a warning rather than
// failing every later call: the process stays usable and setIsa still works.
void init_from_environment() {
  const Isa best = isa_supported(Isa::avx512) ? Isa::avx512
                   : isa_supported(Isa::avx2) ? Isa::avx2 : Isa::scalar;
  Isa chosen = best;
  const char* forced = std::getenv("ADDERNET_ISA");
  if (forced && *forced) {
    const std::string name = std::string(forced).substr(0, 40);
    const std::string fallback = std::string("; using ") + isa_name(best);
    try {
      const Isa isa = parse_isa(forced);
      if (isa_supported(isa))
        chosen = isa;
      else
        g_isa_warning = "ADDERNET_ISA=" + name + " but this CPU or build does not support " + name + fallback;
    } catch (const std::invalid_argument&) {
      g_isa_warning = "Expected one of scalar, avx2, avx512 for ADDERNET_ISA but received \"" + name + "\"" + fallback;
    }
  }
  g_active.store(config_for(chosen));
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "scalar";
  }
}

Isa parse_isa(const std::string& name) {
  if (name == "scalar") return Isa::scalar;
  if (name == "avx2") return Isa::avx2;
  if (name == "avx512") return Isa::avx512;
  throw std::invalid_argument("Expected one of scalar, avx2, avx512 for ADDERNET_ISA but received " + name);
}

bool isa_supported(Isa isa) {
  if (isa == Isa::scalar) return true;
  if (!config_for(isa)) return false;  // not compiled in (non-x86 build)
  return isa == Isa::avx2 ? features().avx2 : features().avx512;
}

const IsaConfig& active_config() {
  std::call_once(g_init, init_from_environment);
  return *g_active.load();
}

Isa active_isa() { return active_config().isa; }

std::string environment_warnings() {
  active_config();
  std::string out = g_isa_warning;
  const std::string threads = thread_environment_warning();
  if (!threads.empty()) out += (out.empty() ? "" : "\n") + threads;
  return out;
}

void set_isa(Isa isa) {
  active_config();  // make sure the environment was read first
  if (!isa_supported(isa))
    throw std::runtime_error(std::string("this CPU or build does not support ") + isa_name(isa));
  g_active.store(config_for(isa));
}

#if !ADN_X86
const IsaConfig* avx2_config() { return nullptr; }
const IsaConfig* avx512_config() { return nullptr; }
#endif

}  // namespace adn
