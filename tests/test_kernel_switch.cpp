// test_kernel_switch.cpp — the fast / reference switch of the CPU kernels (tensor/cpu/kernels.h):
// the names, the GroupNorm kernels against their references, and a small model whose forward
// and backward pass agree under both sets of kernels.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <vector>

#include "nn/functional.h"
#include "nn/layers.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/kernels.h"
#include "tensor/error.h"
#include "tests/helpers.h"

using namespace drift;
namespace F = drift::nn::F;

namespace {

// ||a - b|| / ||b||, the normalised error of a against b.
double normalised_error(const Tensor& a, const Tensor& b) {
  const std::vector<float> av = a.to_vector(), bv = b.to_vector();
  REQUIRE(av.size() == bv.size());
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < av.size(); ++i) {
    diff += (static_cast<double>(av[i]) - bv[i]) * (static_cast<double>(av[i]) - bv[i]);
    norm += static_cast<double>(bv[i]) * bv[i];
  }
  return std::sqrt(diff) / std::sqrt(norm);
}

}  // namespace

TEST_CASE("cpu kernels: the switch by value and by name") {
  const cpu::Kernels start = cpu::kernels();
  cpu::set_kernels(cpu::Kernels::Reference);
  CHECK(cpu::kernels() == cpu::Kernels::Reference);
  cpu::set_kernels("fast");
  CHECK(cpu::kernels() == cpu::Kernels::Fast);
  cpu::set_kernels("reference");
  CHECK(cpu::kernels() == cpu::Kernels::Reference);
  CHECK(std::string(cpu::kernels_name(cpu::Kernels::Reference)) == "reference");
  CHECK(std::string(cpu::kernels_name(cpu::Kernels::Fast)) == "fast");
  CHECK_THROWS_WITH_AS(cpu::set_kernels("slow"), doctest::Contains("unknown CPU kernels 'slow'"),
                       Error);
  CHECK(cpu::kernels() == cpu::Kernels::Reference);  // unchanged by the failed call
  {
    const cpu::ScopedKernels fast(cpu::Kernels::Fast);
    CHECK(cpu::kernels() == cpu::Kernels::Fast);
  }
  CHECK(cpu::kernels() == cpu::Kernels::Reference);
  cpu::set_kernels(start);
}

// ctest runs this case once more with DRIFT_KERNELS=reference (tests/CMakeLists.txt).
TEST_CASE("cpu kernels: DRIFT_KERNELS chooses the kernels at start-up") {
  const char* name = std::getenv("DRIFT_KERNELS");
  if (name == nullptr) return;
  CHECK(cpu::kernels() == cpu::kernels_from_name(name));
}

