// The uint8 SAD microkernel body, written once over a vector-traits type V and
// instantiated by each ISA's file (compiled with that ISA's flags only), like
// f32-ukernels-simd.h. Include inside an anonymous namespace after defining V:
//   type, bytes (kr), zero(), load(p), sad(a, b) (vpsadbw: 64-bit lanes of
//   8-byte |a - b| sums), add64(a, b), and store_row<NR>(acc, c), which writes
//   the NR horizontal sums of one tile row as int32.
//
// Every lane and partial sum is at most 255 * kc < 2^31 (the layer refuses
// longer K), so the reductions may work in 32-bit lanes.

template <class V, int MR, int NR>
void sad_kernel(size_t kc, const uint8_t* a, const uint8_t* b, int32_t* c) {
  typename V::type acc[MR][NR];
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 16
    for (int n = 0; n < NR; ++n) acc[m][n] = V::zero();
  for (size_t r = 0; r < kc; r += V::bytes) {
    typename V::type am[MR];
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) am[m] = V::load(a + m * kc + r);
#pragma GCC unroll 16
    for (int n = 0; n < NR; ++n) {
      const auto bn = V::load(b + n * kc + r);
#pragma GCC unroll 16
      for (int m = 0; m < MR; ++m) acc[m][n] = V::add64(acc[m][n], V::sad(am[m], bn));
    }
  }
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) V::template store_row<NR>(acc[m], c + m * NR);
}
