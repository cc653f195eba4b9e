// Glue for the quantized adder layer (cpp/quant.cc). TypeScript validates
// first (lib/ops/quant.ts); this file re-checks the buffer lengths against the
// geometry and the pad byte's range, since either would be read out of bounds.
#include <string>

#include "addernet.h"
#include "args.h"
#include "ops.h"
#include "queue.h"

namespace adn_binding {

Napi::Value Adder2dU8Forward(const Napi::CallbackInfo& info) {
  const adn::Conv2dShape s = conv_shape(info, 3);
  const int64_t pad = integer(info, 4, "padValue");
  if (pad < 0 || pad > 255)
    throw_option(info.Env(), "Expected an integer from 0 to 255 for padValue but received " + std::to_string(pad));
  Launch k(info, "adder2dU8Forward");
  const uint8_t* qx = uint8_array(info, 0, "qx", s.input_size());
  const uint8_t* qw = uint8_array(info, 1, "qw", s.weight_size());
  k.host_array();  // plain Uint8Arrays: nothing keeps them alive once this call returns
  int32_t* out = k.out_int32(2, "out", s.output_size());
  const uint8_t pv = uint8_t(pad);
  return Napi::Number::New(info.Env(), double(k.run([=] { adn::adder2d_u8_forward(s, qx, qw, pv, out); })));
}

}  // namespace adn_binding
