// test_engine.cpp — the semantics of the autograd engine itself.
#include <doctest/doctest.h>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "tensor/error.h"
#include "tests/helpers.h"

using namespace drift;

TEST_CASE("a tensor used twice receives the sum of both gradients") {
  Tensor x = from_vector({1, 2, 3}).set_requires_grad(true);
  Tensor y = sum(x * x + x * 3.0f);  // dy/dx = 2x + 3
  y.backward();
  CHECK(x.grad().to_vector() == std::vector<float>{5, 7, 9});
}

TEST_CASE("leaf gradients accumulate across backward calls until zero_grad") {
  Tensor w = from_vector({1, -1}).set_requires_grad(true);
  sum(w * 2.0f).backward();
  sum(w * 2.0f).backward();
  CHECK(w.grad().to_vector() == std::vector<float>{4, 4});
  w.zero_grad();
  CHECK_FALSE(w.grad().defined());
  sum(w * 5.0f).backward();
  CHECK(w.grad().to_vector() == std::vector<float>{5, 5});
}

TEST_CASE("two leaves fed the same gradient get independent .grad tensors") {
  Tensor a = ones({2}).set_requires_grad(true), b = ones({2}).set_requires_grad(true);
  sum(a + b).backward();
  CHECK(a.grad().data() != b.grad().data());
}

TEST_CASE("requires_grad propagates; constants get no gradient") {
  Tensor w = ones({2}).set_requires_grad(true);
  Tensor c = ones({2});
  Tensor y = w * c;
  CHECK(y.requires_grad());
  CHECK_FALSE(y.is_leaf());
  CHECK_FALSE((c * c).requires_grad());
  sum(y).backward();
  CHECK_FALSE(c.grad().defined());
  CHECK_THROWS_WITH_AS(y.set_requires_grad(false), doctest::Contains("only leaf tensors"), Error);
}

TEST_CASE("no-grad mode records nothing and restores the previous mode") {
  Tensor w = ones({2}).set_requires_grad(true);
  {
    NoGradGuard guard;
    CHECK_FALSE(is_grad_enabled());
    Tensor y = w * 2.0f;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
    { NoGradGuard nested; }
    CHECK_FALSE(is_grad_enabled());
  }
  CHECK(is_grad_enabled());
  CHECK((w * 2.0f).requires_grad());
}

TEST_CASE("detach cuts the graph") {
  Tensor x = from_vector({2.0f}).set_requires_grad(true);
  Tensor y = x * x;
  Tensor z = y.detach() * x;  // d/dx treats y as a constant: dz/dx = y = 4
  z.backward();
  CHECK(x.grad().item() == 4.0f);
}

TEST_CASE("a second backward through a freed graph is a clear error") {
  Tensor x = from_vector({1.0f, 2.0f}).set_requires_grad(true);
  Tensor loss = sum(exp(x));
  loss.backward();
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("already freed"), Error);
}

TEST_CASE("backward needs a scalar or an explicit output gradient") {
  Tensor x = ones({3}).set_requires_grad(true);
  Tensor y = x * 2.0f;
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("one-element output"), Error);
  y.backward(from_vector({1, 2, 3}));
  CHECK(x.grad().to_vector() == std::vector<float>{2, 4, 6});
  CHECK_THROWS_WITH_AS(ones({2}).backward(), doctest::Contains("does not require grad"), Error);
  Tensor z = x * 3.0f;
  CHECK_THROWS_WITH_AS(z.backward(ones({4})), doctest::Contains("shapes differ"), Error);
}

TEST_CASE("broadcasting backward sums over the broadcast dimensions") {
  Tensor x = ones({2, 3, 4});
  Tensor bias = zeros({3, 1}).set_requires_grad(true);
  Tensor scale = ones({4}).set_requires_grad(true);
  sum((x + bias) * scale).backward();
  CHECK(bias.grad().shape() == Shape{3, 1});
  CHECK(bias.grad().to_vector() == std::vector<float>(3, 8.0f));   // 2 * 4 uses each
  CHECK(scale.grad().to_vector() == std::vector<float>(4, 6.0f));  // 2 * 3 uses each
}

