// Native kernel tests (no Node): every ISA this CPU supports against the plain
// reference, on random shapes with awkward sizes. Outputs are poisoned first.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "addernet.h"
#include "reference.h"
#include "ukernels.h"

using adn::Conv2dShape;
using adn::Isa;

static int g_failures = 0, g_checks = 0;

static std::vector<float> random_vec(std::mt19937& rng, int64_t n, float scale) {
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (auto& e : v) e = d(rng);
  return v;
}

static std::vector<float> poisoned(int64_t n) {
  return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN());
}

// Error bound for a sum of `terms` float values each of magnitude <= `mag`.
static void expect_close(const char* what, const std::string& ctx, const std::vector<float>& got,
                         const std::vector<float>& want, double terms, double mag) {
  ++g_checks;
  const double tol = 1e-5 * std::max(1.0, terms * mag) + 1e-6;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = std::fabs(double(got[i]) - double(want[i]));
    if (!(d <= tol)) {  // also catches NaN left over from poisoning
      std::printf("FAIL %s %s: index %zu got %.7g want %.7g (tol %.3g)\n", what, ctx.c_str(), i,
                  got[i], want[i], tol);
      ++g_failures;
      return;
    }
  }
}

// Bit-for-bit equality (what fused, in-place and reused paths promise).
static void expect_same_bits(const std::string& what, const std::vector<float>& got,
                             const std::vector<float>& want) {
  ++g_checks;
  int64_t bad = 0;
  for (size_t i = 0; i < want.size(); ++i) bad += std::memcmp(&got[i], &want[i], sizeof(float)) != 0;
  if (bad || got.size() != want.size()) {
    std::printf("FAIL %s: %lld of %zu values differ\n", what.c_str(), (long long)bad, want.size());
    ++g_failures;
  }
}

static std::string describe(const Conv2dShape& s, Isa isa) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "[%s N%ld C%ld %ldx%ld T%ld k%ldx%ld s%ld,%ld p%ld,%ld]",
                adn::isa_name(isa), long(s.n), long(s.c), long(s.h), long(s.w), long(s.t),
                long(s.kh), long(s.kw), long(s.sh), long(s.sw), long(s.ph), long(s.pw));
  return buf;
}

typedef void (*ForwardFn)(const Conv2dShape&, const float*, const float*, const float*, float*,
                          const adn::Epilogue&, adn::FilterVersion);

// The fused epilogue gives exactly the floats of the separate eval-mode ops
// (batch_norm_forward, add, relu_forward) applied to the plain forward's y,
// for each combination of BN, residual and ReLU.
static void check_epilogue(std::mt19937& rng, const Conv2dShape& s, const char* name,
                           const std::string& ctx, ForwardFn fwd, const std::vector<float>& x,
                           const std::vector<float>& w, const float* bias,
                           const std::vector<float>& y_plain) {
  const int64_t T = s.t, hw = s.ho() * s.wo(), size = s.output_size();
  const auto gamma = random_vec(rng, T, 2.0f), beta = random_vec(rng, T, 1.0f),
             mean = random_vec(rng, T, 3.0f), residual = random_vec(rng, size, 2.0f);
  auto var = random_vec(rng, T, 1.0f);
  for (float& v : var) v = v * v + 0.05f;
  std::vector<float> smean(T), sinv(T), rmean = mean, rvar = var;
  for (int combo = 1; combo < 8; ++combo) {
    const bool bn = combo & 1, res = combo & 2, relu = combo & 4;
    std::vector<float> want = y_plain;
    if (bn)
      adn::batch_norm_forward(s.n, T, hw, want.data(), gamma.data(), beta.data(), rmean.data(),
                              rvar.data(), false, 0.1, 1e-5, want.data(), smean.data(), sinv.data());
    if (res) adn::add(want.data(), residual.data(), want.data(), size);
    if (relu) adn::relu_forward(want.data(), want.data(), size);
    adn::Epilogue ep;
    if (bn) {
      ep.bn_gamma = gamma.data();
      ep.bn_beta = beta.data();
      ep.bn_mean = mean.data();
      ep.bn_var = var.data();
      ep.bn_eps = 1e-5;
    }
    ep.residual = res ? residual.data() : nullptr;
    ep.relu = relu;
    auto got = poisoned(size);
    fwd(s, x.data(), w.data(), bias, got.data(), ep, {});
    char what[64];
    std::snprintf(what, sizeof what, " epilogue bn=%d residual=%d relu=%d ", bn, res, relu);
    expect_same_bits(name + std::string(what) + ctx, got, want);
  }
}

