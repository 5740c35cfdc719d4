// test_cuda.cpp — CPU vs CUDA parity for every kernel the CUDA backend has. On a machine
// without a GPU each test prints a visible "[skipped]" line and checks instead that asking
// for CUDA fails with a clear message.
#include <doctest/doctest.h>

#include "autograd/ops.h"
#include "tensor/backend.h"
#include "tensor/error.h"
#include "tests/helpers.h"

using namespace drift;

TEST_CASE("asking for CUDA without a GPU is a clear error") {
  if (cuda_available()) return;
  CHECK_THROWS_WITH_AS(Device::parse("cuda"), doctest::Contains("CUDA is not available"), Error);
  CHECK(Device::parse("auto") == Device::cpu());
  CHECK_THROWS_AS(zeros({2}, Device::cuda()), Error);
}

TEST_CASE("cuda: host <-> device copies, fill") {
  if (!test::gpu_available_or_say("cuda copies")) return;
  Device gpu = Device::cuda();
  Tensor host = randn({1000});
  Tensor dev = host.to(gpu);
  CHECK(dev.device() == gpu);
  CHECK(dev.to_vector() == host.to_vector());
  CHECK(dev.clone().cpu().to_vector() == host.to_vector());
  CHECK(full({5}, 2.5f, gpu).to_vector() == std::vector<float>(5, 2.5f));
  CHECK(Device::parse("auto") == gpu);
}

TEST_CASE("cuda: the same seed gives the same random numbers as the CPU") {
  if (!test::gpu_available_or_say("cuda random parity")) return;
  Generator cpu_gen(99), gpu_gen(99);
  CHECK(rand({1001}, Device::cpu(), &cpu_gen).to_vector() ==
        rand({1001}, Device::cuda(), &gpu_gen).to_vector());
  CHECK_CLOSE(randn({1001}, Device::cuda(), &gpu_gen), randn({1001}, Device::cpu(), &cpu_gen),
              1e-6, 1e-6);
}

TEST_CASE("cuda: every unary op and its derivative match the CPU") {
  if (!test::gpu_available_or_say("cuda unary parity")) return;
  Tensor x = rand({4097}) * 3.0f + 0.1f;  // positive, so log/sqrt/pow are defined
  Tensor gy = randn({4097});
  Tensor xg = x.to(Device::cuda()), gyg = gy.to(Device::cuda());
  for (UnaryOp op : kAllUnaryOps) {  // the whole list of tensor/elementwise_ops.h
    INFO("op " << unary_op_name(op));
    const float p0 = op == UnaryOp::Clamp ? 0.5f : 1.5f, p1 = 2.0f;
    Tensor y = Tensor::empty(x.shape()), yg = Tensor::empty(x.shape(), Device::cuda());
    backend(Device::cpu()).unary(op, x.data(), y.data(), x.numel(), p0, p1);
    backend(Device::cuda()).unary(op, xg.data(), yg.data(), x.numel(), p0, p1);
    CHECK_CLOSE(yg, y, 1e-6, 1e-5);
    Tensor gx = Tensor::empty(x.shape()), gxg = Tensor::empty(x.shape(), Device::cuda());
    backend(Device::cpu()).unary_backward(op, x.data(), y.data(), gy.data(), gx.data(), x.numel(),
                                          p0, p1);
    backend(Device::cuda()).unary_backward(op, xg.data(), yg.data(), gyg.data(), gxg.data(),
                                           x.numel(), p0, p1);
    CHECK_CLOSE(gxg, gx, 1e-6, 1e-5);
  }
}

TEST_CASE("cuda: broadcasting binary ops and axpby match the CPU") {
  if (!test::gpu_available_or_say("cuda binary parity")) return;
  Device gpu = Device::cuda();
  Tensor a = randn({3, 4, 5, 6}), b = randn({4, 1, 6}), c = randn({3, 4, 5, 6});
  CHECK_CLOSE((a + b).to(Device::cpu()), (a.to(gpu) + b.to(gpu)).cpu(), 0.0, 0.0);
  CHECK_CLOSE((a - b).to(Device::cpu()), (a.to(gpu) - b.to(gpu)).cpu(), 0.0, 0.0);
  CHECK_CLOSE((a * b).to(Device::cpu()), (a.to(gpu) * b.to(gpu)).cpu(), 0.0, 0.0);
  CHECK_CLOSE(a / (b + 3.0f), (a.to(gpu) / (b.to(gpu) + 3.0f)).cpu(), 1e-7, 1e-6);
  Tensor out = Tensor::empty(a.shape(), gpu);
  backend(gpu).axpby(2.0f, a.to(gpu).data(), -0.5f, c.to(gpu).data(), out.data(), a.numel());
  CHECK_CLOSE(out.cpu(), a * 2.0f - c * 0.5f, 1e-6, 1e-6);
}
