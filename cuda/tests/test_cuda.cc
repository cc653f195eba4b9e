// Native CUDA tests (no Node): every CUDA kernel against the plain CPU
// references (adn::ref::*) on random shapes with awkward sizes. Device outputs
// are poisoned first (0xFF bytes: NaN floats, -1 ints), results must repeat
// bitwise, and error paths must throw instead of aborting.
//
// Without a usable device it runs the checks that need none (argument
// validation, the error thrown by an allocation), prints
// "skipped: no CUDA device (...)" and exits with 77, which ctest reports as
// skipped (SKIP_RETURN_CODE).
#include <algorithm>
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
#include "addernet_cuda.h"
#include "reference.h"

namespace cu = adn::cuda;
using adn::Conv2dShape;
using adn::Pool2dShape;

static int g_failures = 0, g_checks = 0;
static std::mt19937 g_rng(20260427u);
static cu::Stream g_stream = nullptr;

static void fail(const std::string& what) {
  std::printf("FAIL %s\n", what.c_str());
  ++g_failures;
}

static void expect_true(bool ok, const std::string& what) {
  ++g_checks;
  if (!ok) fail(what);
}

template <class Ex, class Fn>
static void expect_throws(const std::string& what, Fn fn, const char* must_contain = nullptr) {
  ++g_checks;
  try {
    fn();
  } catch (const Ex& e) {
    if (must_contain && !std::strstr(e.what(), must_contain))
      fail(what + ": message '" + e.what() + "' lacks '" + must_contain + "'");
    return;
  } catch (const std::exception& e) {
    return fail(what + ": wrong exception type: " + e.what());
  }
  fail(what + ": nothing thrown");
}

static std::vector<float> random_vec(int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& e : v) e = d(g_rng);
  return v;
}

// |got - want| <= atol + rtol * |want|; NaN (left over from poisoning) never passes.
static void expect_close(const std::string& what, const std::vector<float>& got,
                         const std::vector<float>& want, double atol, double rtol = 0.0) {
  ++g_checks;
  if (got.size() != want.size()) return fail(what + ": size mismatch");
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = std::fabs(double(got[i]) - double(want[i]));
    if (!(d <= atol + rtol * std::fabs(double(want[i])))) {
      char buf[200];
      std::snprintf(buf, sizeof buf, ": index %zu of %zu got %.8g want %.8g (atol %.3g)", i,
                    want.size(), got[i], want[i], atol);
      return fail(what + buf);
    }
  }
}

// The layer tests' bound: a sum of `terms` values of magnitude <= `mag`.
static void expect_sum_close(const std::string& what, const std::vector<float>& got,
                             const std::vector<float>& want, double terms, double mag) {
  expect_close(what, got, want, 1e-5 * std::max(1.0, terms * mag) + 1e-6);
}

template <class T>
static void expect_bitwise(const std::string& what, const std::vector<T>& a,
                           const std::vector<T>& b) {
  ++g_checks;
  if (a.size() != b.size() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) != 0)
    fail(what + ": not bitwise equal");
}

// ---- Device buffers -------------------------------------------------------------

template <class T>
class DBuf {
 public:
  explicit DBuf(size_t n) : n_(n), p_(static_cast<T*>(cu::alloc(n * sizeof(T)))) {}
  explicit DBuf(const std::vector<T>& v) : DBuf(v.size()) { upload(v); }
  ~DBuf() {
    try {
      cu::dealloc(p_);
    } catch (const std::exception& e) {
      std::printf("FAIL dealloc: %s\n", e.what());
      ++g_failures;
    }
  }
  DBuf(const DBuf&) = delete;
  DBuf& operator=(const DBuf&) = delete;
  T* get() const { return p_; }
  operator T*() const { return p_; }
  void upload(const std::vector<T>& v) {
    cu::copy_to_device(p_, v.data(), v.size() * sizeof(T), g_stream);
  }
  // 0xFF bytes: NaN for float, -1 for int32.
  DBuf& poison() {
    cu::fill_bytes(p_, 0xFF, n_ * sizeof(T), g_stream);
    return *this;
  }
  std::vector<T> download() const {
    std::vector<T> v(n_);
    cu::copy_to_host(v.data(), p_, n_ * sizeof(T), g_stream);
    cu::synchronize(g_stream);
    return v;
  }

 private:
  size_t n_;
  T* p_;
};

// ---- Layers -----------------------------------------------------------------------

static std::string describe(const Conv2dShape& s) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "[N%ld C%ld %ldx%ld T%ld k%ldx%ld s%ld,%ld p%ld,%ld]", long(s.n),
                long(s.c), long(s.h), long(s.w), long(s.t), long(s.kh), long(s.kw), long(s.sh),
                long(s.sw), long(s.ph), long(s.pw));
  return buf;
}

