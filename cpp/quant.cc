// The quantized adder forward: uint8 patches packed as rows of K bytes (the
// reduction contiguous, as vpsadbw reads it) from a channels-last copy of the
// input, filters packed once, the SAD
// microkernel of the active ISA over MR x NR tiles, positions split across
// every pool thread. Integer sums are exact, so each output is one kernel
// call over the whole K and the result cannot depend on threads or ISA.
// adder2d_u8_quantized_forward is the same path with the float input
// quantized during the channels-last copy and the folded epilogue applied
// as each sum is stored: a whole quantized layer in one queued kernel.
#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "addernet.h"
#include "checked_size.h"
#include "thread_pool.h"
#include "ukernels.h"

namespace adn {
namespace {

constexpr int kMaxTile = 64;  // MR * NR of any SAD kernel (the tile lives on the stack)

int64_t round_up(int64_t a, int64_t b) { return div_up(a, b) * b; }

// Position tiles per task: enough tasks to balance the threads, few enough
// that a task's packed patches stay in L2 beside the packed filters, each
// worth at least kMinTaskOps (a small layer uses fewer threads rather than
// paying a wake-up per few microseconds).
int64_t tiles_per_task(int64_t P, int64_t kpad, int64_t T, int nr, int threads) {
  constexpr int64_t kPackBytes = 128 << 10;
  constexpr int64_t kMinTaskOps = 4 << 20;
  const int64_t tiles = div_up(P, nr);
  const int64_t fit = std::max<int64_t>(1, kPackBytes / (kpad * nr));
  const int64_t worth = div_up(kMinTaskOps, 2 * nr * kpad * T);
  const int64_t per_task = std::max<int64_t>({1, worth, std::min<int64_t>({16, fit, tiles / (4 * threads)})});
  return std::min(per_task, tiles);
}

// Bytes as the pool's float-granular buffers (both 64-byte aligned).
uint8_t* byte_buffer(float* base) { return reinterpret_cast<uint8_t*>(base); }
size_t floats_for(size_t bytes) { return checked_add(bytes, sizeof(float) - 1) / sizeof(float); }

}  // namespace

namespace {

// The SAD forward over any input element type: quant(x) gives an input's
// byte (identity for uint8, the grid's rounding for float32, fused into the
// channels-last copy so the quantized input is never a tensor of its own),
// and store(index, t, sad) takes each output's exact sum.
template <typename In, typename Quant, typename Store>
void sad_forward(const Conv2dShape& s, const In* qx, Quant quant, const uint8_t* qw, uint8_t pad_value,
                 Store store) {
  s.validate();
  const int64_t K = s.k();
  if (K > kMaxU8Reduction)
    throw std::invalid_argument("the reduction length C*KH*KW is too large for int32 sums (more than " +
                                std::to_string(kMaxU8Reduction) + ")");
  const U8SadUkernel uk = active_config().sad;
  const int mr = uk.mr, nr = uk.nr;
  if (mr * nr > kMaxTile) throw std::logic_error("u8 SAD tile larger than kMaxTile");
  // Padding bytes are 0 in both operands, so they add |0 - 0| = 0.
  const int64_t kpad = round_up(K, uk.kr);
  const int64_t T = s.t, HO = s.ho(), WO = s.wo(), HW = HO * WO, P = s.positions();
  const int64_t Hp = s.h + 2 * s.ph, Wp = s.w + 2 * s.pw;
  const int64_t tpanels = div_up(T, mr);
  ThreadPool::Session ses(ThreadPool::instance());

  // The reduction runs in (u, v, c) order, the same for patches and filters
  // (a sum of |differences| does not care): with the input made channels-last,
  // a patch row is kh copies of kw * C contiguous bytes instead of C * kh
  // copies of kw bytes, which cost more than the SADs on 3x3 layers.
  const int64_t C = s.c, KW = s.kw, run_bytes = KW * C;
  // Filters as [tpanels * mr][kpad]; rows past T are zero (their outputs are dropped).
  const int64_t wbytes = checked_mul(tpanels * mr, kpad, "the packed filters");
  uint8_t* wpack = byte_buffer(ses.shared(0, floats_for(size_t(wbytes))));
  std::fill(wpack, wpack + wbytes, uint8_t(0));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t uv = 0; uv < s.kh * KW; ++uv) wpack[t * kpad + uv * C + c] = qw[(t * C + c) * s.kh * KW + uv];

  // The input channels-last, padded with pad_value: [n][Hp][Wp][C], so packing never tests bounds.
  const int64_t rows_total = s.n * Hp;
  uint8_t* xh = byte_buffer(ses.shared(1, floats_for(size_t(checked_mul(rows_total, Wp * C, "the padded input")))));
  ses.parallel_for(size_t(rows_total), [&](size_t row, int) {
    const int64_t n = int64_t(row) / Hp, i = int64_t(row) % Hp - s.ph;
    uint8_t* dst = xh + int64_t(row) * Wp * C;
    if (i < 0 || i >= s.h) {
      std::fill(dst, dst + Wp * C, pad_value);
      return;
    }
    std::fill(dst, dst + s.pw * C, pad_value);
    std::fill(dst + (s.pw + s.w) * C, dst + Wp * C, pad_value);
    const In* src = qx + (n * C * s.h + i) * s.w;
    for (int64_t c = 0; c < C; ++c, src += s.h * s.w)
      for (int64_t j = 0; j < s.w; ++j) dst[(s.pw + j) * C + c] = quant(src[j]);
  });

