// layers.h — the layer library, like torch.nn: modules that own their parameters and call
// the differentiable functions of nn/functional.h.
//
//   auto model = std::make_shared<nn::Sequential>(
//       std::make_shared<nn::Conv2d>(3, 16, 3, /*stride=*/1, /*padding=*/1),
//       std::make_shared<nn::ReLU>(),
//       std::make_shared<nn::Conv2d>(16, 3, 3, 1, 1));
//   Tensor y = model->forward(x);   // parameters: "0.weight", "0.bias", "2.weight", "2.bias"
//
// Constructor arguments follow PyTorch's order and defaults; parameter names are PyTorch's
// attribute names (weight, bias, to_qkv.weight, ...), so state dicts map 1:1 onto PyTorch
// checkpoints; initialisation follows PyTorch's defaults (nn/init.h). Layers that draw random
// numbers take an optional Generator* (null = the global generator, seeded by manual_seed).
// An Error raised inside a layer's forward is prefixed with the layer's description, e.g.
//   "Conv2d(3, 16, kernel_size=3, stride=1, padding=1): conv2d: input [2, 4, 8, 8] has 4 ..."
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/functional.h"
#include "nn/module.h"

namespace drift {
namespace nn {

// y = x W^T + b: x [..., in_features] -> [..., out_features]. weight [out, in], bias [out].
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true,
         Generator* generator = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  const int64_t in_features, out_features;
  Tensor weight, bias;  // bias undefined when constructed with bias = false
};

// 2-D convolution: [N, in_channels, H, W] -> [N, out_channels, OH, OW].
// weight [out, in/groups, kH, kW], bias [out]. groups = in_channels = out_channels is depthwise.
class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size, Size2 stride = 1,
         Size2 padding = 0, int64_t groups = 1, bool bias = true,
         Generator* generator = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  const int64_t in_channels, out_channels;
  const Size2 kernel_size, stride, padding;
  const int64_t groups;
  Tensor weight, bias;
};

// Transposed convolution (learned upsampling): [N, in, H, W] -> [N, out, OH, OW] with
// OH = (H - 1) stride - 2 padding + kH + output_padding. weight [in, out, kH, kW] (PyTorch's
// layout), bias [out]. ConvTranspose2d(c, c, 4, 2, 1) exactly doubles the size.
class ConvTranspose2d : public Module {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size,
                  Size2 stride = 1, Size2 padding = 0, Size2 output_padding = 0,
                  bool bias = true, Generator* generator = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  const int64_t in_channels, out_channels;
  const Size2 kernel_size, stride, padding, output_padding;
  Tensor weight, bias;
};

// Group normalisation of [N, num_channels, *] over groups of channels; weight/bias [C]
// (ones/zeros) when affine.
class GroupNorm : public Module {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, float eps = 1e-5f, bool affine = true);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  const int64_t num_groups, num_channels;
  const float eps;
  Tensor weight, bias;
};

// Layer normalisation over the last dimension (of size normalized_size).
class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t normalized_size, float eps = 1e-5f, bool elementwise_affine = true);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  const int64_t normalized_size;
  const float eps;
  Tensor weight, bias;
};

// A learned lookup table: index (whole numbers, any shape) -> [*index.shape, embedding_dim].
// weight [num_embeddings, embedding_dim] ~ N(0, 1).
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, Generator* generator = nullptr);
  Tensor forward(const Tensor& index) override;
  std::string describe() const override;

  const int64_t num_embeddings, embedding_dim;
  Tensor weight;
};

// Dropout with probability p in training mode (is_training()), the identity in eval mode.
class Dropout : public Module {
 public:
  explicit Dropout(float p = 0.5f, Generator* generator = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  const float p;

 private:
  Generator* generator_;
};

// Parameter-free activations and plumbing.
class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return relu(x); }
  std::string describe() const override { return "ReLU()"; }
};
class SiLU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return silu(x); }
  std::string describe() const override { return "SiLU()"; }
};
class GELU : public Module {  // the exact (erf) GELU, PyTorch's default
 public:
  Tensor forward(const Tensor& x) override { return gelu(x); }
  std::string describe() const override { return "GELU()"; }
};
class Identity : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string describe() const override { return "Identity()"; }
};