static void check_shape(std::mt19937& rng, const Conv2dShape& s, Isa isa, bool bias) {
  adn::set_isa(isa);
  const std::string ctx = describe(s, isa);
  const auto x = random_vec(rng, s.input_size(), 1.0f);
  const auto w = random_vec(rng, s.weight_size(), 1.0f);
  const auto b = random_vec(rng, s.t, 1.0f);
  const auto gy = random_vec(rng, s.output_size(), 1.0f);
  const double K = double(s.k()), reach = double(s.t) * s.kh * s.kw,
               P = double(s.n) * s.ho() * s.wo();
  const float* bp = bias ? b.data() : nullptr;

  for (int adder = 0; adder < 2; ++adder) {
    ForwardFn fwd = adder ? adn::adder2d_forward : adn::conv2d_forward;
    auto ref_fwd = adder ? adn::ref::adder2d_forward : adn::ref::conv2d_forward;
    auto bwd = adder ? adn::adder2d_backward : adn::conv2d_backward;
    auto ref_bwd = adder ? adn::ref::adder2d_backward : adn::ref::conv2d_backward;
    const char* name = adder ? "adder2d" : "conv2d";

    auto y = poisoned(s.output_size()), y_ref = poisoned(s.output_size());
    fwd(s, x.data(), w.data(), bp, y.data(), adn::Epilogue{}, {});
    ref_fwd(s, x.data(), w.data(), bp, y_ref.data());
    expect_close((std::string(name) + " forward").c_str(), ctx, y, y_ref, K, 2.0);
    check_epilogue(rng, s, name, ctx, fwd, x, w, bp, y);
    // Panels read in place (indirect kernels) and packed ones give the same floats.
    adn::set_forward_indirect(false);
    auto y_packed = poisoned(s.output_size());
    fwd(s, x.data(), w.data(), bp, y_packed.data(), adn::Epilogue{}, {});
    adn::set_forward_indirect(true);
    expect_same_bits(std::string(name) + " forward in place vs packed " + ctx, y, y_packed);

    auto gx = poisoned(s.input_size()), gx_ref = poisoned(s.input_size());
    auto gw = poisoned(s.weight_size()), gw_ref = poisoned(s.weight_size());
    auto gb = poisoned(s.t), gb_ref = poisoned(s.t);
    bwd(s, x.data(), w.data(), gy.data(), gx.data(), gw.data(), gb.data());
    ref_bwd(s, x.data(), w.data(), gy.data(), gx_ref.data(), gw_ref.data(), gb_ref.data());
    expect_close((std::string(name) + " grad input").c_str(), ctx, gx, gx_ref, reach, 1.0);
    // The packed paths, where a stride-1 layer would take the direct ones.
    adn::set_direct_input_gradient(false);
    adn::set_dot_filter_gradient(false);
    auto gx_scatter = poisoned(s.input_size()), gw_packed = poisoned(s.weight_size());
    bwd(s, x.data(), w.data(), gy.data(), gx_scatter.data(), gw_packed.data(), nullptr);
    adn::set_direct_input_gradient(true);
    adn::set_dot_filter_gradient(true);
    expect_close((std::string(name) + " grad input (scatter path)").c_str(), ctx, gx_scatter, gx_ref, reach, 1.0);
    expect_close((std::string(name) + " grad weight (packed path)").c_str(), ctx, gw_packed, gw_ref, P, 2.0);
    expect_close((std::string(name) + " grad weight").c_str(), ctx, gw, gw_ref, P, 2.0);
    expect_close((std::string(name) + " grad bias").c_str(), ctx, gb, gb_ref, P, 1.0);
  }
}