  const int64_t tiles = tiles_per_task(P, kpad, T, nr, ses.threads());
  const int64_t block = tiles * nr;
  ses.parallel_for(size_t(div_up(P, block)), [&](size_t task, int worker) {
    const int64_t p0 = int64_t(task) * block, count = std::min(block, P - p0);
    const int64_t rows = round_up(count, nr);
    // [rows] output offsets (n*T*HW + q), then the patches [rows][kpad], 64-byte aligned.
    const size_t off_bytes = size_t(round_up(rows * int64_t(sizeof(int64_t)), 64));
    const size_t bytes = checked_add(off_bytes, checked_bytes(size_t(rows), size_t(kpad)));
    uint8_t* base = byte_buffer(ses.scratch(worker, floats_for(bytes)));
    int64_t* out_off = reinterpret_cast<int64_t*>(base);
    uint8_t* xpack = base + off_bytes;

    for (int64_t col = 0; col < count; ++col) {
      const int64_t p = p0 + col, n = p / HW, q = p % HW, oh = q / WO, ow = q % WO;
      out_off[col] = n * T * HW + q;
      const uint8_t* corner = xh + ((n * Hp + oh * s.sh) * Wp + ow * s.sw) * C;
      uint8_t* dst = xpack + col * kpad;
      for (int64_t u = 0; u < s.kh; ++u) std::memcpy(dst + u * run_bytes, corner + u * Wp * C, size_t(run_bytes));
      std::fill(dst + K, dst + kpad, uint8_t(0));
    }
    std::fill(xpack + count * kpad, xpack + rows * kpad, uint8_t(0));

    int32_t tile[kMaxTile];
    for (int64_t j = 0; j < rows / nr; ++j) {
      const uint8_t* b = xpack + j * nr * kpad;
      const int64_t cols = std::min<int64_t>(nr, count - j * nr);
      for (int64_t i = 0; i < tpanels; ++i) {
        uk.fn(size_t(kpad), wpack + i * mr * kpad, b, tile);
        const int64_t trows = std::min<int64_t>(mr, T - i * mr);
        for (int64_t m = 0; m < trows; ++m) {
          const int64_t t = i * mr + m;
          for (int64_t e = 0; e < cols; ++e) store(t * HW + out_off[j * nr + e], t, tile[m * nr + e]);
        }
      }
    }
  });
}

}  // namespace

void adder2d_u8_forward(const Conv2dShape& s, const uint8_t* qx, const uint8_t* qw,
                        uint8_t pad_value, int32_t* sad) {
  sad_forward(s, qx, [](uint8_t v) { return v; }, qw, pad_value,
              [sad](int64_t index, int64_t, int32_t v) { sad[index] = v; });
}

void adder2d_u8_quantized_forward(const Conv2dShape& s, const float* x, const QuantizedAdder& q, float* y) {
  s.validate();  // before any size is computed from it
  if (q.bits < 1 || q.bits > 8 || q.zero_point < 0 || q.zero_point > (1 << q.bits) - 1 || !(q.scale > 0))
    throw std::invalid_argument("the quantization grid is invalid (bits 1..8, zero point in [0, 2^bits - 1], scale > 0)");
  if (int64_t(q.qweight.size()) != s.weight_size() || int64_t(q.mul.size()) != s.t || int64_t(q.add.size()) != s.t)
    throw std::invalid_argument("the quantized filters do not match the layer geometry");
  // As lib/nn/quantize.ts quantizeValues (a Uint8ClampedArray store):
  // v = x * (1 / s) + z in double, NaN and v <= 0 to 0, v >= qmax to qmax,
  // else rounded half to even (the default rounding mode). This
  // file is built with -ffp-contract=off, so no fused multiply-add changes
  // a result against the JavaScript one.
  const double inv = 1.0 / q.scale, z = double(q.zero_point), qmax = double((1 << q.bits) - 1);
  const auto quant = [inv, z, qmax](float v) -> uint8_t {
    const double u = double(v) * inv + z;
    if (!(u > 0.0)) return 0;
    if (u >= qmax) return uint8_t(qmax);
    return uint8_t((u + 0x1p52) - 0x1p52);  // nearbyint for 0 < u < 2^51, without a libm call
  };
  const double* mul = q.mul.data();
  const double* add = q.add.data();
  sad_forward(s, x, quant, q.qweight.data(), uint8_t(q.zero_point),
              [=](int64_t index, int64_t t, int32_t v) { y[index] = float(mul[t] * double(v) + add[t]); });
}

}  // namespace adn