static void check_layer(const Conv2dShape& s, bool bias, bool extra) {
  const std::string ctx = describe(s);
  const auto x = random_vec(s.input_size(), -1.0f, 1.0f);
  const auto w = random_vec(s.weight_size(), -1.0f, 1.0f);
  const auto b = random_vec(s.t, -1.0f, 1.0f);
  const auto gy = random_vec(s.output_size(), -1.0f, 1.0f);
  const double K = double(s.k()), reach = double(s.t) * s.kh * s.kw,
               P = double(s.n) * s.ho() * s.wo();
  DBuf<float> dx(x), dw(w), db(b), dgy(gy);

  for (int adder = 0; adder < 2; ++adder) {
    auto fwd = adder ? cu::adder2d_forward : cu::conv2d_forward;
    auto bwd = adder ? cu::adder2d_backward : cu::conv2d_backward;
    auto ref_fwd = adder ? adn::ref::adder2d_forward : adn::ref::conv2d_forward;
    auto ref_bwd = adder ? adn::ref::adder2d_backward : adn::ref::conv2d_backward;
    const std::string name = std::string(adder ? "adder2d" : "conv2d") + (bias ? "+bias " : " ");

    std::vector<float> y_ref(s.output_size()), gx_ref(s.input_size()), gw_ref(s.weight_size()),
        gb_ref(s.t);
    ref_fwd(s, x.data(), w.data(), bias ? b.data() : nullptr, y_ref.data());
    ref_bwd(s, x.data(), w.data(), gy.data(), gx_ref.data(), gw_ref.data(), gb_ref.data());

    DBuf<float> y(s.output_size()), gx(s.input_size()), gw(s.weight_size()), gb(s.t);
    y.poison(), gx.poison(), gw.poison(), gb.poison();
    fwd(s, dx, dw, bias ? db.get() : nullptr, y, g_stream);
    bwd(s, dx, dw, dgy, gx, gw, gb, g_stream);
    const auto y_h = y.download(), gx_h = gx.download(), gw_h = gw.download(),
               gb_h = gb.download();
    expect_sum_close(name + "forward " + ctx, y_h, y_ref, K, 2.0);
    expect_sum_close(name + "grad input " + ctx, gx_h, gx_ref, reach, 1.0);
    expect_sum_close(name + "grad filter " + ctx, gw_h, gw_ref, P, 2.0);
    expect_sum_close(name + "grad bias " + ctx, gb_h, gb_ref, P, 1.0);
    if (!extra) continue;

    // Determinism: a second run gives the same bits.
    y.poison(), gx.poison(), gw.poison(), gb.poison();
    fwd(s, dx, dw, bias ? db.get() : nullptr, y, g_stream);
    bwd(s, dx, dw, dgy, gx, gw, gb, g_stream);
    expect_bitwise(name + "forward repeat " + ctx, y.download(), y_h);
    expect_bitwise(name + "grad input repeat " + ctx, gx.download(), gx_h);
    expect_bitwise(name + "grad filter repeat " + ctx, gw.download(), gw_h);
    expect_bitwise(name + "grad bias repeat " + ctx, gb.download(), gb_h);

    // One output at a time (the adder's filter gradient then computes the
    // row sums of G on its own); untouched outputs stay poisoned.
    gx.poison(), gw.poison(), gb.poison();
    bwd(s, dx, dw, dgy, nullptr, gw, nullptr, g_stream);
    expect_bitwise(name + "grad filter alone " + ctx, gw.download(), gw_h);
    bwd(s, dx, dw, dgy, gx, nullptr, nullptr, g_stream);
    expect_bitwise(name + "grad input alone " + ctx, gx.download(), gx_h);
    const auto gb_untouched = gb.download();
    expect_true(std::all_of(gb_untouched.begin(), gb_untouched.end(),
                            [](float v) { return std::isnan(v); }),
                name + "null grad bias left alone " + ctx);
    bwd(s, dx, dw, dgy, nullptr, nullptr, gb, g_stream);
    expect_bitwise(name + "grad bias alone " + ctx, gb.download(), gb_h);
  }
}