// Packed filters reused by FilterVersion: the same floats as a fresh packing,
// a new version (new weights) is never served the old packing, a kept
// packing is per ISA, and forgetting the id frees it.
static void check_filter_reuse(std::mt19937& rng) {
  Conv2dShape s{};
  s.n = 2; s.c = 5; s.h = 9; s.w = 11; s.t = 7; s.kh = s.kw = 3; s.sh = s.sw = 1; s.ph = s.pw = 1;
  const auto x = random_vec(rng, s.input_size(), 1.0f);
  auto w = random_vec(rng, s.weight_size(), 1.0f);
  const uint64_t id = 0x5eed;
  auto same = [&](const std::vector<float>& a, const std::vector<float>& b, const char* what) {
    expect_same_bits(std::string("filter reuse: ") + what, a, b);
  };
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (!adn::isa_supported(isa)) continue;
    adn::set_isa(isa);
    for (int adder = 0; adder < 2; ++adder) {
      ForwardFn fwd = adder ? adn::adder2d_forward : adn::conv2d_forward;
      auto fresh = poisoned(s.output_size()), first = fresh, again = fresh;
      fwd(s, x.data(), w.data(), nullptr, fresh.data(), {}, {});
      fwd(s, x.data(), w.data(), nullptr, first.data(), {}, {id, 1});
      fwd(s, x.data(), w.data(), nullptr, again.data(), {}, {id, 1});
      same(first, fresh, "first call with a version");
      same(again, fresh, "reused packing");
      auto w2 = random_vec(rng, s.weight_size(), 1.0f);
      auto fresh2 = poisoned(s.output_size()), second = fresh2;
      fwd(s, x.data(), w2.data(), nullptr, fresh2.data(), {}, {});
      fwd(s, x.data(), w2.data(), nullptr, second.data(), {}, {id, 2});
      same(second, fresh2, "a new version repacks");
      adn::forget_packed_filters(id);
    }
  }
  ++g_checks;
  if (adn::packed_filter_bytes() != 0) {
    std::printf("FAIL filter reuse: %lld bytes kept after forget\n", (long long)adn::packed_filter_bytes());
    ++g_failures;
  }
}

static Conv2dShape random_shape(std::mt19937& rng) {
  auto pick = [&](std::initializer_list<int64_t> v) {
    return *(v.begin() + std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng));
  };
  Conv2dShape s{};
  s.n = pick({1, 2, 3});
  s.c = pick({1, 2, 3, 5, 7, 16, 17});
  s.t = pick({1, 3, 5, 6, 8, 9, 13, 16, 17, 31, 33});
  s.kh = pick({1, 3, 5});
  s.kw = pick({1, 2, 3, 5});
  s.sh = pick({1, 2});
  s.sw = pick({1, 2, 3});
  s.ph = pick({0, 1, 2});
  s.pw = pick({0, 1, 2});
  s.h = std::max<int64_t>(pick({1, 4, 7, 8, 11, 13}), s.kh - 2 * s.ph);
  s.w = std::max<int64_t>(pick({1, 5, 9, 16, 17, 33}), s.kw - 2 * s.pw);
  return s;
}

