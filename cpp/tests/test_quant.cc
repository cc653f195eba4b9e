// Native tests of the quantized adder forward (adder2d_u8_forward) against the
// plain reference: bit-exact on every ISA and thread count, awkward shapes
// around the vector widths (32, 64 bytes) and tiles (3x3, 4x4), stride 2,
// padding with the pad byte, 1x1, large K; hostile sizes refused. The whole
// layer (adder2d_u8_quantized_forward) against quantize-then-SAD-then-epilogue.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "addernet.h"
#include "check.h"
#include "reference.h"

using adn::Conv2dShape;
using adn::Isa;

namespace {

std::mt19937 rng(20261204u);

std::vector<uint8_t> random_bytes(int64_t n, int lo = 0, int hi = 255) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<uint8_t> v(static_cast<size_t>(n));
  for (auto& e : v) e = uint8_t(d(rng));
  return v;
}

std::string describe(const Conv2dShape& s, Isa isa, int threads, int pad) {
  char buf[220];
  std::snprintf(buf, sizeof buf, "[%s x%d N%ld C%ld %ldx%ld T%ld k%ldx%ld s%ld,%ld p%ld,%ld pad=%d]",
                adn::isa_name(isa), threads, long(s.n), long(s.c), long(s.h), long(s.w), long(s.t),
                long(s.kh), long(s.kw), long(s.sh), long(s.sw), long(s.ph), long(s.pw), pad);
  return buf;
}

void check_shape(const Conv2dShape& s, const std::vector<Isa>& isas) {
  const auto qx = random_bytes(s.input_size()), qw = random_bytes(s.weight_size());
  const uint8_t pad = uint8_t(std::uniform_int_distribution<int>(0, 255)(rng));
  std::vector<int32_t> want(size_t(s.output_size()), -1);
  adn::ref::adder2d_u8_forward(s, qx.data(), qw.data(), pad, want.data());
  for (int threads : {1, 2, 3})
    for (Isa isa : isas) {
      adn::set_num_threads(threads);
      adn::set_isa(isa);
      std::vector<int32_t> got(want.size(), INT32_MIN);  // poisoned
      adn::adder2d_u8_forward(s, qx.data(), qw.data(), pad, got.data());
      expect_true(got == want, "adder2d_u8 " + describe(s, isa, threads, pad));
    }
}

// An input made only of the pad byte: padded or not, every tap is the pad
// byte, so every output of filter t is sum_k |pad - qw[t, k]|.
void check_padding_is_pad_byte(const std::vector<Isa>& isas) {
  const Conv2dShape s{2, 3, 4, 5, 6, 3, 3, 2, 1, 2, 1};
  const uint8_t pad = 77;
  const std::vector<uint8_t> qx(size_t(s.input_size()), pad);
  const auto qw = random_bytes(s.weight_size());
  for (Isa isa : isas) {
    adn::set_isa(isa);
    std::vector<int32_t> got(size_t(s.output_size()), INT32_MIN);
    adn::adder2d_u8_forward(s, qx.data(), qw.data(), pad, got.data());
    bool ok = true;
    const int64_t HW = s.ho() * s.wo(), K = s.k();
    for (int64_t n = 0; n < s.n; ++n)
      for (int64_t t = 0; t < s.t; ++t) {
        int32_t want = 0;
        for (int64_t k = 0; k < K; ++k) want += std::abs(int32_t(pad) - int32_t(qw[t * K + k]));
        for (int64_t q = 0; q < HW; ++q) ok = ok && got[(n * s.t + t) * HW + q] == want;
      }
    expect_true(ok, std::string("padded taps are the pad byte [") + adn::isa_name(isa) + "]");
  }
}