static Conv2dShape random_shape() {
  auto pick = [&](std::initializer_list<int64_t> v) {
    return *(v.begin() + std::uniform_int_distribution<size_t>(0, v.size() - 1)(g_rng));
  };
  Conv2dShape s{};
  s.n = pick({1, 2, 3});
  s.c = pick({1, 2, 3, 5, 7, 16, 17, 33, 65});
  s.t = pick({1, 3, 5, 6, 8, 9, 13, 16, 17, 31, 33, 64, 65});
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

static void test_layers() {
  // Fixed cases: the linear layer, large K, 1x1 stride 2 (ResNet shortcut),
  // LeNet's first layer, ResNet-20 stages, more filters/channels than one
  // tile, a position count that leaves a ragged filter-gradient slice.
  const std::vector<Conv2dShape> fixed = {
      {7, 37, 1, 1, 11, 1, 1, 1, 1, 0, 0},     {2, 256, 5, 5, 9, 3, 3, 1, 1, 1, 1},
      {3, 16, 8, 8, 32, 1, 1, 2, 2, 0, 0},     {2, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2},
      {1, 3, 32, 32, 16, 3, 3, 1, 1, 1, 1},    {5, 20, 12, 12, 50, 5, 5, 1, 1, 0, 0},
      {8, 16, 32, 32, 16, 3, 3, 1, 1, 1, 1},   {4, 16, 32, 32, 32, 1, 1, 2, 2, 0, 0},
      {4, 32, 16, 16, 64, 3, 3, 2, 2, 1, 1},   {2, 512, 4, 4, 70, 3, 3, 1, 1, 1, 1},
      {2, 70, 6, 7, 130, 3, 3, 2, 2, 1, 1},    {3, 5, 67, 45, 7, 3, 2, 1, 1, 1, 0},
      {256, 64, 1, 1, 10, 1, 1, 1, 1, 0, 0},   {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0},
  };
  // ADDERNET_CUDA_TEST_SHAPES sets the number of random shapes (fewer under
  // the slower compute-sanitizer tools).
  const char* env = std::getenv("ADDERNET_CUDA_TEST_SHAPES");
  const int randoms = env ? std::atoi(env) : 60;
  for (size_t i = 0; i < fixed.size(); ++i) check_layer(fixed[i], i % 2 == 0, true);
  for (int i = 0; i < randoms; ++i) check_layer(random_shape(), i % 2 == 1, i % 10 == 0);
}

static void test_adaptive_scale() {
  for (int64_t n : {int64_t(1), int64_t(1001), int64_t(8193), int64_t(1) << 20 | 3}) {
    const std::string ctx = "[n" + std::to_string(n) + "]";
    const auto g = random_vec(n, -3.0f, 3.0f);
    std::vector<float> want(n);
    adn::ref::adaptive_scale(g.data(), n, 0.2f, want.data());
    DBuf<float> dg(g), out(n), alpha(1);
    out.poison(), alpha.poison();
    cu::adaptive_scale(dg, n, 0.2f, out, g_stream, alpha);
    const auto got = out.download();
    expect_sum_close("adaptive_scale " + ctx, got, want, 1, 1);
    double sq = 0.0;
    for (float v : g) sq += double(v) * v;
    const double a = 0.2 * std::sqrt(double(n)) / std::sqrt(sq);
    expect_close("adaptive_scale alpha " + ctx, alpha.download(), {float(a)}, 0.0, 1e-6);
    double rms = 0.0;
    for (float v : got) rms += double(v) * v;
    expect_true(std::fabs(std::sqrt(rms / double(n)) - 0.2) < 1e-5, "adaptive_scale rms " + ctx);
    cu::adaptive_scale(dg, n, 0.2f, dg, g_stream);  // in place
    expect_bitwise("adaptive_scale in place " + ctx, dg.download(), got);
  }
  // All-zero gradient: the 1e-12 floor keeps it finite (zero).
  DBuf<float> z(std::vector<float>(10, 0.0f)), out(10);
  out.poison();
  cu::adaptive_scale(z, 10, 0.2f, out, g_stream);
  expect_bitwise("adaptive_scale zero gradient", out.download(), std::vector<float>(10, 0.0f));
}

// ---- Batch norm -------------------------------------------------------------------

static void test_batch_norm() {
  struct Case {
    int64_t n, c, hw;
  };
  const std::vector<Case> cases = {{2, 3, 1},    {128, 120, 1}, {5, 7, 13},  {8, 16, 1024},
                                   {3, 1, 4097}, {1, 6, 784},   {256, 10, 1}, {9, 3, 5000}};
  for (const Case& b : cases) {
    const int64_t size = b.n * b.c * b.hw;
    // Offset inputs: a mean far from 0 tests the two-pass variance.
    const auto x = random_vec(size, 2.0f, 5.0f), gy = random_vec(size, -1.0f, 1.0f);
    const auto gamma = random_vec(b.c, 0.5f, 1.5f), beta = random_vec(b.c, -1.0f, 1.0f);
    const auto rm = random_vec(b.c, -1.0f, 1.0f), rv = random_vec(b.c, 0.5f, 2.0f);
    DBuf<float> dx(x), dgy(gy), dgamma(gamma), dbeta(beta);
    for (bool training : {true, false}) {
      char ctx[100];
      std::snprintf(ctx, sizeof ctx, "[n%ld c%ld hw%ld %s]", long(b.n), long(b.c), long(b.hw),
                    training ? "train" : "eval");
      std::vector<float> y_ref(size), mean_ref(b.c), invstd_ref(b.c), rm_ref = rm, rv_ref = rv;
      adn::ref::batch_norm_forward(b.n, b.c, b.hw, x.data(), gamma.data(), beta.data(),
                                   rm_ref.data(), rv_ref.data(), training, 0.1, 1e-5,
                                   y_ref.data(), mean_ref.data(), invstd_ref.data());
      DBuf<float> y(size), mean(b.c), invstd(b.c), drm(rm), drv(rv);
      y.poison(), mean.poison(), invstd.poison();
      cu::batch_norm_forward(b.n, b.c, b.hw, dx, dgamma, dbeta, drm, drv, training, 0.1, 1e-5, y,
                             mean, invstd, g_stream);
      const auto y_h = y.download();
      expect_close(std::string("bn y ") + ctx, y_h, y_ref, 1e-5, 1e-5);
      expect_close(std::string("bn save_mean ") + ctx, mean.download(), mean_ref, 1e-6, 1e-6);
      expect_close(std::string("bn save_invstd ") + ctx, invstd.download(), invstd_ref, 1e-6, 1e-5);
      expect_close(std::string("bn running_mean ") + ctx, drm.download(), rm_ref, 1e-6, 1e-6);
      expect_close(std::string("bn running_var ") + ctx, drv.download(), rv_ref, 1e-6, 1e-6);
      if (!training) continue;

      std::vector<float> gx_ref(size), gg_ref(b.c), gb_ref(b.c);
      adn::ref::batch_norm_backward(b.n, b.c, b.hw, x.data(), gamma.data(), gy.data(),
                                    mean_ref.data(), invstd_ref.data(), gx_ref.data(),
                                    gg_ref.data(), gb_ref.data());
      DBuf<float> gx(size), gg(b.c), gb(b.c);
      gx.poison(), gg.poison(), gb.poison();
      cu::batch_norm_backward(b.n, b.c, b.hw, dx, dgamma, dgy, mean, invstd, gx, gg, gb,
                              g_stream);
      const double scale = std::sqrt(double(b.n * b.hw));  // the sums grow with the batch
      const auto gx_h = gx.download();
      expect_close(std::string("bn grad_in ") + ctx, gx_h, gx_ref, 1e-4, 1e-4);
      expect_close(std::string("bn grad_gamma ") + ctx, gg.download(), gg_ref, 1e-5 * scale, 1e-5);
      expect_close(std::string("bn grad_beta ") + ctx, gb.download(), gb_ref, 1e-5 * scale, 1e-5);

      // Repeat: same bits; grad_in alone matches.
      DBuf<float> y2(size), gx2(size);
      y2.poison(), gx2.poison();
      DBuf<float> drm2(rm), drv2(rv), mean2(b.c), invstd2(b.c);
      cu::batch_norm_forward(b.n, b.c, b.hw, dx, dgamma, dbeta, drm2, drv2, true, 0.1, 1e-5, y2,
                             mean2, invstd2, g_stream);
      cu::batch_norm_backward(b.n, b.c, b.hw, dx, dgamma, dgy, mean2, invstd2, gx2, nullptr,
                              nullptr, g_stream);
      expect_bitwise(std::string("bn y repeat ") + ctx, y2.download(), y_h);
      expect_bitwise(std::string("bn grad_in alone ") + ctx, gx2.download(), gx_h);
    }
  }
}

// ---- Element-wise -------------------------------------------------------------------

static void test_elementwise() {
  for (int64_t n : {int64_t(1), int64_t(37), int64_t(100003)}) {
    const std::string ctx = "[n" + std::to_string(n) + "]";
    const auto x = random_vec(n, -1.0f, 1.0f), b = random_vec(n, -1.0f, 1.0f);
    auto xr = x;  // ReLU passes NaN through untouched, so its bits can be compared
    if (n > 4) xr[1] = std::numeric_limits<float>::quiet_NaN(), xr[2] = -0.0f, xr[3] = 0.0f;
    std::vector<float> relu_want(n), grad_want(n), sum_want(n);
    for (int64_t i = 0; i < n; ++i) {
      relu_want[i] = xr[i] < 0.0f ? 0.0f : xr[i];
      grad_want[i] = relu_want[i] > 0.0f ? b[i] : 0.0f;
      sum_want[i] = x[i] + b[i];
    }
    DBuf<float> dx(x), dxr(xr), db(b), relu(n), grad(n), sum(n);
    relu.poison(), grad.poison(), sum.poison();
    cu::relu_forward(dxr, relu, n, g_stream);
    cu::relu_backward(relu, db, grad, n, g_stream);
    cu::add(dx, db, sum, n, g_stream);
    expect_bitwise("relu " + ctx, relu.download(), relu_want);
    expect_bitwise("relu backward " + ctx, grad.download(), grad_want);
    expect_bitwise("add " + ctx, sum.download(), sum_want);
    cu::add(dx, db, dx, n, g_stream);
    expect_bitwise("add in place " + ctx, dx.download(), sum_want);
  }
}

// ---- Pooling ------------------------------------------------------------------------

static std::string pool_name(const Pool2dShape& s) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "[N%ld C%ld %ldx%ld k%ldx%ld s%ld,%ld p%ld,%ld]", long(s.n),
                long(s.c), long(s.h), long(s.w), long(s.kh), long(s.kw), long(s.sh), long(s.sw),
                long(s.ph), long(s.pw));
  return buf;
}