TEST_CASE("cpu kernels: GroupNorm and GroupNorm + SiLU against the reference") {
  const cpu::ScopedKernels fast(cpu::Kernels::Fast);
  const int64_t N = 3, C = 12, HW = 50, groups = 4;
  // A large mean and a small spread, where a one-pass variance would cancel.
  Tensor x = randn({N, C, HW}) * 0.5f + 1000.0f, gy = randn({N, C, HW});
  Tensor gamma = randn({C}), beta = randn({C});
  for (bool silu : {false, true}) {
    CAPTURE(silu);
    Tensor y = full({N, C, HW}, NAN), mean = full({N, groups}, NAN), rstd = full({N, groups}, NAN);
    Tensor y_ref = full({N, C, HW}, NAN), mean_ref = full({N, groups}, NAN),
           rstd_ref = full({N, groups}, NAN);
    Tensor gx = full({N, C, HW}, NAN), gg = full({C}, NAN), gb = full({C}, NAN);
    Tensor gx_ref = full({N, C, HW}, NAN), gg_ref = full({C}, NAN), gb_ref = full({C}, NAN);
    Backend& be = cpu_backend();
    if (silu) {
      be.group_norm_silu_forward(x.data(), gamma.data(), beta.data(), y.data(), mean.data(),
                                 rstd.data(), N, C, HW, groups, 1e-5f);
      cpu::reference::group_norm_silu_forward(x.data(), gamma.data(), beta.data(), y_ref.data(),
                                              mean_ref.data(), rstd_ref.data(), N, C, HW, groups,
                                              1e-5f);
      be.group_norm_silu_backward(x.data(), gy.data(), gamma.data(), beta.data(), mean.data(),
                                  rstd.data(), gx.data(), gg.data(), gb.data(), N, C, HW, groups);
      cpu::reference::group_norm_silu_backward(x.data(), gy.data(), gamma.data(), beta.data(),
                                               mean.data(), rstd.data(), gx_ref.data(),
                                               gg_ref.data(), gb_ref.data(), N, C, HW, groups);
    } else {
      be.group_norm_forward(x.data(), gamma.data(), beta.data(), y.data(), mean.data(), rstd.data(),
                            N, C, HW, groups, 1e-5f);
      cpu::reference::group_norm_forward(x.data(), gamma.data(), beta.data(), y_ref.data(),
                                         mean_ref.data(), rstd_ref.data(), N, C, HW, groups, 1e-5f);
      be.group_norm_backward(x.data(), gy.data(), gamma.data(), mean.data(), rstd.data(), gx.data(),
                             gg.data(), gb.data(), N, C, HW, groups);
      cpu::reference::group_norm_backward(x.data(), gy.data(), gamma.data(), mean.data(),
                                          rstd.data(), gx_ref.data(), gg_ref.data(), gb_ref.data(),
                                          N, C, HW, groups);
    }
    CHECK_CLOSE(mean, mean_ref, 1e-4, 1e-6);
    CHECK_CLOSE(rstd, rstd_ref, 1e-4, 1e-4);
    CHECK_CLOSE(y, y_ref, 1e-3, 1e-3);
    CHECK_CLOSE(gx, gx_ref, 1e-3, 1e-3);
    CHECK_CLOSE(gg, gg_ref, 1e-3, 1e-3);
    CHECK_CLOSE(gb, gb_ref, 1e-3, 1e-3);
  }
}

// conv -> GroupNorm + SiLU -> strided conv -> GroupNorm -> linear, forward and backward with
// the fast kernels and with the reference kernels: the same loss, input gradient and parameter
// gradients (normalised error ~1e-7, float rounding).
TEST_CASE("cpu kernels: a small model agrees under fast and reference kernels") {
  Generator gen(7);
  nn::Conv2d conv1(3, 8, 3, 1, 1, 1, true, &gen);
  nn::Conv2d conv2(8, 8, 3, 2, 1, 2, true, &gen);  // stride 2, two groups
  nn::GroupNorm norm(2, 8);
  nn::Linear linear(8 * 5 * 5, 4, true, &gen);
  Tensor gamma = randn({8}, Device::cpu(), &gen), beta = randn({8}, Device::cpu(), &gen);
  const Tensor input = randn({2, 3, 10, 10}, Device::cpu(), &gen);
  std::vector<Tensor> params{conv1.weight, conv1.bias, conv2.weight,  conv2.bias,
                             norm.weight,  norm.bias,  linear.weight, linear.bias};

  struct Run {
    Tensor loss, out, grad_input;
    std::vector<Tensor> grads;
  };
  auto run = [&](cpu::Kernels kernels) {
    const cpu::ScopedKernels chosen(kernels);
    Tensor x = input.detach();
    x.set_requires_grad(true);
    for (Tensor& p : params) p.zero_grad();
    Tensor h = F::group_norm_silu(conv1.forward(x), 4, gamma, beta);
    h = norm.forward(conv2.forward(h));
    Tensor out = linear.forward(reshape(h, {2, 8 * 5 * 5}));
    Tensor loss = sum(out * out);
    loss.backward();
    Run r{loss.detach(), out.detach(), x.grad(), {}};
    for (const Tensor& p : params) r.grads.push_back(p.grad());
    return r;
  };
  const Run fast = run(cpu::Kernels::Fast);
  const Run reference = run(cpu::Kernels::Reference);
  CHECK(normalised_error(fast.out, reference.out) < 1e-5);
  CHECK(normalised_error(fast.loss, reference.loss) < 1e-5);
  CHECK(normalised_error(fast.grad_input, reference.grad_input) < 1e-5);
  for (size_t i = 0; i < params.size(); ++i) {
    CAPTURE(i);
    CHECK(normalised_error(fast.grads[i], reference.grads[i]) < 1e-5);
  }
}
