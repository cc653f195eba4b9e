// Native tests for the training operations (no Node): threaded code against
// the plain references at 1, 2 and 3 threads, bitwise determinism across
// thread counts, and finite differences of double-precision forwards for the
// gradients whose formulas are derived rather than direct.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "addernet.h"
#include "reference.h"

using adn::Pool2dShape;

static int g_failures = 0, g_checks = 0;
static std::mt19937 g_rng(20260426u);

static std::vector<float> random_vec(int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& e : v) e = d(g_rng);
  return v;
}

static std::vector<float> poisoned(int64_t n) {
  return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN());
}

static void fail(const std::string& what) {
  std::printf("FAIL %s\n", what.c_str());
  ++g_failures;
}

static void expect_true(bool ok, const std::string& what) {
  ++g_checks;
  if (!ok) fail(what);
}

// |got - want| <= atol + rtol * |want|, NaN never passes.
static void expect_close(const std::string& what, const float* got, const float* want, size_t n,
                         double atol = 1e-5, double rtol = 1e-5) {
  ++g_checks;
  for (size_t i = 0; i < n; ++i) {
    const double d = std::fabs(double(got[i]) - double(want[i]));
    if (!(d <= atol + rtol * std::fabs(double(want[i])))) {
      char buf[160];
      std::snprintf(buf, sizeof buf, ": index %zu got %.8g want %.8g", i, got[i], want[i]);
      fail(what + buf);
      return;
    }
  }
}

static void expect_close(const std::string& what, const std::vector<float>& got,
                         const std::vector<float>& want, double atol = 1e-5, double rtol = 1e-5) {
  if (got.size() != want.size()) return fail(what + ": size mismatch");
  expect_close(what, got.data(), want.data(), got.size(), atol, rtol);
}

static void expect_bitwise(const std::string& what, const std::vector<float>& a,
                           const std::vector<float>& b) {
  ++g_checks;
  if (a.size() != b.size() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) != 0)
    fail(what + ": results differ between thread counts");
}

template <class Fn>
static void expect_throws(const std::string& what, Fn fn) {
  ++g_checks;
  try {
    fn();
  } catch (const std::invalid_argument&) {
    return;
  }
  fail(what + ": no std::invalid_argument");
}

// ---- Batch norm --------------------------------------------------------------

struct BnCase {
  int64_t n, c, hw;
};

static std::string bn_name(const BnCase& b, bool training, int threads) {
  char buf[100];
  std::snprintf(buf, sizeof buf, "[n%ld c%ld hw%ld %s t%d]", long(b.n), long(b.c), long(b.hw),
                training ? "train" : "eval", threads);
  return buf;
}

struct BnResult {
  std::vector<float> y, mean, invstd, rmean, rvar, gx, gg, gb;
};

template <class Fwd, class Bwd>
static BnResult run_bn(Fwd fwd, Bwd bwd, const BnCase& b, bool training,
                       const std::vector<float>& x, const std::vector<float>& gamma,
                       const std::vector<float>& beta, const std::vector<float>& rm0,
                       const std::vector<float>& rv0, const std::vector<float>& gy) {
  const int64_t size = b.n * b.c * b.hw;
  BnResult r{poisoned(size), poisoned(b.c), poisoned(b.c), rm0, rv0,
             poisoned(size), poisoned(b.c), poisoned(b.c)};
  fwd(b.n, b.c, b.hw, x.data(), gamma.data(), beta.data(), r.rmean.data(), r.rvar.data(),
      training, 0.1, 1e-5, r.y.data(), r.mean.data(), r.invstd.data());
  if (training)
    bwd(b.n, b.c, b.hw, x.data(), gamma.data(), gy.data(), r.mean.data(), r.invstd.data(),
        r.gx.data(), r.gg.data(), r.gb.data());
  return r;
}