static void test_pool_shape(const Pool2dShape& s, bool ties) {
  const std::string ctx = pool_name(s) + (ties ? " ties" : "");
  std::vector<float> x = random_vec(s.input_size(), -3.0f, 3.0f);
  if (ties) for (auto& v : x) v = std::round(v);  // the scan order decides the winner
  const auto gy = random_vec(s.output_size(), -1.0f, 1.0f);
  std::vector<float> y_ref(s.output_size()), avg_ref(s.output_size()), gx_ref(s.input_size()),
      avg_gx_ref(s.input_size());
  std::vector<int32_t> arg_ref(s.output_size());
  adn::ref::max_pool2d_forward(s, x.data(), y_ref.data(), arg_ref.data());
  adn::ref::max_pool2d_backward(s, x.data(), gy.data(), gx_ref.data());
  adn::ref::avg_pool2d_forward(s, x.data(), avg_ref.data());
  adn::ref::avg_pool2d_backward(s, gy.data(), avg_gx_ref.data());

  DBuf<float> dx(x), dgy(gy), y(s.output_size()), avg(s.output_size()), gx(s.input_size()),
      avg_gx(s.input_size());
  DBuf<int32_t> arg(s.output_size());
  y.poison(), avg.poison(), gx.poison(), avg_gx.poison(), arg.poison();
  cu::max_pool2d_forward(s, dx, y, arg, g_stream);
  cu::max_pool2d_backward(s, dgy, arg, gx, g_stream);
  cu::avg_pool2d_forward(s, dx, avg, g_stream);
  cu::avg_pool2d_backward(s, dgy, avg_gx, g_stream);
  expect_bitwise("max pool y " + ctx, y.download(), y_ref);
  expect_bitwise("max pool argmax " + ctx, arg.download(), arg_ref);
  expect_close("max pool grad " + ctx, gx.download(), gx_ref, 1e-6, 1e-6);
  expect_close("avg pool y " + ctx, avg.download(), avg_ref, 1e-6, 1e-6);
  expect_close("avg pool grad " + ctx, avg_gx.download(), avg_gx_ref, 1e-6, 1e-5);

  // Global average pooling is the whole-plane window.
  if (s.kh == s.h && s.kw == s.w && s.ph == 0 && s.pw == 0) {
    DBuf<float> g(s.planes()), ggx(s.input_size());
    g.poison(), ggx.poison();
    cu::global_avg_pool_forward(s.planes(), s.h * s.w, dx, g, g_stream);
    cu::global_avg_pool_backward(s.planes(), s.h * s.w, dgy, ggx, g_stream);
    expect_close("global avg pool y " + ctx, g.download(), avg_ref, 1e-6, 1e-6);
    expect_close("global avg pool grad " + ctx, ggx.download(), avg_gx_ref, 1e-6, 1e-5);
  }
}

