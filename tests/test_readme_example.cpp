// test_readme_example.cpp — the "Build a model" example of README.md, compiled and run, so the
// README stays true. Keep the two in step: the code between the markers is the README's.
#include <doctest/doctest.h>

#include <sstream>

#include "nn/layers.h"
#include "nn/optim.h"

using namespace drift;

namespace readme {
// ---- README example begins ----
// The chapter-2 toy model: conv -> relu -> + Linear(1, 16)(t) on every pixel -> conv.
struct ToyModel : nn::Module {
  ToyModel() {
    conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(3, 16, 3, /*stride=*/1, /*padding=*/1));
    conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(16, 3, 3, 1, 1));
    linear = register_module("linear", std::make_shared<nn::Linear>(1, 16));
  }
  using nn::Module::forward;
  Tensor forward(const Tensor& x, const Tensor& t) {
    Tensor h = relu(conv1->forward(x));
    h = h + reshape(linear->forward(t), {-1, 16, 1, 1});  // [B, 16] -> one value per channel
    return conv2->forward(h);
  }
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::Linear> linear;
};

void train_a_little(std::ostream& out) {
  manual_seed(0);
  ToyModel model;
  nn::Adam optimizer(model.parameters(), /*lr=*/1e-3);
  Tensor x = randn({2, 3, 8, 8}), t = full({2, 1}, 5.0f), noise = randn({2, 3, 8, 8});
  for (int step = 0; step < 10; ++step) {
    optimizer.zero_grad();
    Tensor loss = mse_loss(model.forward(x, t), noise);
    loss.backward();  // every parameter now has .grad()
    optimizer.step();
    out << "step " << step << " loss " << loss.item() << "\n";
  }
  out << model.summary();  // each layer, its parameters with shapes and counts, the total
  // Layers compose like torch.nn: a U-Net stage, children named "0", "1", ...
  nn::Sequential down(std::make_shared<nn::Conv2d>(3, 32, 3, 1, 1),
                      std::make_shared<nn::GroupNorm>(8, 32), std::make_shared<nn::SiLU>(),
                      std::make_shared<nn::LinearAttention2d>(32, /*heads=*/4, /*dim_head=*/32),
                      std::make_shared<nn::Conv2d>(32, 64, 4, /*stride=*/2, /*padding=*/1));
  out << down.forward(x).shape() << "\n";  // [2, 64, 4, 4]
}
// ---- README example ends ----
}  // namespace readme

TEST_CASE("the README's build-a-model example runs and learns") {
  std::ostringstream out;
  readme::train_a_little(out);
  const std::string text = out.str();
  CHECK(text.find("conv1: Conv2d(3, 16, kernel_size=3") != std::string::npos);
  CHECK(text.find("[2, 64, 4, 4]") != std::string::npos);
  // The loss after 10 Adam steps is below the first one.
  std::istringstream lines(text);
  std::string word;
  std::vector<float> losses;
  while (lines >> word)
    if (word == "loss") {
      float value;
      lines >> value;
      losses.push_back(value);
    }
  REQUIRE(losses.size() == 10);
  CHECK(losses.back() < losses.front());
}
