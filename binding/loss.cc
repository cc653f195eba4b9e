// Glue for softmax cross-entropy (cpp/loss.cc).
// TypeScript validates first (lib/ops/); this file re-checks every buffer
// against the sizes it is told, since a wrong length would be an out-of-bounds write.
#include <cmath>
#include <exception>
#include <string>

#include "addernet.h"
#include "args.h"
#include "ops.h"
#include "queue.h"

namespace adn_binding {

Napi::Value SoftmaxCrossEntropy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto d = int_dims(info, 3, 2, 1);
  const int64_t n = d[0], k = d[1];
  check_elements(env, double(n) * double(k));
  Launch launch(info, "softmaxCrossEntropy");
  const float* logits = launch.in(0, "logits", n * k);
  // Copied: labels are small, and the kernel may run after this call returns.
  const int32_t* given = int32_array(info, 1, "labels", n);
  auto labels = std::make_shared<std::vector<int32_t>>(given, given + n);
  float* grad = launch.out(2, "gradLogits", n * k, true);
  // Checked here for the message; the kernel checks again before reading.
  for (int64_t r = 0; r < n; ++r)
    if ((*labels)[size_t(r)] < 0 || (*labels)[size_t(r)] >= k)
      throw_shape(env, "Expected class labels in [0, " + std::to_string(k) +
                           ") for labels but received " + std::to_string((*labels)[size_t(r)]) +
                           " at index " + std::to_string(r));
  // result: a 2-element storage for [loss, correct] (queued), or absent: wait and return them.
  const bool queued = !info[4].IsUndefined();
  float* result = queued ? launch.out(4, "result", 2) : nullptr;
  auto r = std::make_shared<adn::LossResult>();
  if (!queued) launch.host_array();
  const uint64_t ticket = launch.run([=] {
    *r = adn::softmax_cross_entropy(n, k, logits, labels->data(), grad);
    if (result) {
      result[0] = float(r->loss);
      result[1] = float(r->correct);
    }
  });
  if (queued) return Napi::Number::New(env, double(ticket));
  Napi::Object out = Napi::Object::New(env);
  out.Set("loss", Napi::Number::New(env, r->loss));
  out.Set("correct", Napi::Number::New(env, double(r->correct)));
  return out;
}

}  // namespace adn_binding