static void test_pooling() {
  const std::vector<Pool2dShape> shapes = {
      {2, 6, 28, 28, 2, 2, 2, 2, 0, 0},    // LeNet
      {4, 16, 32, 32, 3, 3, 2, 2, 1, 1},   // overlapping, padded
      {3, 64, 8, 8, 8, 8, 8, 8, 0, 0},     // ResNet-20's global average pool
      {1, 1, 1, 1, 1, 1, 1, 1, 0, 0},      {2, 3, 7, 5, 3, 2, 1, 3, 1, 1},
      {1, 2, 9, 11, 5, 4, 2, 1, 2, 2},
      {2, 1, 5, 5, 2, 2, 3, 3, 1, 0},      // stride > kernel: some inputs in no window
      {2, 5, 7, 9, 7, 9, 1, 1, 0, 0},      {1, 3, 33, 35, 33, 35, 1, 1, 0, 0},
  };
  for (const auto& s : shapes) {
    test_pool_shape(s, false);
    test_pool_shape(s, true);
  }
  // -inf inputs: the argmax still points into the window, at its first element;
  // NaN wins.
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  {
    const Pool2dShape s{1, 1, 2, 2, 2, 2, 2, 2, 1, 1};
    DBuf<float> x(std::vector<float>{-inf, -inf, -inf, 5.0f}), y(4);
    DBuf<int32_t> arg(4);
    cu::max_pool2d_forward(s, x, y, arg, g_stream);
    const auto a = arg.download();
    const auto yv = y.download();
    expect_true(a == std::vector<int32_t>{0, 1, 2, 3} && yv[3] == 5.0f && yv[0] == -inf,
                "max pool all -inf window");
  }
  {
    const Pool2dShape s{1, 1, 2, 2, 2, 2, 2, 2, 0, 0};
    DBuf<float> x(std::vector<float>{1.0f, nan, 3.0f, 2.0f}), y(1);
    DBuf<int32_t> arg(1);
    cu::max_pool2d_forward(s, x, y, arg, g_stream);
    expect_true(std::isnan(y.download()[0]) && arg.download()[0] == 1, "max pool propagates NaN");
  }
}

// ---- Softmax cross-entropy -------------------------------------------------------------

