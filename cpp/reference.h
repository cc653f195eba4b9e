// Plain references: the SPEC.md formulas as direct loops with double sums,
// slow on purpose. Every optimised kernel (CPU and CUDA) is tested against
// these, and nothing else calls them.
#pragma once
#include "addernet.h"

namespace adn {
namespace ref {

void adder2d_forward(const Conv2dShape& s, const float* x, const float* w,
                     const float* bias, float* y);
void adder2d_backward(const Conv2dShape& s, const float* x, const float* w,
                      const float* gy, float* gx, float* gw, float* gb);
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w,
                    const float* bias, float* y);
void conv2d_backward(const Conv2dShape& s, const float* x, const float* w,
                     const float* gy, float* gx, float* gw, float* gb);
// int64 sums, cast to int32 at the end (the kernel's range check keeps them exact).
void adder2d_u8_forward(const Conv2dShape& s, const uint8_t* qx, const uint8_t* qw,
                        uint8_t pad_value, int32_t* sad);
void adaptive_scale(const float* g, int64_t n, float eta, float* out);
void batch_norm_forward(int64_t n, int64_t c, int64_t hw, const float* x, const float* gamma,
                        const float* beta, float* running_mean, float* running_var,
                        bool training, double momentum, double eps, float* y, float* save_mean,
                        float* save_invstd);
void batch_norm_backward(int64_t n, int64_t c, int64_t hw, const float* x, const float* gamma,
                         const float* grad_out, const float* save_mean,
                         const float* save_invstd, float* grad_in, float* grad_gamma,
                         float* grad_beta);
void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax);
void max_pool2d_backward(const Pool2dShape& s, const float* x, const float* grad_out,
                         float* grad_in);  // recomputes the window maxima from x
void avg_pool2d_forward(const Pool2dShape& s, const float* x, float* y);
void avg_pool2d_backward(const Pool2dShape& s, const float* grad_out, float* grad_in);
LossResult softmax_cross_entropy(int64_t n, int64_t k, const float* logits,
                                 const int32_t* labels, float* grad_logits);
void sgd_update(int64_t n, float* param, const float* grad, float* momentum_buf, double lr,
                double momentum, double dampening, double weight_decay, bool nesterov,
                bool first_step);
// torch.optim.Adam / AdamW from the formulas, in double (state stored as float).
void adam_update(int64_t n, float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                 float* max_exp_avg_sq, int64_t step, const AdamOptions& o);

}  // namespace ref
}  // namespace adn