// Nearest-neighbour upsampling of [N, C, H, W] by an integer factor.
class Upsample : public Module {
 public:
  explicit Upsample(int64_t scale_factor = 2);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  const int64_t scale_factor;
};

// Pooling; stride 0 (the default) means stride = kernel_size, as PyTorch's stride=None.
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Size2 kernel_size, Size2 stride = 0, Size2 padding = 0);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  const Size2 kernel_size, stride, padding;
};
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(Size2 kernel_size, Size2 stride = 0, Size2 padding = 0);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  const Size2 kernel_size, stride, padding;
};

// Modules applied one after another; children are named "0", "1", ... like PyTorch's.
class Sequential : public Module {
 public:
  Sequential() = default;
  // Sequential(std::make_shared<Conv2d>(...), std::make_shared<ReLU>(), ...)
  template <class... Modules>
  explicit Sequential(std::shared_ptr<Modules>... modules) {
    (push_back(std::move(modules)), ...);
  }
  explicit Sequential(const std::vector<std::shared_ptr<Module>>& modules);

  // Appends a module (named by its position) and returns it with its own type.
  template <class M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    register_module(std::to_string(modules_.size()), module);
    modules_.push_back(module);
    return module;
  }
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "Sequential"; }

  size_t size() const { return modules_.size(); }
  const std::shared_ptr<Module>& operator[](size_t i) const;

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

// Multi-head self-attention over the H*W positions of a feature map (the annotated-diffusion
// `Attention`): q, k, v = chunks of to_qkv(x) (a 1x1 conv without bias to 3*heads*dim_head
// channels), per head out = softmax(q^T k / sqrt(dim_head)) v^T, heads concatenated, then
// to_out (a 1x1 conv back to `channels`). [N, channels, H, W] -> same shape.
// Parameters: to_qkv.weight, to_out.weight, to_out.bias.
class SelfAttention2d : public Module {
 public:
  explicit SelfAttention2d(int64_t channels, int64_t heads = 4, int64_t dim_head = 32,
                           Generator* generator = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  const int64_t channels, heads, dim_head;
  std::shared_ptr<Conv2d> to_qkv, to_out;
};

// Linear attention over the positions of a feature map (the annotated-diffusion
// `LinearAttention`): F::linear_attention per head with scale 1/sqrt(dim_head), then
// to_out = Sequential(Conv2d 1x1 to `channels`, GroupNorm(1, channels)).
// Parameters: to_qkv.weight, to_out.0.weight, to_out.0.bias, to_out.1.weight, to_out.1.bias.
class LinearAttention2d : public Module {
 public:
  explicit LinearAttention2d(int64_t channels, int64_t heads = 4, int64_t dim_head = 32,
                             Generator* generator = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  const int64_t channels, heads, dim_head;
  std::shared_ptr<Conv2d> to_qkv;
  std::shared_ptr<Sequential> to_out;
};

// The Transformer's position encoding as a fixed table (Vaswani et al. 2017, section 3.5), as
// the tutorial's chapter-4 `PositionalEncoding` builds it: a buffer pe [max_len, d_model] with
//   pe[p, 2i]     = sin(p · 10000^(-2i / d_model))
//   pe[p, 2i + 1] = cos(p · 10000^(-2i / d_model))       i = 0 .. d_model/2 - 1
// and forward = a row lookup: index (whole numbers in [0, max_len), any shape)
// -> [*index.shape, d_model]. Not trained (no parameters; pe is saved with the state).
// SinusoidalEmbedding below is the same idea with other conventions: sin and cos in two
// halves instead of interleaved, and frequencies 10000^(-i / (half - 1)).
class PositionalEncoding : public Module {
 public:
  explicit PositionalEncoding(int64_t d_model, int64_t max_len = 5000);
  Tensor forward(const Tensor& index) override;
  std::string describe() const override;

  const int64_t d_model, max_len;
  Tensor pe;  // [max_len, d_model], computed in double and rounded to float32
};

// The sinusoidal time-step embedding (F::sinusoidal_embedding): t [B] -> [B, dim].
class SinusoidalEmbedding : public Module {
 public:
  explicit SinusoidalEmbedding(int64_t dim);
  Tensor forward(const Tensor& t) override;
  std::string describe() const override;

  const int64_t dim;
};

}  // namespace nn
}  // namespace drift