static void test_softmax_cross_entropy() {
  for (auto nk : std::vector<std::pair<int64_t, int64_t>>{
           {1, 1}, {1, 10}, {7, 3}, {256, 10}, {3000, 100}, {5, 1000}, {33, 33}}) {
    const int64_t n = nk.first, k = nk.second;
    const std::string ctx = "[n" + std::to_string(n) + " k" + std::to_string(k) + "]";
    auto logits = random_vec(n * k, -4.0f, 4.0f);
    if (k > 3) logits[2] = logits[k - 1] = 9.0f;  // a tie in row 0: the first one counts
    std::vector<int32_t> labels(n);
    for (auto& l : labels) l = std::uniform_int_distribution<int32_t>(0, int32_t(k - 1))(g_rng);
    if (k > 3) labels[0] = 2;
    std::vector<float> g_ref(n * k);
    const auto want =
        adn::ref::softmax_cross_entropy(n, k, logits.data(), labels.data(), g_ref.data());
    DBuf<float> dl(logits), g(n * k);
    DBuf<int32_t> dlab(labels);
    DBuf<cu::LossOut> res(1);
    g.poison(), res.poison();
    cu::softmax_cross_entropy(n, k, dl, dlab, g, res, g_stream);
    const cu::LossOut got = res.download()[0];
    expect_true(std::fabs(got.loss - want.loss) <= 1e-9 * std::max(1.0, want.loss),
                "ce loss " + ctx);
    expect_true(got.correct == want.correct, "ce correct " + ctx);
    expect_true(got.invalid_label_row == -1, "ce valid labels " + ctx);
    const auto g_h = g.download();
    expect_close("ce grad " + ctx, g_h, g_ref, 1e-10, 1e-6);
    const auto sync = cu::softmax_cross_entropy_sync(n, k, dl, dlab, nullptr, g_stream);
    expect_true(sync.loss == got.loss && sync.correct == got.correct, "ce sync, no grad " + ctx);
    g.poison();
    cu::softmax_cross_entropy(n, k, dl, dlab, g, res, g_stream);
    expect_bitwise("ce grad repeat " + ctx, g.download(), g_h);
  }
  // Huge logits stay finite (log-sum-exp); ties count the first maximum.
  DBuf<float> big(std::vector<float>{1e4f, -1e4f, 3e4f, 3e4f}), bg(4);
  DBuf<int32_t> big_labels(std::vector<int32_t>{1, 1});
  const auto r = cu::softmax_cross_entropy_sync(2, 2, big, big_labels, bg, g_stream);
  const auto bgh = bg.download();
  expect_true(std::fabs(r.loss - 1e4 - std::log(2.0) / 2) < 1e-6 && r.correct == 0 &&
                  std::isfinite(bgh[0]) && bgh[3] == -0.25f,
              "ce extreme logits");
  // Invalid labels: nothing but the result is written; the sync form throws.
  DBuf<int32_t> bad(std::vector<int32_t>{0, 2});
  DBuf<cu::LossOut> res(1);
  bg.poison();
  cu::softmax_cross_entropy(2, 2, big, bad, bg, res, g_stream);
  const auto out = res.download()[0];
  expect_true(out.invalid_label_row == 1 && std::isnan(out.loss), "ce invalid label reported");
  const auto untouched = bg.download();
  expect_true(std::all_of(untouched.begin(), untouched.end(), [](float v) { return std::isnan(v); }),
              "ce invalid label writes no gradient");
  expect_throws<std::invalid_argument>(
      "ce sync invalid label",
      [&] { cu::softmax_cross_entropy_sync(2, 2, big, bad, bg, g_stream); },
      "label 2 at index 1 is outside [0, 2)");
}

// ---- SGD -------------------------------------------------------------------------------

static void test_sgd() {
  struct Opt {
    double lr, momentum, dampening, wd;
    bool nesterov;
  };
  const std::vector<Opt> opts = {{0.1, 0.0, 0.0, 0.0, false}, {0.05, 0.9, 0.0, 5e-4, false},
                                 {0.05, 0.9, 0.0, 5e-4, true}, {0.2, 0.5, 0.3, 0.0, false},
                                 {0.01, 0.0, 0.0, 1e-2, false}};
  for (int64_t n : {int64_t(5), int64_t(70001)}) {
    for (const Opt& o : opts) {
      auto param = random_vec(n, -1.0f, 1.0f);
      auto param_ref = param;
      std::vector<float> buf_ref(n, 0.0f);
      DBuf<float> dp(param), dbuf(std::vector<float>(n, 0.0f)), dg(n);
      char ctx[120];
      std::snprintf(ctx, sizeof ctx, "[n%ld lr%g m%g d%g wd%g%s]", long(n), o.lr, o.momentum,
                    o.dampening, o.wd, o.nesterov ? " nesterov" : "");
      for (int step = 0; step < 5; ++step) {
        const auto grad = random_vec(n, -1.0f, 1.0f);
        dg.upload(grad);
        cu::sgd_update(n, dp, dg, o.momentum != 0.0 ? dbuf.get() : nullptr, o.lr, o.momentum,
                       o.dampening, o.wd, o.nesterov, step == 0, g_stream);
        adn::ref::sgd_update(n, param_ref.data(), grad.data(), buf_ref.data(), o.lr, o.momentum,
                             o.dampening, o.wd, o.nesterov, step == 0);
      }
      expect_close(std::string("sgd param ") + ctx, dp.download(), param_ref, 1e-6, 1e-5);
      expect_close(std::string("sgd buffer ") + ctx, dbuf.download(), buf_ref, 1e-6, 1e-5);
    }
  }
}

