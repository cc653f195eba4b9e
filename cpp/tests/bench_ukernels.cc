// The microkernel benchmark: times every registered kernel this CPU supports,
// alone, on one thread, with operands in L1, and prints G-ops/s (2 ops per
// reduction element and output: max + add, multiply + add, |a - b| + add).
// fp32 kernels run kc = 64 (the engine's reduction block), uint8 SAD kc = 576
// (ResNet-20 stage 3: 64 channels x 3x3). Usage: addernet_bench_ukernels [name filter]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "ukernels.h"

using adn::UkernelEntry;
using adn::UkernelKind;

namespace {

volatile float g_sink_f;
volatile int32_t g_sink_i;

// Calls run() in growing batches until 0.1 s have passed, three times; the
// best rate (calls per second) is the least disturbed by other processes.
template <class Fn>
double calls_per_second(Fn run) {
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < 1000; ++i) run();  // warm up caches and clocks
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    int64_t calls = 0, batch = 1000;
    const auto t0 = clock::now();
    double elapsed = 0;
    while (elapsed < 0.1) {
      for (int64_t i = 0; i < batch; ++i) run();
      calls += batch;
      batch *= 2;
      elapsed = std::chrono::duration<double>(clock::now() - t0).count();
    }
    best = std::max(best, double(calls) / elapsed);
  }
  return best;
}

double gops(const UkernelEntry& e, size_t kc) {
  std::vector<float> a(kc * e.mr, 0.5f), b(kc * e.nr, 0.25f), x(size_t(e.mr) * e.nr, 0.1f),
      c(size_t(e.mr) * e.nr, 0.0f);
  std::vector<uint8_t> qa(kc * e.mr, 3), qb(kc * e.nr, 200);
  std::vector<int32_t> qc(size_t(e.mr) * e.nr);
  double rate = 0;
  switch (e.kind) {
    case UkernelKind::f32_gemm_fma:
    case UkernelKind::f32_adder_maxsum:
      rate = calls_per_second([&] { e.gemm(kc, a.data(), b.data(), c.data(), false); });
      g_sink_f = c[0];
      break;
    case UkernelKind::f32_adder_htgrad:
      rate = calls_per_second([&] { e.htgrad(kc, a.data(), b.data(), x.data(), e.nr, c.data()); });
      g_sink_f = c[0];
      break;
    case UkernelKind::u8_adder_sad:
      rate = calls_per_second([&] { e.sad(kc, qa.data(), qb.data(), qc.data()); });
      g_sink_i = qc[0];
      break;
    case UkernelKind::f32_igemm_fma:
    case UkernelKind::f32_adder_imaxsum: {
      // Rows one input row (34 floats) apart, as 3x3 taps over a padded 32x32 plane.
      std::vector<int64_t> offsets(kc);
      for (size_t r = 0; r < kc; ++r) offsets[r] = int64_t(r) * 34;
      std::vector<float> image(kc * 34 + e.nr, 0.25f);
      rate = calls_per_second([&] {
        e.igemm(kc, a.data(), image.data(), image.data() + e.nr / 2, offsets.data(), c.data(), false);
      });
      g_sink_f = c[0];
      break;
    }
    case UkernelKind::f32_dot_fma: {
      // 8 rows of 32 positions, as a filter-gradient task over a 32x32 layer.
      const size_t rows = 8, len = 32;
      std::vector<float> data(size_t(e.mr + 1) * rows * 40 + 64, 0.25f);
      std::vector<const float*> rows_a(e.mr);
      for (int m = 0; m < e.mr; ++m) rows_a[m] = data.data() + m * rows * 40;
      std::vector<int64_t> off(rows), taps(e.nr);
      for (size_t q = 0; q < rows; ++q) off[q] = int64_t(q) * 40;
      for (int n = 0; n < e.nr; ++n) taps[n] = n;
      rate = calls_per_second([&] {
        e.dot(rows, len, rows_a.data(), off.data(), data.data(), taps.data(), off.data(), c.data());
      });
      g_sink_f = c[0];
      return rate * 2.0 * e.mr * e.nr * double(rows * len) / 1e9;
    }
    case UkernelKind::f32_adder_ihtgrad: {
      std::vector<int64_t> offsets(kc);
      for (size_t r = 0; r < kc; ++r) offsets[r] = int64_t(r) * 34;
      std::vector<float> image(kc * 34 + e.nr, 0.25f);
      rate = calls_per_second([&] {
        e.ihtgrad(kc, a.data(), image.data(), image.data() + e.nr / 2, offsets.data(), x.data(), e.nr, c.data());
      });
      g_sink_f = c[0];
      break;
    }
  }
  return rate * 2.0 * e.mr * e.nr * double(kc) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : "";
  std::printf("%-30s %-7s %-6s %5s %10s\n", "kernel", "isa", "tile", "kc", "G-ops/s");
  std::map<std::string, double> maxsum, sad;  // per ISA, for the summary line
  for (const UkernelEntry& e : adn::ukernel_registry()) {
    if (!std::strstr(e.name, filter)) continue;
    if (!adn::isa_supported(e.isa)) {
      std::printf("%-30s %-7s skipped: not supported by this CPU or build\n", e.name, adn::isa_name(e.isa));
      continue;
    }
    const size_t kc = e.kind == UkernelKind::u8_adder_sad ? 576 : 64;
    const double g = gops(e, kc);
    const std::string tile = std::to_string(e.mr) + "x" + std::to_string(e.nr);
    std::printf("%-30s %-7s %-6s %5zu %10.1f\n", e.name, adn::isa_name(e.isa), tile.c_str(), kc, g);
    if (e.kind == UkernelKind::f32_adder_maxsum) maxsum[adn::isa_name(e.isa)] = g;
    if (e.kind == UkernelKind::u8_adder_sad) sad[adn::isa_name(e.isa)] = g;
  }
  for (const auto& [isa, g] : sad)
    if (maxsum.count(isa))
      std::printf("%s: u8 SAD %.1f vs f32 maxsum %.1f G-ops/s (%.2fx)\n", isa.c_str(), g, maxsum[isa],
                  g / maxsum[isa]);
  return 0;
}