static void test_batch_norm() {
  const std::vector<BnCase> cases = {{2, 3, 1},  {128, 120, 1}, {5, 7, 13},
                                     {8, 16, 1024}, {3, 1, 4097}, {1, 6, 784}};
  for (const BnCase& b : cases) {
    const int64_t size = b.n * b.c * b.hw;
    // Offset inputs: a mean far from 0 tests the two-pass variance.
    const auto x = random_vec(size, 2.0f, 5.0f), gy = random_vec(size, -1.0f, 1.0f);
    const auto gamma = random_vec(b.c, 0.5f, 1.5f), beta = random_vec(b.c, -1.0f, 1.0f);
    const auto rm = random_vec(b.c, -1.0f, 1.0f), rv = random_vec(b.c, 0.5f, 2.0f);
    for (bool training : {true, false}) {
      const BnResult want = run_bn(adn::ref::batch_norm_forward, adn::ref::batch_norm_backward,
                                   b, training, x, gamma, beta, rm, rv, gy);
      std::vector<BnResult> got;
      for (int threads : {1, 2, 3}) {
        adn::set_num_threads(threads);
        const std::string ctx = bn_name(b, training, threads);
        got.push_back(run_bn(adn::batch_norm_forward, adn::batch_norm_backward, b, training, x,
                             gamma, beta, rm, rv, gy));
        const BnResult& r = got.back();
        expect_close("bn y " + ctx, r.y, want.y, 1e-5, 1e-5);
        expect_close("bn save_mean " + ctx, r.mean, want.mean, 1e-6, 1e-6);
        expect_close("bn save_invstd " + ctx, r.invstd, want.invstd, 1e-6, 1e-5);
        expect_close("bn running_mean " + ctx, r.rmean, want.rmean, 1e-6, 1e-6);
        expect_close("bn running_var " + ctx, r.rvar, want.rvar, 1e-6, 1e-6);
        if (!training) continue;
        const double scale = std::sqrt(double(b.n * b.hw));  // the sums grow with the batch
        expect_close("bn grad_in " + ctx, r.gx, want.gx, 1e-4, 1e-4);
        expect_close("bn grad_gamma " + ctx, r.gg, want.gg, 1e-5 * scale, 1e-5);
        expect_close("bn grad_beta " + ctx, r.gb, want.gb, 1e-5 * scale, 1e-5);
      }
      for (size_t t = 1; t < got.size(); ++t) {
        const std::string ctx = bn_name(b, training, int(t) + 1);
        expect_bitwise("bn y " + ctx, got[t].y, got[0].y);
        if (training) expect_bitwise("bn grad_in " + ctx, got[t].gx, got[0].gx);
      }
    }
  }

  // Training on one value per channel has no variance estimate (PyTorch refuses too).
  std::vector<float> one(4, 1.0f), out(4), m(4), v(4);
  expect_throws("bn single value", [&] {
    adn::batch_norm_forward(1, 4, 1, one.data(), one.data(), one.data(), m.data(), v.data(),
                            true, 0.1, 1e-5, out.data(), m.data(), v.data());
  });
}

// Finite differences of a double-precision training-mode BN on loss = sum(y * r).
static void test_batch_norm_gradcheck() {
  const int64_t n = 3, c = 2, hw = 5, size = n * c * hw;
  const auto xf = random_vec(size, -2.0f, 2.0f), r = random_vec(size, -1.0f, 1.0f);
  const auto gamma = random_vec(c, 0.5f, 1.5f), beta = random_vec(c, -1.0f, 1.0f);
  std::vector<double> x(xf.begin(), xf.end()), g(gamma.begin(), gamma.end()),
      bt(beta.begin(), beta.end());
  auto loss = [&]() {
    double total = 0.0;
    for (int64_t ch = 0; ch < c; ++ch) {
      double mean = 0.0, var = 0.0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t q = 0; q < hw; ++q) mean += x[(i * c + ch) * hw + q];
      mean /= n * hw;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t q = 0; q < hw; ++q) var += std::pow(x[(i * c + ch) * hw + q] - mean, 2);
      var /= n * hw;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t q = 0; q < hw; ++q) {
          const int64_t e = (i * c + ch) * hw + q;
          total += r[e] * ((x[e] - mean) / std::sqrt(var + 1e-5) * g[ch] + bt[ch]);
        }
    }
    return total;
  };
  auto numeric = [&](std::vector<double>& v) {
    std::vector<float> d(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      const double keep = v[i], h = 1e-6;
      v[i] = keep + h;
      const double up = loss();
      v[i] = keep - h;
      const double down = loss();
      v[i] = keep;
      d[i] = float((up - down) / (2 * h));
    }
    return d;
  };
  std::vector<float> y(size), mean(c), invstd(c), rm(c, 0.0f), rv(c, 1.0f);
  std::vector<float> gx(size), gg(c), gb(c);
  adn::batch_norm_forward(n, c, hw, xf.data(), gamma.data(), beta.data(), rm.data(), rv.data(),
                          true, 0.1, 1e-5, y.data(), mean.data(), invstd.data());
  adn::batch_norm_backward(n, c, hw, xf.data(), gamma.data(), r.data(), mean.data(),
                           invstd.data(), gx.data(), gg.data(), gb.data());
  expect_close("bn gradcheck x", gx, numeric(x), 1e-4, 1e-3);
  expect_close("bn gradcheck gamma", gg, numeric(g), 1e-4, 1e-3);
  expect_close("bn gradcheck beta", gb, numeric(bt), 1e-4, 1e-3);
}

