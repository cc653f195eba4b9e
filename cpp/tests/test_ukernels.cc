// The microkernel test: walks ukernel_registry() and holds every kernel whose
// ISA this CPU supports to the scalar kernel of its kind, on reduction lengths
// 1, tile - 1, tile, tile + 1 and large (the tile being the kernel's kr for
// uint8, the engine's 64-long reduction block for fp32). Different tiles are
// compared by running the scalar kernel over sub-tiles of the kernel's tile.
// uint8 SAD must match bit for bit; fp32 within the native tests' tolerance.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "check.h"
#include "ukernels.h"

using adn::Isa;
using adn::UkernelEntry;
using adn::UkernelKind;

namespace {

std::mt19937 rng(20261204u);

std::vector<float> random_floats(size_t n) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& e : v) e = d(rng);
  return v;
}

std::string context(const UkernelEntry& e, size_t kc, const char* extra = "") {
  return std::string(e.name) + " kc=" + std::to_string(kc) + extra;
}

// Same tolerance as test_kernels.cc: a sum of `terms` values of magnitude <= mag.
void expect_close(const std::string& what, const std::vector<float>& got,
                  const std::vector<float>& want, double terms, double mag) {
  const double tol = 1e-5 * std::max(1.0, terms * mag) + 1e-6;
  for (size_t i = 0; i < want.size(); ++i)
    if (!(std::fabs(double(got[i]) - double(want[i])) <= tol)) {
      expect_true(false, what + ": index " + std::to_string(i) + " got " + std::to_string(got[i]) +
                             " want " + std::to_string(want[i]));
      return;
    }
  expect_true(true, what);
}

// Rows [r0, r0 + rows) of a [kc][width] panel, as a [kc][sub] panel (zero beyond).
std::vector<float> sub_panel(const std::vector<float>& p, size_t kc, int width, int r0, int sub) {
  std::vector<float> out(kc * sub, 0.0f);
  for (size_t r = 0; r < kc; ++r)
    for (int m = 0; m < sub && r0 + m < width; ++m) out[r * sub + m] = p[r * width + r0 + m];
  return out;
}

// fma and maxsum: c = sum (or c + sum with accumulate) over a [kc][mr], b [kc][nr].
void check_gemm(const UkernelEntry& e, size_t kc) {
  const UkernelEntry& s = adn::scalar_ukernel(e.kind);
  const auto a = random_floats(kc * e.mr), b = random_floats(kc * e.nr);
  const auto c0 = random_floats(size_t(e.mr) * e.nr);
  for (bool accumulate : {false, true}) {
    std::vector<float> got = c0, want = c0;
    e.gemm(kc, a.data(), b.data(), got.data(), accumulate);
    for (int m0 = 0; m0 < e.mr; m0 += s.mr)
      for (int n0 = 0; n0 < e.nr; n0 += s.nr) {
        const auto sa = sub_panel(a, kc, e.mr, m0, s.mr), sb = sub_panel(b, kc, e.nr, n0, s.nr);
        std::vector<float> sc(size_t(s.mr) * s.nr, 0.0f);
        for (int m = 0; m < s.mr && m0 + m < e.mr; ++m)
          for (int n = 0; n < s.nr && n0 + n < e.nr; ++n) sc[m * s.nr + n] = c0[(m0 + m) * e.nr + n0 + n];
        s.gemm(kc, sa.data(), sb.data(), sc.data(), accumulate);
        for (int m = 0; m < s.mr && m0 + m < e.mr; ++m)
          for (int n = 0; n < s.nr && n0 + n < e.nr; ++n) want[(m0 + m) * e.nr + n0 + n] = sc[m * s.nr + n];
      }
    expect_close(context(e, kc, accumulate ? " accumulate" : ""), got, want, double(kc) + 1, 1.0);
  }
}

const adn::IsaConfig& config_of(Isa isa) {
  return *(isa == Isa::scalar ? adn::scalar_config() : isa == Isa::avx2 ? adn::avx2_config() : adn::avx512_config());
}