// Hostile geometry: every product that would wrap int64 (or exceed the
// element bound) is refused by validate(); nothing is computed or allocated.
static void check_hostile_geometry() {
  const int64_t big = int64_t(1) << 33, huge = (int64_t(1) << 40) - 1;
  const std::vector<Conv2dShape> refused = {
      // The probe's case: a padded plane of (2^32 + 1) x (2^32 - 1).
      {1, 1, 1, 1, 1, 1, 1, big, big, int64_t(1) << 31, (int64_t(1) << 31) - 1},
      {huge, huge, 1, 1, 1, 1, 1, 1, 1, 0, 0},      // input n * c
      {1, huge, 1, 1, huge, 1, 1, 1, 1, 0, 0},      // weight t * c
      {1, 1, huge, huge, 1, 1, 1, 1, 1, 0, 0},      // input h * w
      {1, 1, huge, 1, huge, 1, 1, 1, 1, 0, 0},      // output n * t * ho
      {1, huge, 1, 1, 1, huge, huge, 1, 1, huge, huge},  // reduction c * kh * kw
      {1, 1, 1, 1, 1, 1, 1, 1, 1, huge, huge},      // padded plane only
      {1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0},            // stride 0
      {1, 1, 1, 1, 1, 1, 1, 1, 1, -1, 0},           // negative padding
      {-1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0},           // negative batch
      {1, 1, 1, 1, 1, 1, 1, INT64_MAX, 1, 0, 0},    // stride at the int64 limit
  };
  for (size_t i = 0; i < refused.size(); ++i) {
    ++g_checks;
    try {
      refused[i].validate();
      std::printf("FAIL hostile geometry %zu: accepted\n", i);
      ++g_failures;
    } catch (const std::invalid_argument&) {
    }
  }
  // Within the element bound but over the memory limit: refused with
  // LayerMemoryError before the padded copy is allocated; the pool still works.
  const int64_t saved = adn::layer_memory_limit();
  adn::set_layer_memory_limit(int64_t(1) << 20);
  const Conv2dShape wide{1, 1, 1, 1, 1, 1, 1, 1024, 1024, 512, 512};  // 1025^2 padded floats
  std::vector<float> one(1, 1.0f), y(size_t(wide.output_size()));
  for (int pass = 0; pass < 2; ++pass) {
    ++g_checks;
    try {
      pass ? adn::adder2d_backward(wide, one.data(), one.data(), y.data(), one.data(), nullptr, nullptr)
           : adn::adder2d_forward(wide, one.data(), one.data(), nullptr, y.data());
      std::printf("FAIL memory limit (%s): not refused\n", pass ? "backward" : "forward");
      ++g_failures;
    } catch (const adn::LayerMemoryError&) {
    }
  }
  adn::set_layer_memory_limit(saved);
  ++g_checks;
  adn::adder2d_forward(wide, one.data(), one.data(), nullptr, y.data());
  // 2x2 outputs, every one sampling padding (the pixel sits at 512, 512): |0 - 1|.
  if (!(y.size() == 4 && y[0] == -1.0f && y[1] == -1.0f && y[2] == -1.0f && y[3] == -1.0f)) {
    std::printf("FAIL memory limit: layer wrong after the limit was raised\n");
    ++g_failures;
  }
}

int main() {
  std::mt19937 rng(20260425u);
  check_hostile_geometry();
  check_filter_reuse(rng);
  std::vector<Isa> isas;
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (adn::isa_supported(isa)) isas.push_back(isa);
    else std::printf("skip %s: not supported by this CPU or build\n", adn::isa_name(isa));
  }
  // Fixed cases: the linear layer, large K, 1x1 stride 2, LeNet's first layer.
  std::vector<Conv2dShape> shapes = {
      {7, 37, 1, 1, 11, 1, 1, 1, 1, 0, 0},    {2, 256, 5, 5, 9, 3, 3, 1, 1, 1, 1},
      {3, 16, 8, 8, 32, 1, 1, 2, 2, 0, 0},    {2, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2},
      {1, 3, 32, 32, 16, 3, 3, 1, 1, 1, 1},   {5, 20, 12, 12, 50, 5, 5, 1, 1, 0, 0},
  };
  for (int i = 0; i < 40; ++i) shapes.push_back(random_shape(rng));
  for (int threads : {1, 2, 3}) {
    adn::set_num_threads(threads);
    for (size_t i = 0; i < shapes.size(); ++i)
      for (Isa isa : isas) check_shape(rng, shapes[i], isa, i % 2 == 0);
  }

  // Adaptive scaling: RMS per element becomes eta.
  for (Isa isa : isas) {
    adn::set_isa(isa);
    auto g = random_vec(rng, 1001, 3.0f), out = poisoned(1001), want = poisoned(1001);
    adn::adaptive_scale(g.data(), 1001, 0.2f, out.data());
    adn::ref::adaptive_scale(g.data(), 1001, 0.2f, want.data());
    expect_close("adaptive_scale", adn::isa_name(isa), out, want, 1, 1);
  }
  std::printf("%d passed, %d failed\n", g_checks - g_failures, g_failures);
  return g_failures ? 1 : 0;
}
