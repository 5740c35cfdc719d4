// norm.cpp — group_norm and layer_norm. Both run the fused group-normalisation kernels
// (tensor/cpu/norm.cpp, where the formulas are written out and cited): forward saves the
// mean and 1/std of every group, backward reuses them.
#include "autograd/node.h"
#include "nn/functional.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace drift {
namespace nn {
namespace functional {

namespace {

void check_affine(const char* op, const char* what, const Tensor& t, int64_t size,
                  const Tensor& x) {
  if (!t.defined()) return;
  DRIFT_CHECK(t.ndim() == 1 && t.size(0) == size,
              op << ": " << what << " " << describe(t) << " must be [" << size << "] for input "
                 << describe(x));
  check_same_device(x, t, op);
}

// The shared forward/backward of both ops: x seen as [N, C, HW] in `groups` groups, gamma
// and beta [C] (optional).
//   forward   y = (x - mean) * rstd * gamma[c] + beta[c]      (mean, rstd per (n, group))
//   backward  gx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),  dxhat = gy gamma
//             ggamma = sum gy xhat,   gbeta = sum gy
// With `with_silu`, the output is silu(y) instead (the fused kernels: backward recomputes y
// from x and the statistics, so only x, mean and rstd are kept, not y).
Tensor normalize_groups(const char* op, const Tensor& x, int64_t N, int64_t C, int64_t HW,
                        int64_t groups, const Tensor& gamma, const Tensor& beta, float eps,
                        bool with_silu = false) {
  DRIFT_CHECK(eps > 0.0f, op << ": eps must be positive, got " << eps);
  Tensor y = Tensor::empty(x.shape(), x.device());
  Tensor mean = Tensor::empty(Shape{N, groups}, x.device());
  Tensor rstd = Tensor::empty(Shape{N, groups}, x.device());
  const float* gamma_data = gamma.defined() ? gamma.data() : nullptr;
  const float* beta_data = beta.defined() ? beta.data() : nullptr;
  if (x.numel() > 0 && with_silu)
    backend(x.device())
        .group_norm_silu_forward(x.data(), gamma_data, beta_data, y.data(), mean.data(),
                                 rstd.data(), N, C, HW, groups, eps);
  else if (x.numel() > 0)
    backend(x.device())
        .group_norm_forward(x.data(), gamma_data, beta_data, y.data(), mean.data(), rstd.data(),
                            N, C, HW, groups, eps);
  return record(op, y, {x, gamma, beta},
                [x, gamma, beta, mean, rstd, N, C, HW, groups, with_silu](const Tensor& gy) {
    const bool want_gamma = gamma.defined() && gamma.requires_grad();
    const bool want_beta = beta.defined() && beta.requires_grad();
    Tensor gx = Tensor::empty(x.shape(), x.device());
    Tensor ggamma = want_gamma ? zeros(gamma.shape(), x.device()) : Tensor();
    Tensor gbeta = want_beta ? zeros(beta.shape(), x.device()) : Tensor();
    const float* gamma_data = gamma.defined() ? gamma.data() : nullptr;
    float* ggamma_data = want_gamma ? ggamma.data() : nullptr;
    float* gbeta_data = want_beta ? gbeta.data() : nullptr;
    if (x.numel() > 0 && with_silu)
      backend(x.device())
          .group_norm_silu_backward(x.data(), gy.data(), gamma_data,
                                    beta.defined() ? beta.data() : nullptr, mean.data(),
                                    rstd.data(), gx.data(), ggamma_data, gbeta_data, N, C, HW,
                                    groups);
    else if (x.numel() > 0)
      backend(x.device())
          .group_norm_backward(x.data(), gy.data(), gamma_data, mean.data(), rstd.data(),
                               gx.data(), ggamma_data, gbeta_data, N, C, HW, groups);
    return std::vector<Tensor>{x.requires_grad() ? gx : Tensor(), ggamma, gbeta};
  });
}

}  // namespace

namespace {

// The checks of group_norm and group_norm_silu; returns HW (values per channel).
int64_t check_group_norm(const char* op, const Tensor& x, int64_t groups, const Tensor& weight,
                         const Tensor& bias) {
  DRIFT_CHECK(x.defined(), op << ": the input is undefined");
  DRIFT_CHECK(x.ndim() >= 2, op << ": input must be [N, C, *], got " << describe(x));
  const int64_t N = x.size(0), C = x.size(1);
  DRIFT_CHECK(groups >= 1 && C % groups == 0,
              op << ": " << groups << " groups do not divide the " << C << " channels of input "
                 << describe(x));
  check_affine(op, "weight", weight, C, x);
  check_affine(op, "bias", bias, C, x);
  return N * C > 0 ? x.numel() / (N * C) : 0;
}

}  // namespace

Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias,
                  float eps) {
  const int64_t HW = check_group_norm("group_norm", x, groups, weight, bias);
  return normalize_groups("group_norm", x, x.size(0), x.size(1), HW, groups, weight, bias, eps);
}

// The fused kernels exist on the CPU; elsewhere the two ops run one after the other.
Tensor group_norm_silu(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias,
                       float eps) {
  const int64_t HW = check_group_norm("group_norm_silu", x, groups, weight, bias);
  if (!x.device().is_cpu()) return silu(group_norm(x, groups, weight, bias, eps));
  return normalize_groups("group_norm_silu", x, x.size(0), x.size(1), HW, groups, weight, bias,
                          eps, /*with_silu=*/true);
}

// LayerNorm over the last dimension D is group normalisation of the [rows, D, 1] view with
// one group: each row is normalised on its own, and the D features play the channels (so
// weight and bias have one value per feature).
Tensor layer_norm(const Tensor& x, int64_t normalized_size, const Tensor& weight,
                  const Tensor& bias, float eps) {
  const char* op = "layer_norm";
  DRIFT_CHECK(x.defined(), op << ": the input is undefined");
  DRIFT_CHECK(x.ndim() >= 1 && x.size(-1) == normalized_size,
              op << ": the last dimension of input " << describe(x) << " must be the normalized "
                 << "size " << normalized_size);
  check_affine(op, "weight", weight, normalized_size, x);
  check_affine(op, "bias", bias, normalized_size, x);
  const int64_t rows = normalized_size > 0 ? x.numel() / normalized_size : 0;
  return normalize_groups(op, x, rows, normalized_size, 1, 1, weight, bias, eps);
}

}  // namespace functional
}  // namespace nn
}  // namespace drift