// An in-place b operand: shuffled, overlapping row offsets into one buffer
// (as taps into a padded input are), unaligned halves, and the packed panel
// [kc][nr] the kernel would read instead.
struct InPlaceRows {
  std::vector<float> image;
  std::vector<int64_t> offsets;
  const float *lo, *hi;
  std::vector<float> panel;
  InPlaceRows(size_t kc, int nr) : image(random_floats(kc * 3 + 4 * nr + 7)), offsets(kc), panel(kc * nr) {
    std::uniform_int_distribution<int64_t> pick(0, int64_t(kc * 3));
    for (auto& o : offsets) o = pick(rng);
    lo = image.data() + 1;
    hi = image.data() + 3 + nr;
    const int half = nr / 2;
    for (size_t r = 0; r < kc; ++r)
      for (int n = 0; n < nr; ++n) panel[r * nr + n] = n < half ? lo[offsets[r] + n] : hi[offsets[r] + n - half];
  }
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// igemm: rows read in place give exactly the floats of the packed kernel it
// stands in for (same ISA, op and tile) on the gathered panel: the engine
// mixes the two.
void check_igemm(const UkernelEntry& e, size_t kc) {
  const adn::IsaConfig& cfg = config_of(e.isa);
  const adn::GemmUkernel& twin = e.kind == UkernelKind::f32_igemm_fma ? cfg.fma : cfg.maxsum;
  expect_true(twin.mr == e.mr && twin.nr == e.nr, context(e, kc, " tile equals its packed kernel's"));
  const InPlaceRows b(kc, e.nr);
  const auto a = random_floats(kc * e.mr), c0 = random_floats(size_t(e.mr) * e.nr);
  for (bool accumulate : {false, true}) {
    std::vector<float> got = c0, want = c0;
    e.igemm(kc, a.data(), b.lo, b.hi, b.offsets.data(), got.data(), accumulate);
    twin.fn(kc, a.data(), b.panel.data(), want.data(), accumulate);
    expect_true(same_bits(got, want), context(e, kc, accumulate ? " accumulate: bit-identical to the packed kernel"
                                                                : " bit-identical to the packed kernel"));
  }
}

// ihtgrad: likewise against the packed htgrad kernel.
void check_ihtgrad(const UkernelEntry& e, size_t kc) {
  const adn::HtgradUkernel& twin = config_of(e.isa).htgrad;
  expect_true(twin.mr == e.mr && twin.nr == e.nr, context(e, kc, " tile equals its packed kernel's"));
  const InPlaceRows b(kc, e.nr);
  const size_t x_stride = size_t(e.nr) + 5;
  const auto a = random_floats(kc * e.mr), x = random_floats(e.mr * x_stride);
  std::vector<float> got(size_t(e.mr) * e.nr, NAN), want(got.size(), NAN);
  e.ihtgrad(kc, a.data(), b.lo, b.hi, b.offsets.data(), x.data(), x_stride, got.data());
  twin.fn(kc, a.data(), b.panel.data(), x.data(), x_stride, want.data());
  expect_true(same_bits(got, want), context(e, kc, " bit-identical to the packed kernel"));
}

// dot: rows of positions at shuffled offsets (a: MR row pointers, b: NR taps),
// against the scalar kernel over its sub-tiles; len = mult * the lanes.
void check_dot(const UkernelEntry& e, size_t rows, size_t mult) {
  const UkernelEntry& s = adn::scalar_ukernel(e.kind);
  const size_t len = mult * size_t(e.kr), span = rows * len + 3 * len + 11;
  const auto a_data = random_floats(e.mr * span), b_data = random_floats(span + 64);
  std::uniform_int_distribution<int64_t> pick(0, int64_t(span - len));
  std::vector<int64_t> a_off(rows), b_off(rows), taps(e.nr);
  for (auto& o : a_off) o = pick(rng);
  for (auto& o : b_off) o = pick(rng) / 2;
  for (auto& t : taps) t = pick(rng) / 2;
  std::vector<const float*> a(e.mr);
  for (int m = 0; m < e.mr; ++m) a[m] = a_data.data() + m * span;
  std::vector<float> got(size_t(e.mr) * e.nr, NAN), want(got.size(), NAN);
  e.dot(rows, len, a.data(), a_off.data(), b_data.data(), taps.data(), b_off.data(), got.data());
  for (int m0 = 0; m0 < e.mr; m0 += s.mr)
    for (int n0 = 0; n0 < e.nr; n0 += s.nr) {
      std::vector<const float*> sa(s.mr, a[m0]);
      for (int m = 0; m < s.mr && m0 + m < e.mr; ++m) sa[m] = a[m0 + m];
      std::vector<int64_t> st(s.nr, taps[n0]);
      for (int n = 0; n < s.nr && n0 + n < e.nr; ++n) st[n] = taps[n0 + n];
      std::vector<float> sc(size_t(s.mr) * s.nr);
      s.dot(rows, len, sa.data(), a_off.data(), b_data.data(), st.data(), b_off.data(), sc.data());
      for (int m = 0; m < s.mr && m0 + m < e.mr; ++m)
        for (int n = 0; n < s.nr && n0 + n < e.nr; ++n) want[(m0 + m) * e.nr + n0 + n] = sc[m * s.nr + n];
    }
  expect_close(context(e, len, (" rows=" + std::to_string(rows)).c_str()), got, want, double(rows * len), 1.0);
}

// htgrad: c = sum clamp(a - x, -1, 1) * b, x rows at a stride wider than NR.
void check_htgrad(const UkernelEntry& e, size_t kc) {
  const UkernelEntry& s = adn::scalar_ukernel(e.kind);
  const size_t x_stride = size_t(e.nr) + 3;
  const auto a = random_floats(kc * e.mr), b = random_floats(kc * e.nr);
  const auto x = random_floats(e.mr * x_stride);
  std::vector<float> got(size_t(e.mr) * e.nr, NAN), want(got.size(), NAN);
  e.htgrad(kc, a.data(), b.data(), x.data(), x_stride, got.data());
  for (int m0 = 0; m0 < e.mr; m0 += s.mr)
    for (int n0 = 0; n0 < e.nr; n0 += s.nr) {
      const auto sa = sub_panel(a, kc, e.mr, m0, s.mr), sb = sub_panel(b, kc, e.nr, n0, s.nr);
      std::vector<float> sx(size_t(s.mr) * s.nr, 0.0f), sc(size_t(s.mr) * s.nr);
      for (int m = 0; m < s.mr && m0 + m < e.mr; ++m)
        for (int n = 0; n < s.nr && n0 + n < e.nr; ++n) sx[m * s.nr + n] = x[(m0 + m) * x_stride + n0 + n];
      s.htgrad(kc, sa.data(), sb.data(), sx.data(), s.nr, sc.data());
      for (int m = 0; m < s.mr && m0 + m < e.mr; ++m)
        for (int n = 0; n < s.nr && n0 + n < e.nr; ++n) want[(m0 + m) * e.nr + n0 + n] = sc[m * s.nr + n];
    }
  expect_close(context(e, kc), got, want, double(kc), 1.0);
}

// SAD over k bytes: the kernel sees k padded to kr with one byte value in both
// operands, the scalar kernel the unpadded rows. extreme: bytes 0 and 255 only.
void check_sad(const UkernelEntry& e, size_t k, bool extreme) {
  const UkernelEntry& s = adn::scalar_ukernel(e.kind);
  const size_t kpad = (k + e.kr - 1) / e.kr * e.kr;
  std::uniform_int_distribution<int> byte(0, 255), bit(0, 1);
  const uint8_t pad = uint8_t(byte(rng));
  std::vector<uint8_t> a(e.mr * kpad, pad), b(e.nr * kpad, pad);
  auto fill = [&](std::vector<uint8_t>& v, int rows) {
    for (int m = 0; m < rows; ++m)
      for (size_t r = 0; r < k; ++r) v[m * kpad + r] = uint8_t(extreme ? 255 * bit(rng) : byte(rng));
  };
  fill(a, e.mr);
  fill(b, e.nr);
  if (extreme) std::fill(b.begin(), b.begin() + k, uint8_t(255 - a[0]));  // one output at 255 * k
  std::vector<int32_t> got(size_t(e.mr) * e.nr, INT32_MIN), want(got.size(), INT32_MIN);
  e.sad(kpad, a.data(), b.data(), got.data());
  auto unpadded = [&](const std::vector<uint8_t>& v, int width, int r0, int sub) {
    std::vector<uint8_t> out(sub * k, 0);
    for (int m = 0; m < sub && r0 + m < width; ++m) std::copy_n(&v[(r0 + m) * kpad], k, &out[m * k]);
    return out;
  };
  for (int m0 = 0; m0 < e.mr; m0 += s.mr)
    for (int n0 = 0; n0 < e.nr; n0 += s.nr) {
      const auto sa = unpadded(a, e.mr, m0, s.mr), sb = unpadded(b, e.nr, n0, s.nr);
      std::vector<int32_t> sc(size_t(s.mr) * s.nr);
      s.sad(k, sa.data(), sb.data(), sc.data());
      for (int m = 0; m < s.mr && m0 + m < e.mr; ++m)
        for (int n = 0; n < s.nr && n0 + n < e.nr; ++n) want[(m0 + m) * e.nr + n0 + n] = sc[m * s.nr + n];
    }
  expect_true(got == want, context(e, k, extreme ? " bytes 0/255" : "") + " bit-exact");
}

// The registry is complete and consistent: one scalar kernel per kind, unique
// names, the pointer matching the kind, and every kernel any IsaConfig
// dispatches to listed.
void check_registry() {
  const auto& all = adn::ukernel_registry();
  std::set<std::string> names;
  std::set<const void*> fns;
  for (const UkernelEntry& e : all) {
    expect_true(names.insert(e.name).second, std::string("unique name ") + e.name);
    const bool gemm = e.kind == UkernelKind::f32_gemm_fma || e.kind == UkernelKind::f32_adder_maxsum;
    const bool igemm = e.kind == UkernelKind::f32_igemm_fma || e.kind == UkernelKind::f32_adder_imaxsum;
    const bool ihtgrad = e.kind == UkernelKind::f32_adder_ihtgrad;
    const bool dot = e.kind == UkernelKind::f32_dot_fma;
    expect_true((e.gemm != nullptr) == gemm && (e.htgrad != nullptr) == (e.kind == UkernelKind::f32_adder_htgrad) &&
                    (e.sad != nullptr) == (e.kind == UkernelKind::u8_adder_sad) && (e.igemm != nullptr) == igemm &&
                    (e.ihtgrad != nullptr) == ihtgrad && (e.dot != nullptr) == dot,
                std::string("one pointer for the kind of ") + e.name);
    expect_true(e.mr >= 1 && e.nr >= 1 && e.kr >= 1, std::string("tile of ") + e.name);
    expect_true(std::string(e.name).find(adn::ukernel_kind_name(e.kind)) == 0 &&
                    std::string(e.name).find(adn::isa_name(e.isa)) != std::string::npos,
                std::string("name says kind and ISA: ") + e.name);
    fns.insert(e.gemm     ? (const void*)e.gemm
               : e.htgrad ? (const void*)e.htgrad
               : e.igemm  ? (const void*)e.igemm
               : e.ihtgrad ? (const void*)e.ihtgrad
               : e.dot    ? (const void*)e.dot
                          : (const void*)e.sad);
  }
  for (UkernelKind k : {UkernelKind::f32_gemm_fma, UkernelKind::f32_adder_maxsum,
                        UkernelKind::f32_adder_htgrad, UkernelKind::u8_adder_sad,
                        UkernelKind::f32_igemm_fma, UkernelKind::f32_adder_imaxsum,
                        UkernelKind::f32_adder_ihtgrad, UkernelKind::f32_dot_fma})
    expect_true(adn::scalar_ukernel(k).kr == 1, std::string("scalar ") + adn::ukernel_kind_name(k) + " takes any length");
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (!adn::isa_supported(isa)) continue;
    adn::set_isa(isa);
    const adn::IsaConfig& c = adn::active_config();
    expect_true(fns.count((const void*)c.fma.fn) && fns.count((const void*)c.maxsum.fn) &&
                    fns.count((const void*)c.htgrad.fn) && fns.count((const void*)c.sad.fn) &&
                    fns.count((const void*)c.fma_indirect.fn) && fns.count((const void*)c.maxsum_indirect.fn) &&
                    fns.count((const void*)c.htgrad_indirect.fn) && fns.count((const void*)c.dot.fn),
                std::string("every kernel of ") + adn::isa_name(isa) + " is registered");
  }
}

}  // namespace