TEST_CASE("deep graphs do not overflow the stack") {
  Tensor x = from_vector({1.0f}).set_requires_grad(true);
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y * 1.0f;
  y.backward();
  CHECK(x.grad().item() == 1.0f);
}

TEST_CASE("dropping a deep graph without backward does not overflow the stack") {
  // A logging loop that sums losses with grad on, or an exception before backward(), leaves
  // a chain of nodes each owning the next: destroying it must not recurse once per node.
  Tensor x = from_vector({1.0f}).set_requires_grad(true);
  {
    Tensor total = x;
    for (int i = 0; i < 1000000; ++i) total = total + x;  // add saves nothing: edge chain only
  }
  {
    Tensor y = x;
    for (int i = 0; i < 300000; ++i) y = exp(y * 0.0f);  // closures hold tensors with grad_fn
  }
  CHECK(x.grad_fn() == nullptr);
}

TEST_CASE("backward frees what the graph saved") {
  Tensor x = randn({256, 256}).set_requires_grad(true);
  int64_t before = memory_stats(Device::cpu()).current_bytes;
  Tensor loss = sum(exp(x) * x);
  loss.backward();
  // What remains: x.grad (and the 0-D loss). The saved exp(x) and the product are gone.
  int64_t after = memory_stats(Device::cpu()).current_bytes;
  CHECK(after - before <= 256 * 256 * 4 + 64);
}

TEST_CASE("the graph keeps only the tensors backward formulas need") {
  // a and b are intermediate results that no backward formula reads (scaling by 2 needs only
  // x, add and sum only shapes): once the code drops them, their memory is free, even though
  // the graph through them is still waiting for backward.
  Tensor x = randn({256, 256}).set_requires_grad(true);
  const int64_t before = memory_stats(Device::cpu()).current_bytes;
  Tensor loss;
  {
    Tensor a = x * 2.0f;
    Tensor b = a + a;
    loss = sum(b);
  }
  CHECK(memory_stats(Device::cpu()).current_bytes - before <= 64);  // the 0-D loss
  loss.backward();
  CHECK(x.grad().to_vector() == std::vector<float>(256 * 256, 4.0f));
}

TEST_CASE("ops reject bad input with the op's name and the shapes") {
  CHECK_THROWS_WITH_AS(ones({2, 3}) + ones({4}),
                       doctest::Contains("add: shapes [2, 3] and [4] cannot be broadcast"), Error);
  CHECK_THROWS_WITH_AS(
      matmul(ones({2, 3}), ones({4, 5})),
      doctest::Contains("matmul: inner sizes differ: [2, 3] on cpu @ [4, 5] on cpu"), Error);
  CHECK_THROWS_WITH_AS(reshape(ones({6}), {4, -1}), doctest::Contains("reshape: cannot reshape"),
                       Error);
  CHECK_THROWS_WITH_AS(index_select(ones({3, 2}), 0, from_vector({0, 3})),
                       doctest::Contains("index_select: index 3 is out of range"), Error);
  CHECK_THROWS_WITH_AS(index_select(ones({3, 2}), 0, from_vector({0.5f})),
                       doctest::Contains("out of range"), Error);
  CHECK_THROWS_WITH_AS(cat({ones({2, 3}), ones({3, 3})}, 1), doctest::Contains("cat: tensor 1"),
                       Error);
  CHECK_THROWS_WITH_AS(slice(ones({4}), 0, 2, 6), doctest::Contains("slice: range [2, 6)"), Error);
  CHECK_THROWS_WITH_AS(mse_loss(ones({2}), ones({3})), doctest::Contains("mse_loss: shapes differ"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(ones({2, 3}), from_vector({0, 3})),
                       doctest::Contains("cross_entropy: index 3 is out of range"), Error);
  CHECK_THROWS_WITH_AS(permute(ones({2, 3}), {0, 0}), doctest::Contains("appears twice"), Error);
  CHECK_THROWS_WITH_AS(sum(ones({2}), {1}), doctest::Contains("dimension 1 is out of range"),
                       Error);
}