// ---- Adam / AdamW ------------------------------------------------------------------------

// Against the double reference, and bitwise against the CPU kernel (both run
// adn::adam_element). The grad buffer must come back untouched.
static void test_adam() {
  auto opts = [](double lr, double b1, double b2, double eps, double wd, bool dec, bool ams) {
    adn::AdamOptions o;
    o.lr = lr, o.beta1 = b1, o.beta2 = b2, o.eps = eps, o.weight_decay = wd;
    o.decoupled = dec, o.amsgrad = ams;
    return o;
  };
  const std::vector<adn::AdamOptions> cases = {
      opts(1e-3, 0.9, 0.999, 1e-8, 0.0, false, false), opts(1e-2, 0.8, 0.99, 1e-6, 0.1, false, false),
      opts(1e-2, 0.9, 0.999, 1e-8, 1e-2, true, false), opts(3e-3, 0.9, 0.999, 1e-8, 0.05, false, true),
      opts(1e-2, 0.5, 0.9, 1e-3, 0.2, true, true)};
  for (int64_t n : {int64_t(5), int64_t(70001)}) {
    for (const adn::AdamOptions& o : cases) {
      char ctx[120];
      std::snprintf(ctx, sizeof ctx, "[n%ld lr%g b%g,%g eps%g wd%g%s%s]", long(n), o.lr, o.beta1,
                    o.beta2, o.eps, o.weight_decay, o.decoupled ? " adamw" : "",
                    o.amsgrad ? " amsgrad" : "");
      const auto param = random_vec(n, -1.0f, 1.0f);
      std::vector<float> p_cpu = param, m_cpu(n, 0.0f), v_cpu(n, 0.0f), vm_cpu(n, 0.0f);
      std::vector<float> p_ref = param, m_ref(n, 0.0f), v_ref(n, 0.0f), vm_ref(n, 0.0f);
      const std::vector<float> zero(n, 0.0f);
      DBuf<float> dp(param), dm(zero), dv(zero), dvm(zero), dg(n);
      for (int64_t step = 1; step <= 5; ++step) {
        const auto grad = random_vec(n, -2.0f, 2.0f);
        dg.upload(grad);
        cu::adam_update(n, dp, dg, dm, dv, o.amsgrad ? dvm.get() : nullptr, step, o, g_stream);
        adn::adam_update(n, p_cpu.data(), grad.data(), m_cpu.data(), v_cpu.data(),
                         o.amsgrad ? vm_cpu.data() : nullptr, step, o);
        adn::ref::adam_update(n, p_ref.data(), grad.data(), m_ref.data(), v_ref.data(),
                              vm_ref.data(), step, o);
        if (step == 5) expect_bitwise(std::string("adam grad untouched ") + ctx, dg.download(), grad);
      }
      expect_close(std::string("adam param ") + ctx, dp.download(), p_ref, 1e-6, 1e-5);
      expect_close(std::string("adam exp_avg ") + ctx, dm.download(), m_ref, 1e-6, 1e-5);
      expect_close(std::string("adam exp_avg_sq ") + ctx, dv.download(), v_ref, 1e-7, 1e-5);
      expect_bitwise(std::string("adam param = cpu ") + ctx, dp.download(), p_cpu);
      expect_bitwise(std::string("adam exp_avg = cpu ") + ctx, dm.download(), m_cpu);
      expect_bitwise(std::string("adam exp_avg_sq = cpu ") + ctx, dv.download(), v_cpu);
      if (o.amsgrad) {
        expect_close(std::string("adam max_exp_avg_sq ") + ctx, dvm.download(), vm_ref, 1e-7, 1e-5);
        expect_bitwise(std::string("adam max_exp_avg_sq = cpu ") + ctx, dvm.download(), vm_cpu);
      }
    }
  }
}

// ---- Errors --------------------------------------------------------------------------