int main() {
  check_registry();
  for (const UkernelEntry& e : adn::ukernel_registry()) {
    if (!adn::isa_supported(e.isa)) {
      std::printf("skip %s: %s not supported by this CPU or build\n", e.name, adn::isa_name(e.isa));
      continue;
    }
    const bool u8 = e.kind == UkernelKind::u8_adder_sad;
    const size_t tile = u8 ? size_t(std::max(e.kr, 8)) : 64;
    const size_t large = u8 ? 64 * 67 + 3 : 1000;
    const int checks_before = g_checks;
    if (e.dot) {  // rows x whole vectors of positions (1 to 5 per row)
      for (size_t rows : {size_t(1), size_t(3), size_t(7)})
        for (size_t mult : {size_t(1), size_t(2), size_t(5)}) check_dot(e, rows, mult);
      std::printf("%-30s %s  %dx%d kr=%d  %d checks\n", e.name, adn::isa_name(e.isa), e.mr, e.nr, e.kr,
                  g_checks - checks_before);
      continue;
    }
    for (size_t kc : {size_t(1), tile - 1, tile, tile + 1, 2 * tile + 1, large}) {
      if (e.kind == UkernelKind::u8_adder_sad) {
        check_sad(e, kc, false);
        check_sad(e, kc, true);
      } else if (e.kind == UkernelKind::f32_adder_htgrad) {
        check_htgrad(e, kc);
      } else if (e.igemm) {
        check_igemm(e, kc);
      } else if (e.ihtgrad) {
        check_ihtgrad(e, kc);
      } else {
        check_gemm(e, kc);
      }
    }
    if (u8) check_sad(e, size_t(1) << 16, true);  // 255 * 65536: far from int32 overflow, well past int16
    std::printf("%-30s %s  %dx%d kr=%d  %d checks\n", e.name, adn::isa_name(e.isa), e.mr, e.nr, e.kr,
                g_checks - checks_before);
  }
  return report();
}