// ---- Element-wise ------------------------------------------------------------

static void test_elementwise() {
  for (int64_t n : {int64_t(1), int64_t(37), int64_t(100003)}) {
    const auto x = random_vec(n, -1.0f, 1.0f), b = random_vec(n, -1.0f, 1.0f);
    std::vector<float> relu(n), relu_want(n), grad(n), grad_want(n), sum(n), sum_want(n);
    for (int64_t i = 0; i < n; ++i) {
      relu_want[i] = x[i] > 0 ? x[i] : 0.0f;
      grad_want[i] = x[i] > 0 ? b[i] : 0.0f;
      sum_want[i] = x[i] + b[i];
    }
    for (int threads : {1, 3}) {
      adn::set_num_threads(threads);
      const std::string ctx = "[n" + std::to_string(n) + " t" + std::to_string(threads) + "]";
      adn::relu_forward(x.data(), relu.data(), n);
      adn::relu_backward(relu.data(), b.data(), grad.data(), n);
      adn::add(x.data(), b.data(), sum.data(), n);
      expect_bitwise("relu " + ctx, relu, relu_want);
      expect_bitwise("relu backward " + ctx, grad, grad_want);
      expect_bitwise("add " + ctx, sum, sum_want);
      std::vector<float> inplace = x;
      adn::add(inplace.data(), b.data(), inplace.data(), n);
      expect_bitwise("add in place " + ctx, inplace, sum_want);
    }
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> special = {nan, -0.0f, 0.0f, -1.0f, 2.0f}, out(5);
  adn::relu_forward(special.data(), out.data(), 5);
  expect_true(std::isnan(out[0]) && out[1] == 0.0f && out[3] == 0.0f && out[4] == 2.0f,
              "relu keeps NaN, zeroes negatives");
}

// ---- Pooling -----------------------------------------------------------------

static std::string pool_name(const Pool2dShape& s, int threads) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "[N%ld C%ld %ldx%ld k%ldx%ld s%ld,%ld p%ld,%ld t%d]", long(s.n),
                long(s.c), long(s.h), long(s.w), long(s.kh), long(s.kw), long(s.sh), long(s.sw),
                long(s.ph), long(s.pw), threads);
  return buf;
}