// Refused before anything is read, allocated or written.
void check_hostile_sizes() {
  const uint8_t one = 1;
  int32_t out = 0;
  const int64_t huge = (int64_t(1) << 40) - 1;
  const std::vector<Conv2dShape> refused = {
      {1, adn::kMaxU8Reduction + 1, 1, 1, 1, 1, 1, 1, 1, 0, 0},   // 255 * K overflows int32
      {1, 1 << 20, 1, 1, 1, 3, 3, 1, 1, 1, 1},                    // K = 9 * 2^20, likewise
      {huge, huge, 1, 1, 1, 1, 1, 1, 1, 0, 0},                    // input n * c wraps
      {1, 1, 1, 1, 1, 1, 1, 1, 1, huge, huge},                    // padded plane
      {1, 1, huge, 1, huge, 1, 1, 1, 1, 0, 0},                    // output n * t * ho
      {1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0},                          // stride 0
      {1, 1, 1, 1, 1, 2, 2, 1, 1, 0, 0},                          // filter larger than the input
  };
  for (size_t i = 0; i < refused.size(); ++i) {
    bool threw = false;
    try {
      adn::adder2d_u8_forward(refused[i], &one, &one, 0, &out);
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    expect_true(threw && out == 0, "hostile geometry " + std::to_string(i) + " refused");
    // The whole layer likewise, its constants never sized from the hostile shape.
    const float fone = 1;
    float fout = 0;
    threw = false;
    try {
      adn::adder2d_u8_quantized_forward(refused[i], &fone, adn::QuantizedAdder{}, &fout);
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    expect_true(threw && fout == 0, "hostile geometry " + std::to_string(i) + " refused by the quantized layer");
  }
  // Valid, but its padded copy is over the memory limit: refused, then fine once raised.
  const int64_t saved = adn::layer_memory_limit();
  adn::set_layer_memory_limit(int64_t(1) << 20);
  const Conv2dShape wide{1, 1, 1, 1, 1, 1, 1, 1024, 1024, 1024, 1024};  // 2049^2 padded bytes
  std::vector<int32_t> y(size_t(wide.output_size()), -1);
  bool threw = false;
  try {
    adn::adder2d_u8_forward(wide, &one, &one, 5, y.data());
  } catch (const adn::LayerMemoryError&) {
    threw = true;
  }
  expect_true(threw, "memory limit refuses the padded copy");
  adn::set_layer_memory_limit(saved);
  adn::adder2d_u8_forward(wide, &one, &one, 5, y.data());
  // 3x3 outputs; the centre one sees the pixel, the others the pad byte: |5 - 1| = 4.
  expect_true(y.size() == 9 && y[4] == 0 && y[0] == 4 && y[8] == 4, "layer right after the limit was raised");
}

// The whole quantized layer equals quantizing x (round half to even, clamped,
// NaN to 0), the uint8 SAD padded with z, then mul[t] * SAD + add[t] in double.
void check_quantized_layer(const Conv2dShape& s, int bits, const std::vector<Isa>& isas) {
  adn::QuantizedAdder q;
  const int qmax = (1 << bits) - 1;
  q.bits = bits;
  q.scale = double(float(std::uniform_real_distribution<double>(0.005, 0.05)(rng)));
  q.zero_point = std::uniform_int_distribution<int>(0, qmax)(rng);
  q.qweight = random_bytes(s.weight_size(), 0, qmax);
  for (int64_t t = 0; t < s.t; ++t) {
    q.mul.push_back(-std::uniform_real_distribution<double>(0.001, 0.1)(rng));
    q.add.push_back(std::uniform_real_distribution<double>(-2, 2)(rng));
  }
  std::vector<float> x(size_t(s.input_size()));
  std::uniform_real_distribution<double> level(-5, qmax + 5);
  for (size_t i = 0; i < x.size(); ++i) {
    const double l = i % 7 == 0 ? std::floor(level(rng)) + 0.5 : level(rng);  // some exact half-steps
    x[i] = float(q.scale * (l - q.zero_point));
  }
  x[0] = NAN;
  if (x.size() > 2) x[1] = INFINITY, x[2] = -INFINITY;
  std::vector<uint8_t> qx(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double u = double(x[i]) * (1.0 / q.scale) + q.zero_point;
    qx[i] = !(u > 0) ? 0 : u >= qmax ? uint8_t(qmax) : uint8_t(std::nearbyint(u));
  }
  std::vector<int32_t> sad(size_t(s.output_size()));
  adn::ref::adder2d_u8_forward(s, qx.data(), q.qweight.data(), uint8_t(q.zero_point), sad.data());
  std::vector<float> want(sad.size());
  const int64_t HW = s.ho() * s.wo();
  for (size_t i = 0; i < sad.size(); ++i) {
    const int64_t t = (int64_t(i) / HW) % s.t;
    want[i] = float(q.mul[size_t(t)] * double(sad[i]) + q.add[size_t(t)]);
  }
  for (int threads : {1, 2})
    for (Isa isa : isas) {
      adn::set_num_threads(threads);
      adn::set_isa(isa);
      std::vector<float> got(want.size(), NAN);
      adn::adder2d_u8_quantized_forward(s, x.data(), q, got.data());
      expect_true(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0,
                  "adder2d_u8_quantized " + describe(s, isa, threads, q.zero_point) + " bits " + std::to_string(bits));
    }
  // Constants that do not match the geometry, or a grid off its range, are refused.
  const float one = 1;
  float out = 0;
  for (int i = 0; i < 3; ++i) {
    adn::QuantizedAdder bad = q;
    if (i == 0) bad.qweight.pop_back();
    if (i == 1) bad.mul.push_back(1);
    if (i == 2) bad.zero_point = qmax + 1;
    bool threw = false;
    try {
      adn::adder2d_u8_quantized_forward(s, &one, bad, &out);
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    expect_true(threw && out == 0, "mismatched quantized layer " + std::to_string(i) + " refused");
  }
}

}  // namespace

int main() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (adn::isa_supported(isa)) isas.push_back(isa);
    else std::printf("skip %s: not supported by this CPU or build\n", adn::isa_name(isa));
  }
  check_hostile_sizes();
  check_padding_is_pad_byte(isas);
  // {n, c, h, w, t, kh, kw, sh, sw, ph, pw}. K = c * kh * kw around 32 and 64,
  // T around the tiles' MR (3, 4), positions around their NR.
  const std::vector<Conv2dShape> shapes = {
      {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0},      // K = 1, one position
      {7, 37, 1, 1, 11, 1, 1, 1, 1, 0, 0},    // linear layer, prime K
      {2, 31, 3, 5, 3, 1, 1, 1, 1, 0, 0},     // K = 31: below 32
      {2, 32, 3, 3, 4, 1, 1, 1, 1, 0, 0},     // K = 32
      {1, 33, 4, 4, 5, 1, 1, 2, 2, 0, 0},     // K = 33, 1x1 stride 2
      {3, 7, 5, 6, 9, 3, 3, 1, 1, 0, 0},      // K = 63
      {2, 64, 4, 4, 8, 1, 1, 1, 1, 0, 0},     // K = 64
      {1, 13, 7, 7, 13, 1, 5, 1, 1, 0, 2},    // K = 65, padding on one axis
      {2, 5, 11, 13, 17, 3, 3, 2, 2, 1, 1},   // stride 2 with padding, odd sizes
      {1, 3, 9, 9, 2, 5, 5, 2, 3, 2, 2},      // uneven strides, 5x5
      {2, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2},    // LeNet's first layer
      {1, 16, 8, 8, 32, 1, 1, 2, 2, 0, 0},    // ResNet-20 shortcut, 1x1 stride 2
      {2, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1},    // ResNet-20 stage 3: K = 576
      {1, 300, 5, 5, 7, 3, 3, 1, 1, 1, 1},    // large K = 2700
      {3, 2, 3, 3, 1, 3, 3, 1, 1, 0, 0},      // one output per image
  };
  for (const Conv2dShape& s : shapes) check_shape(s, isas);
  for (size_t i = 0; i < shapes.size(); ++i) check_quantized_layer(shapes[i], 4 + int(i % 5), isas);
  auto pick = [&](std::initializer_list<int64_t> v) {
    return *(v.begin() + std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng));
  };
  for (int i = 0; i < 30; ++i) {
    Conv2dShape s{};
    s.n = pick({1, 2, 3});
    s.c = pick({1, 2, 3, 5, 7, 16, 17, 31, 64, 65});
    s.t = pick({1, 2, 3, 4, 5, 7, 8, 9, 16, 17});
    s.kh = pick({1, 2, 3, 5});
    s.kw = pick({1, 3, 4});
    s.sh = pick({1, 2});
    s.sw = pick({1, 2, 3});
    s.ph = pick({0, 1, 2});
    s.pw = pick({0, 1});
    s.h = std::max<int64_t>(pick({1, 3, 4, 7, 8, 11}), s.kh - 2 * s.ph);
    s.w = std::max<int64_t>(pick({1, 5, 9, 16, 17}), s.kw - 2 * s.pw);
    check_shape(s, isas);
  }
  return report();
}
