// optim_math.h — the math of the optimizer kernels, written once for both devices.
//
// An optimizer step has two parts:
//   1. scalars that depend only on the hyper-parameters and the step count (bias
//      corrections, step size). They are computed here on the host, in double precision,
//      exactly as PyTorch computes them in Python, then rounded to float once;
//   2. a per-element update that reads those scalars. Both the CPU kernel (cpu/optim.cpp)
//      and the CUDA kernel (cuda/optim.cu) call the same function per element, so the
//      equations exist in exactly one place.
//
// The formulas are those of torch.optim.Adam / AdamW / SGD in PyTorch 1.13 (the
// single-tensor, non-foreach code path), step by step, in the same order of operations.
#pragma once

#include <cmath>
#include <cstdint>

#include "tensor/backend.h"
#include "tensor/philox.h"  // DRIFT_HOST_DEVICE

namespace drift {
namespace optim_math {

// ---- Adam (Kingma & Ba 2015, Algorithm 1) and AdamW (Loshchilov & Hutter 2019) -----------
//
// At step t = 1, 2, ... with gradient g, for every element:
//   Adam's L2 decay (coupled):   g   <- g + weight_decay * p
//   AdamW's decay (decoupled):   p   <- p * (1 - lr * weight_decay)
//   first moment:                m   <- beta1 * m + (1 - beta1) * g
//   second moment:               v   <- beta2 * v + (1 - beta2) * g^2
//   bias corrections:            bc1 = 1 - beta1^t,   bc2 = 1 - beta2^t
//   update:                      p   <- p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
// The last line is Algorithm 1's  p - lr * m_hat / (sqrt(v_hat) + eps)  with
// m_hat = m / bc1 and v_hat = v / bc2, rearranged the way PyTorch computes it.
inline AdamScalars adam_scalars(double lr, double beta1, double beta2, double eps,
                                double weight_decay, bool decoupled_weight_decay, int64_t step) {
  const double t = static_cast<double>(step);
  const double bias_correction1 = 1.0 - std::pow(beta1, t);
  const double bias_correction2 = 1.0 - std::pow(beta2, t);
  AdamScalars s;
  s.beta1 = static_cast<float>(beta1);
  s.one_minus_beta1 = static_cast<float>(1.0 - beta1);
  s.beta2 = static_cast<float>(beta2);
  s.one_minus_beta2 = static_cast<float>(1.0 - beta2);
  s.step_size = static_cast<float>(lr / bias_correction1);
  s.bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  s.eps = static_cast<float>(eps);
  // Exactly one of the two decays is active; the other is the identity (g + 0*p, p * 1).
  s.l2_weight_decay = decoupled_weight_decay ? 0.0f : static_cast<float>(weight_decay);
  s.decoupled_decay_factor =
      decoupled_weight_decay ? static_cast<float>(1.0 - lr * weight_decay) : 1.0f;
  return s;
}

// One element of an Adam/AdamW step: updates p, m, v in place (formulas above).
DRIFT_HOST_DEVICE void adam_update(float& p, float g, float& m, float& v, const AdamScalars& s) {
  g = g + s.l2_weight_decay * p;                                   // Adam:  g += wd * p
  p = p * s.decoupled_decay_factor;                                // AdamW: p *= 1 - lr * wd
  m = m * s.beta1 + s.one_minus_beta1 * g;                         // m = beta1 m + (1 - beta1) g
  v = v * s.beta2 + s.one_minus_beta2 * g * g;                     // v = beta2 v + (1 - beta2) g^2
  const float denom = sqrtf(v) / s.bias_correction2_sqrt + s.eps;  // sqrt(v_hat) + eps
  p = p + (-s.step_size) * m / denom;                              // p -= lr/bc1 * m / denom
}

// ---- SGD with momentum (Sutskever et al. 2013, as PyTorch writes it) ---------------------
//
// With gradient g, for every element:
//   weight decay:   d <- g + weight_decay * p
//   momentum:       buf <- d                                   on the first step
//                   buf <- momentum * buf + (1 - dampening) * d  afterwards
//                   d <- buf                  (or d + momentum * buf with Nesterov)
//   update:         p <- p - lr * d
// With momentum 0 there is no buffer and the update is plain gradient descent.
inline SgdScalars sgd_scalars(double lr, double momentum, double dampening, double weight_decay,
                              bool nesterov, bool first_step) {
  SgdScalars s;
  s.lr = static_cast<float>(lr);
  s.momentum = static_cast<float>(momentum);
  s.one_minus_dampening = static_cast<float>(1.0 - dampening);
  s.weight_decay = static_cast<float>(weight_decay);
  s.nesterov = nesterov;
  s.first_step = first_step;
  return s;
}

// One element of an SGD step without momentum: p -= lr * (g + wd * p).
DRIFT_HOST_DEVICE void sgd_update(float& p, float g, const SgdScalars& s) {
  const float d = g + s.weight_decay * p;  // d = g + wd * p
  p = p + (-s.lr) * d;                     // p -= lr * d
}

// One element of an SGD step with momentum: updates p and its momentum buffer `buf`.
DRIFT_HOST_DEVICE void sgd_momentum_update(float& p, float g, float& buf, const SgdScalars& s) {
  float d = g + s.weight_decay * p;  // d = g + wd * p
  const float running = buf * s.momentum + s.one_minus_dampening * d;
  buf = s.first_step ? d : running;             // buf = d on the first step
  d = s.nesterov ? d + s.momentum * buf : buf;  // Nesterov looks ahead
  p = p + (-s.lr) * d;                          // p -= lr * d
}

}  // namespace optim_math
}  // namespace drift