static void test_pool_shape(const Pool2dShape& s, bool ties) {
  std::vector<float> x = random_vec(s.input_size(), -3.0f, 3.0f);
  // Few distinct values make ties common: the scan order decides the winner.
  if (ties) for (auto& v : x) v = std::round(v);
  const auto gy = random_vec(s.output_size(), -1.0f, 1.0f);
  auto y_ref = poisoned(s.output_size()), avg_ref = poisoned(s.output_size());
  auto gx_ref = poisoned(s.input_size()), avg_gx_ref = poisoned(s.input_size());
  std::vector<int32_t> arg_ref(s.output_size(), -7);
  adn::ref::max_pool2d_forward(s, x.data(), y_ref.data(), arg_ref.data());
  adn::ref::max_pool2d_backward(s, x.data(), gy.data(), gx_ref.data());
  adn::ref::avg_pool2d_forward(s, x.data(), avg_ref.data());
  adn::ref::avg_pool2d_backward(s, gy.data(), avg_gx_ref.data());
  std::vector<float> first_avg_gx;
  for (int threads : {1, 2, 3}) {
    adn::set_num_threads(threads);
    const std::string ctx = pool_name(s, threads);
    auto y = poisoned(s.output_size()), avg = poisoned(s.output_size());
    auto gx = poisoned(s.input_size()), avg_gx = poisoned(s.input_size());
    std::vector<int32_t> arg(s.output_size(), -7);
    adn::max_pool2d_forward(s, x.data(), y.data(), arg.data());
    adn::max_pool2d_backward(s.planes(), s.h * s.w, s.ho() * s.wo(), gy.data(), arg.data(),
                             gx.data());
    adn::avg_pool2d_forward(s, x.data(), avg.data());
    adn::avg_pool2d_backward(s, gy.data(), avg_gx.data());
    expect_bitwise("max pool y " + ctx, y, y_ref);
    expect_true(arg == arg_ref, "max pool argmax " + ctx);
    expect_close("max pool grad " + ctx, gx, gx_ref, 1e-6, 1e-6);
    expect_close("avg pool y " + ctx, avg, avg_ref, 1e-6, 1e-6);
    expect_close("avg pool grad " + ctx, avg_gx, avg_gx_ref, 1e-6, 1e-5);
    if (threads == 1) first_avg_gx = avg_gx;
    else expect_bitwise("avg pool grad " + ctx, avg_gx, first_avg_gx);
  }
}

static void test_pooling() {
  std::vector<Pool2dShape> shapes = {
      {2, 6, 28, 28, 2, 2, 2, 2, 0, 0},   // LeNet
      {4, 16, 32, 32, 3, 3, 2, 2, 1, 1},  // overlapping, padded (threaded path)
      {3, 64, 8, 8, 8, 8, 8, 8, 0, 0},    // global average pool
      {1, 1, 1, 1, 1, 1, 1, 1, 0, 0},
      {2, 3, 7, 5, 3, 2, 1, 3, 1, 1},
      {1, 2, 9, 11, 5, 4, 2, 1, 2, 2},
      {2, 1, 5, 5, 2, 2, 3, 3, 1, 0},     // stride > kernel: some inputs in no window
  };
  for (const auto& s : shapes) {
    test_pool_shape(s, false);
    test_pool_shape(s, true);
  }

  // -inf inputs: the argmax still points into the window, at its first element.
  const float inf = std::numeric_limits<float>::infinity();
  Pool2dShape s{1, 1, 2, 2, 2, 2, 2, 2, 1, 1};
  std::vector<float> x = {-inf, -inf, -inf, 5.0f}, y(4);
  std::vector<int32_t> arg(4);
  adn::max_pool2d_forward(s, x.data(), y.data(), arg.data());
  expect_true(arg[0] == 0 && arg[1] == 1 && arg[2] == 2 && arg[3] == 3 && y[3] == 5.0f &&
                  y[0] == -inf,
              "max pool all -inf window");
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> xn = {1.0f, nan, 3.0f, 2.0f}, yn(1);
  std::vector<int32_t> an(1);
  adn::max_pool2d_forward({1, 1, 2, 2, 2, 2, 2, 2, 0, 0}, xn.data(), yn.data(), an.data());
  expect_true(std::isnan(yn[0]) && an[0] == 1, "max pool propagates NaN");

  std::vector<float> go(4, 1.0f), gi(4);
  std::vector<int32_t> bad = {0, 1, 4, 2};
  expect_throws("max pool backward argmax out of range",
                [&] { adn::max_pool2d_backward(1, 4, 4, go.data(), bad.data(), gi.data()); });
  bad[2] = -1;
  expect_throws("max pool backward negative argmax",
                [&] { adn::max_pool2d_backward(1, 4, 4, go.data(), bad.data(), gi.data()); });
  expect_throws("pool padding over half the kernel", [] {
    Pool2dShape{1, 1, 4, 4, 2, 2, 1, 1, 2, 0}.validate();
  });
  expect_throws("pool window larger than input", [] {
    Pool2dShape{1, 1, 2, 2, 3, 3, 1, 1, 0, 0}.validate();
  });
  expect_throws("pool zero stride", [] { Pool2dShape{1, 1, 4, 4, 2, 2, 0, 1, 0, 0}.validate(); });
}