// Checks that need no device: argument validation happens before any CUDA call.
static void test_validation() {
  float* none = nullptr;
  expect_throws<std::invalid_argument>("zero stride", [&] {
    cu::adder2d_forward({1, 1, 4, 4, 1, 3, 3, 0, 1, 0, 0}, none, none, none, none);
  });
  expect_throws<std::invalid_argument>("window larger than input", [&] {
    cu::conv2d_backward({1, 1, 2, 2, 1, 3, 3, 1, 1, 0, 0}, none, none, none, none, none, none);
  });
  expect_throws<std::invalid_argument>(
      "input beyond 32-bit indexing",
      [&] { cu::adder2d_forward({1 << 16, 1 << 8, 256, 256, 1, 1, 1, 1, 1, 0, 0}, none, none, none, none); },
      "2^31");
  expect_throws<std::invalid_argument>("bn training on one value", [&] {
    cu::batch_norm_forward(1, 4, 1, none, none, none, none, none, true, 0.1, 1e-5, none, none,
                           none);
  });
  expect_throws<std::invalid_argument>("sgd momentum without buffer", [&] {
    cu::sgd_update(4, none, none, nullptr, 0.1, 0.9, 0.0, 0.0, false, true);
  });
  adn::AdamOptions adam;
  expect_throws<std::invalid_argument>("adam step 0", [&] {
    cu::adam_update(4, none, none, none, none, nullptr, 0, adam);
  }, "step must be >= 1");
  adam.amsgrad = true;
  expect_throws<std::invalid_argument>("adam amsgrad without buffer", [&] {
    cu::adam_update(4, none, none, none, none, nullptr, 1, adam);
  });
  expect_throws<std::invalid_argument>("pool padding over half the kernel", [&] {
    cu::max_pool2d_forward({1, 1, 4, 4, 2, 2, 1, 1, 2, 0}, none, none, nullptr);
  });
  expect_throws<std::invalid_argument>("ce k = 0", [&] {
    cu::softmax_cross_entropy(2, 0, none, nullptr, none, nullptr);
  });
  int local = 0;
  expect_throws<std::invalid_argument>("dealloc of a foreign pointer",
                                       [&] { cu::dealloc(&local); });
  cu::dealloc(nullptr);  // a no-op
  expect_true(cu::alloc(0) == nullptr, "alloc(0) is null");
}

static void test_device_errors() {
  const auto before = cu::memory_info();
  // An absurd allocation: a thrown adn::cuda::Error with the CUDA message.
  ++g_checks;
  try {
    void* p = cu::alloc(size_t(1) << 52);
    cu::dealloc(p);
    fail("alloc of 4 PiB succeeded");
  } catch (const cu::Error& e) {
    const std::string m = e.what();
    if (e.code() != 2 /* cudaErrorMemoryAllocation */ || m.find("out of memory") == std::string::npos ||
        m.find("cudaMalloc") == std::string::npos)
      fail("absurd alloc error: code " + std::to_string(e.code()) + ": " + m);
    else
      std::printf("ok: absurd allocation threw: %s\n", m.c_str());
  }
  // The failure is not sticky: the device still works.
  {
    DBuf<float> a(std::vector<float>{1.0f, -2.0f}), b(2);
    cu::relu_forward(a, b, 2, g_stream);
    expect_true(b.download() == std::vector<float>{1.0f, 0.0f}, "device usable after OOM");
  }
  const auto after = cu::memory_info();
  expect_true(after.live_bytes == before.live_bytes &&
                  after.live_allocations == before.live_allocations,
              "failed alloc leaves the ledger unchanged");
  // The ledger counts live bytes.
  {
    DBuf<float> a(1000);
    expect_true(cu::memory_info().live_bytes == before.live_bytes + 4000 &&
                    cu::memory_info().live_allocations == before.live_allocations + 1,
                "memory_info counts an allocation");
  }
  expect_true(cu::memory_info().live_bytes == before.live_bytes, "memory_info after free");
}

int main() {
  test_validation();
  if (!cu::available()) {
    const std::string why = cu::unavailable_reason();
    // Without a device an allocation must throw a CUDA error, not abort.
    ++g_checks;
    try {
      void* p = cu::alloc(1024);
      cu::dealloc(p);
      fail("alloc without a device succeeded");
    } catch (const cu::Error& e) {
      std::printf("ok: alloc without a device threw: %s\n", e.what());
    }
    expect_true(cu::device_count() == 0, "device_count() == 0 without a device");
    expect_true(cu::memory_info().live_bytes == 0, "nothing live without a device");
    std::printf("%d passed, %d failed\n", g_checks - g_failures, g_failures);
    if (g_failures) return 1;
    std::printf("skipped: no CUDA device (%s)\n", why.c_str());
    return 77;
  }

  const int dev = cu::current_device();
  const cu::DeviceInfo info = cu::device_info(dev);
  std::printf("device %d: %s, sm_%d%d, %d SMs, %.1f GiB, %d MHz; runtime %d, driver %d\n", dev,
              info.name.c_str(), info.major, info.minor, info.multiprocessors,
              double(info.total_memory) / (1 << 30), info.clock_khz / 1000, cu::runtime_version(),
              cu::driver_version());
  g_stream = cu::create_stream();
  try {
    test_device_errors();
    test_layers();
    test_adaptive_scale();
    test_batch_norm();
    test_elementwise();
    test_pooling();
    test_softmax_cross_entropy();
    test_sgd();
    test_adam();
    cu::synchronize(g_stream);
  } catch (const std::exception& e) {
    fail(std::string("uncaught exception: ") + e.what());
  }
  try {
    cu::destroy_stream(g_stream);
    cu::synchronize_device();
  } catch (const std::exception& e) {
    fail(std::string("teardown: ") + e.what());
  }
  const auto m = cu::memory_info();
  expect_true(m.live_bytes == 0 && m.live_allocations == 0,
              "no device memory leaked (" + std::to_string(m.live_bytes) + " bytes live)");
  std::printf("%d passed, %d failed\n", g_checks - g_failures, g_failures);
  return g_failures ? 1 : 0;
}
