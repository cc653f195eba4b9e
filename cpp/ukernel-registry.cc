// The one list of microkernels: every member of every ISA's IsaConfig, so
// whatever the engine can dispatch to is what the microkernel test checks and
// the benchmark times. ISAs not compiled in (non-x86) have no entries.
#include <stdexcept>
#include "ukernels.h"

namespace adn {
namespace {

std::vector<UkernelEntry> collect() {
  std::vector<UkernelEntry> all;
  for (const IsaConfig* cfg : {scalar_config(), avx2_config(), avx512_config()}) {
    if (!cfg) continue;
    const Isa isa = cfg->isa;
    all.push_back({cfg->fma.name, isa, UkernelKind::f32_gemm_fma, cfg->fma.mr, cfg->fma.nr, 1,
                   cfg->fma.fn, nullptr, nullptr});
    all.push_back({cfg->maxsum.name, isa, UkernelKind::f32_adder_maxsum, cfg->maxsum.mr,
                   cfg->maxsum.nr, 1, cfg->maxsum.fn, nullptr, nullptr});
    all.push_back({cfg->htgrad.name, isa, UkernelKind::f32_adder_htgrad, cfg->htgrad.mr,
                   cfg->htgrad.nr, 1, nullptr, cfg->htgrad.fn, nullptr});
    all.push_back({cfg->sad.name, isa, UkernelKind::u8_adder_sad, cfg->sad.mr, cfg->sad.nr,
                   cfg->sad.kr, nullptr, nullptr, cfg->sad.fn});
    all.push_back({cfg->fma_indirect.name, isa, UkernelKind::f32_igemm_fma, cfg->fma_indirect.mr,
                   cfg->fma_indirect.nr, 1, nullptr, nullptr, nullptr, cfg->fma_indirect.fn});
    all.push_back({cfg->maxsum_indirect.name, isa, UkernelKind::f32_adder_imaxsum,
                   cfg->maxsum_indirect.mr, cfg->maxsum_indirect.nr, 1, nullptr, nullptr, nullptr,
                   cfg->maxsum_indirect.fn});
    all.push_back({cfg->htgrad_indirect.name, isa, UkernelKind::f32_adder_ihtgrad,
                   cfg->htgrad_indirect.mr, cfg->htgrad_indirect.nr, 1, nullptr, nullptr, nullptr,
                   nullptr, cfg->htgrad_indirect.fn});
    UkernelEntry dot{cfg->dot.name, isa, UkernelKind::f32_dot_fma, cfg->dot.mr, cfg->dot.nr,
                     cfg->dot.lanes, nullptr, nullptr, nullptr};
    dot.dot = cfg->dot.fn;
    all.push_back(dot);
  }
  return all;
}

}  // namespace

const char* ukernel_kind_name(UkernelKind kind) {
  switch (kind) {
    case UkernelKind::f32_gemm_fma: return "f32-gemm-fma";
    case UkernelKind::f32_adder_maxsum: return "f32-adder-maxsum";
    case UkernelKind::f32_adder_htgrad: return "f32-adder-htgrad";
    case UkernelKind::f32_igemm_fma: return "f32-igemm-fma";
    case UkernelKind::f32_adder_imaxsum: return "f32-adder-imaxsum";
    case UkernelKind::f32_adder_ihtgrad: return "f32-adder-ihtgrad";
    case UkernelKind::f32_dot_fma: return "f32-dot-fma";
    default: return "u8-adder-sad";
  }
}

const std::vector<UkernelEntry>& ukernel_registry() {
  static const std::vector<UkernelEntry> all = collect();
  return all;
}

const UkernelEntry& scalar_ukernel(UkernelKind kind) {
  for (const UkernelEntry& e : ukernel_registry())
    if (e.isa == Isa::scalar && e.kind == kind) return e;
  throw std::logic_error("no scalar microkernel for a kind");  // collect() lists one per kind
}

}  // namespace adn