// ---- Softmax cross-entropy -----------------------------------------------------

static void test_softmax_cross_entropy() {
  for (auto nk : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {1, 10}, {7, 3}, {256, 10},
                                                          {3000, 100}}) {
    const int64_t n = nk.first, k = nk.second;
    const auto logits = random_vec(n * k, -4.0f, 4.0f);
    std::vector<int32_t> labels(n);
    for (auto& l : labels) l = std::uniform_int_distribution<int32_t>(0, int32_t(k - 1))(g_rng);
    auto g_ref = poisoned(n * k);
    const auto want = adn::ref::softmax_cross_entropy(n, k, logits.data(), labels.data(), g_ref.data());
    std::vector<float> first;
    double first_loss = 0.0;
    for (int threads : {1, 2, 3}) {
      adn::set_num_threads(threads);
      const std::string ctx = "[n" + std::to_string(n) + " k" + std::to_string(k) + " t" +
                              std::to_string(threads) + "]";
      auto g = poisoned(n * k);
      const auto got = adn::softmax_cross_entropy(n, k, logits.data(), labels.data(), g.data());
      expect_true(std::fabs(got.loss - want.loss) <= 1e-9 * std::max(1.0, want.loss),
                  "ce loss " + ctx);
      expect_true(got.correct == want.correct, "ce correct " + ctx);
      expect_close("ce grad " + ctx, g, g_ref, 1e-10, 1e-6);
      const auto no_grad = adn::softmax_cross_entropy(n, k, logits.data(), labels.data(), nullptr);
      expect_true(no_grad.loss == got.loss && no_grad.correct == got.correct,
                  "ce without grad " + ctx);
      if (threads == 1) {
        first = g;
        first_loss = got.loss;
      } else {
        expect_bitwise("ce grad " + ctx, g, first);
        expect_true(got.loss == first_loss, "ce loss bitwise " + ctx);
      }
    }
  }

  // Finite differences of the double-precision loss.
  const int64_t n = 4, k = 5;
  const auto logits = random_vec(n * k, -3.0f, 3.0f);
  const std::vector<int32_t> labels = {0, 4, 2, 2};
  std::vector<float> g(n * k), fd(n * k);
  adn::softmax_cross_entropy(n, k, logits.data(), labels.data(), g.data());
  std::vector<double> z(logits.begin(), logits.end());
  auto loss = [&]() {
    double total = 0.0;
    for (int64_t r = 0; r < n; ++r) {
      double s = 0.0;
      for (int64_t j = 0; j < k; ++j) s += std::exp(z[r * k + j]);
      total += std::log(s) - z[r * k + labels[r]];
    }
    return total / n;
  };
  for (int64_t i = 0; i < n * k; ++i) {
    const double keep = z[i], h = 1e-6;
    z[i] = keep + h;
    const double up = loss();
    z[i] = keep - h;
    const double down = loss();
    z[i] = keep;
    fd[i] = float((up - down) / (2 * h));
  }
  expect_close("ce gradcheck", g, fd, 1e-6, 1e-4);

  // Huge logits stay finite (log-sum-exp); ties count the first maximum.
  std::vector<float> big = {1e4f, -1e4f, 3e4f, 3e4f};
  std::vector<int32_t> big_labels = {1, 1};
  std::vector<float> bg(4);
  const auto r = adn::softmax_cross_entropy(2, 2, big.data(), big_labels.data(), bg.data());
  expect_true(std::fabs(r.loss - 1e4 - std::log(2.0) / 2) < 1e-6 && r.correct == 0 &&
                  std::isfinite(bg[0]) && bg[3] == -0.25f,
              "ce extreme logits");
  std::vector<int32_t> bad = {0, 2};
  expect_throws("ce label >= k", [&] {
    adn::softmax_cross_entropy(2, 2, big.data(), bad.data(), bg.data());
  });
  bad[1] = -1;
  expect_throws("ce negative label", [&] {
    adn::softmax_cross_entropy(2, 2, big.data(), bad.data(), bg.data());
  });
}

// ---- SGD ------------------------------------------------------------------------

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
      std::vector<float> buf(n, 0.0f), buf_ref(n, 0.0f);
      char ctx[120];
      std::snprintf(ctx, sizeof ctx, "[n%ld lr%g m%g d%g wd%g%s]", long(n), o.lr, o.momentum,
                    o.dampening, o.wd, o.nesterov ? " nesterov" : "");
      for (int step = 0; step < 5; ++step) {
        adn::set_num_threads(1 + step % 3);
        const auto grad = random_vec(n, -1.0f, 1.0f);
        float* b = o.momentum != 0.0 ? buf.data() : nullptr;
        adn::sgd_update(n, param.data(), grad.data(), b, o.lr, o.momentum, o.dampening, o.wd,
                        o.nesterov, step == 0);
        adn::ref::sgd_update(n, param_ref.data(), grad.data(), buf_ref.data(), o.lr, o.momentum,
                             o.dampening, o.wd, o.nesterov, step == 0);
      }
      expect_close(std::string("sgd param ") + ctx, param, param_ref, 1e-6, 1e-5);
      expect_close(std::string("sgd buffer ") + ctx, buf, buf_ref, 1e-6, 1e-5);
    }
  }
  // A hand-computed Nesterov step: d = 1 + 0.1 * 2 = 1.2, buf = 0.9 * 1 + 1.2 = 2.1,
  // d = 1.2 + 0.9 * 2.1 = 3.09, param = 2 - 0.5 * 3.09 = 0.455.
  float p = 2.0f, g = 1.0f, b = 1.0f;
  adn::sgd_update(1, &p, &g, &b, 0.5, 0.9, 0.0, 0.1, true, false);
  expect_true(std::fabs(p - 0.455f) < 1e-6f && std::fabs(b - 2.1f) < 1e-6f, "sgd nesterov by hand");
  expect_throws("sgd momentum without buffer",
                [&] { adn::sgd_update(1, &p, &g, nullptr, 0.1, 0.9, 0.0, 0.0, false, true); });
}

// ---- Adam / AdamW --------------------------------------------------------------

static void test_adam() {
  struct Case {
    const char* name;
    adn::AdamOptions o;
  };
  auto opts = [](double lr, double b1, double b2, double eps, double wd, bool dec, bool ams) {
    adn::AdamOptions o;
    o.lr = lr, o.beta1 = b1, o.beta2 = b2, o.eps = eps, o.weight_decay = wd;
    o.decoupled = dec, o.amsgrad = ams;
    return o;
  };
  const std::vector<Case> cases = {
      {"adam defaults", opts(1e-3, 0.9, 0.999, 1e-8, 0.0, false, false)},
      {"adam wd", opts(1e-2, 0.8, 0.99, 1e-6, 0.1, false, false)},
      {"adamw", opts(1e-2, 0.9, 0.999, 1e-8, 1e-2, true, false)},
      {"adam amsgrad wd", opts(3e-3, 0.9, 0.999, 1e-8, 0.05, false, true)},
      {"adamw amsgrad", opts(1e-2, 0.5, 0.9, 1e-3, 0.2, true, true)},
      {"beta1 0", opts(1e-2, 0.0, 0.999, 1e-8, 0.0, false, false)},
  };
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(70001)}) {
    for (const Case& c : cases) {
      char ctx[120];
      std::snprintf(ctx, sizeof ctx, "[%s n%ld]", c.name, long(n));
      const auto param0 = random_vec(n, -1.0f, 1.0f);
      std::vector<std::vector<float>> grads;
      for (int step = 0; step < 5; ++step) grads.push_back(random_vec(n, -2.0f, 2.0f));
      // The same five steps at 1, 2 and 3 threads: bitwise the same.
      std::vector<float> first[4];
      for (int threads = 1; threads <= 3; ++threads) {
        adn::set_num_threads(threads);
        std::vector<float> p = param0, m(n, 0.0f), v(n, 0.0f), vmax(n, 0.0f);
        const auto g_before = grads;
        for (int step = 0; step < 5; ++step)
          adn::adam_update(n, p.data(), grads[step].data(), m.data(), v.data(),
                           c.o.amsgrad ? vmax.data() : nullptr, step + 1, c.o);
        expect_true(grads == g_before, std::string("adam leaves grad alone ") + ctx);
        if (threads == 1) {
          first[0] = p, first[1] = m, first[2] = v, first[3] = vmax;
          std::vector<float> pr = param0, mr(n, 0.0f), vr(n, 0.0f), vmr(n, 0.0f);
          for (int step = 0; step < 5; ++step)
            adn::ref::adam_update(n, pr.data(), grads[step].data(), mr.data(), vr.data(), vmr.data(),
                                  step + 1, c.o);
          expect_close(std::string("adam param ") + ctx, p, pr, 1e-6, 1e-5);
          expect_close(std::string("adam exp_avg ") + ctx, m, mr, 1e-6, 1e-5);
          expect_close(std::string("adam exp_avg_sq ") + ctx, v, vr, 1e-7, 1e-5);
          if (c.o.amsgrad) expect_close(std::string("adam max_exp_avg_sq ") + ctx, vmax, vmr, 1e-7, 1e-5);
        } else {
          expect_bitwise(std::string("adam param threads ") + ctx, p, first[0]);
          expect_bitwise(std::string("adam exp_avg threads ") + ctx, m, first[1]);
          expect_bitwise(std::string("adam exp_avg_sq threads ") + ctx, v, first[2]);
          expect_bitwise(std::string("adam max_exp_avg_sq threads ") + ctx, vmax, first[3]);
        }
      }
    }
  }
  // By hand: the first step moves each weight by about lr * sign(g) (bias
  // correction makes m_hat = g, v_hat = g^2). Adam folds weight decay into the
  // gradient; AdamW shrinks the weight first.
  adn::AdamOptions o;
  o.lr = 0.1;
  float p = 1.0f, g = 0.5f, m = 0.0f, v = 0.0f;
  adn::adam_update(1, &p, &g, &m, &v, nullptr, 1, o);
  expect_true(std::fabs(p - 0.9f) < 1e-6f && std::fabs(m - 0.05f) < 1e-7f &&
                  std::fabs(v - 0.00025f) < 1e-9f,
              "adam first step by hand");
  o.weight_decay = 0.5;
  o.decoupled = true;
  p = 1.0f, m = 0.0f, v = 0.0f;
  adn::adam_update(1, &p, &g, &m, &v, nullptr, 1, o);  // 1 * (1 - 0.05) - 0.1
  expect_true(std::fabs(p - 0.85f) < 1e-6f && std::fabs(m - 0.05f) < 1e-7f, "adamw first step by hand");
  o.decoupled = false;
  p = 1.0f, m = 0.0f, v = 0.0f;
  adn::adam_update(1, &p, &g, &m, &v, nullptr, 1, o);  // g = 0.5 + 0.5 * 1 = 1
  expect_true(std::fabs(p - 0.9f) < 1e-6f && std::fabs(m - 0.1f) < 1e-7f, "adam l2 first step by hand");
  // Zero gradients from zero state stay finite (eps keeps the denominator > 0).
  p = 1.0f, g = 0.0f, m = 0.0f, v = 0.0f;
  o.weight_decay = 0.0;
  adn::adam_update(1, &p, &g, &m, &v, nullptr, 1, o);
  expect_true(p == 1.0f && m == 0.0f && v == 0.0f, "adam zero gradient");
  adn::adam_update(0, nullptr, nullptr, nullptr, nullptr, nullptr, 1, o);  // nothing to do
  expect_throws("adam step 0", [&] { adn::adam_update(1, &p, &g, &m, &v, nullptr, 0, o); });
  o.amsgrad = true;
  expect_throws("adam amsgrad without buffer",
                [&] { adn::adam_update(1, &p, &g, &m, &v, nullptr, 1, o); });
}

int main() {
  test_batch_norm();
  test_batch_norm_gradcheck();
  test_elementwise();
  test_pooling();
  test_softmax_cross_entropy();
  test_sgd();
  test_adam();
  std::printf("%d passed, %d failed\n", g_checks - g_failures, g_failures);
  return g_failures ? 1 : 0;
}
