// tiny_unet.h — the small U-Net of chapter 3 (c): a noise predictor ε_θ(x_t, t) that, unlike
// the toy model, sees the whole picture and knows where each pixel is.
//
//   t ──Embedding(T, 16)── e                                     (a learned vector per step)
//     (or, with positional_encoding: the fixed sin/cos table nn::PositionalEncoding(16, T))
//
//   x_t ─ block(C→16) ───────────────────────────────── cat ─ block(32→16) ─ 1x1 conv ─ ε̂
//            │ max-pool 2x2                               │ ConvTranspose 2x2, stride 2
//            └ block(16→32) ────────────────── cat ─ block(64→32)
//                 │ max-pool 2x2                 │ ConvTranspose 2x2, stride 2
//                 └───────── block(32→64) ───────┘
//
// block(in→out) = ReLU(conv3x3(ReLU(conv3x3(x) + Linear(16, out)(e))))   (TimeConvBlock)
//
// This is the tutorial's model of its chapter 3 (c), layer for layer: the block adds the
// embedding before the first ReLU, and `cat` puts the skip first, as its ConvBlock and
// torch.cat([enc, up]) do.
//
// Going down, each max-pool halves the picture so the 3x3 convolutions see ever larger areas;
// coming up, a transposed convolution doubles it back and the skip connection (cat) brings
// the fine detail of the same level. Every block adds the timestep's embedding, projected to
// its channel count, to every pixel: the network knows how much noise to expect. The picture
// side must be divisible by 2^(levels-1) (4 for the default 16/32/64).
//
// Chapter 4 trains it on MNIST as its model (A) (image_channels 1) and, with the fixed
// positional encoding instead of the learned table, as (C): see mnist_unets.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "diffusion/models/noise_predictor.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

// Two 3x3 convolutions (padding 1, so the size is kept) with ReLUs; the time embedding,
// projected to `out_channels` numbers, is added to every pixel of the first convolution's
// output, before its ReLU.
class TimeConvBlock : public nn::Module {
 public:
  TimeConvBlock(int64_t in_channels, int64_t out_channels, int64_t time_dim,
                Generator* generator = nullptr);
  // x [B, in, H, W], time_embedding [B, time_dim]  ->  [B, out, H, W]
  using nn::Module::forward;
  Tensor forward(const Tensor& x, const Tensor& time_embedding);
  std::string describe() const override;

  const int64_t in_channels, out_channels;
  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::Linear> time_projection;
  std::shared_ptr<nn::Conv2d> conv2;
};

struct TinyUNetConfig {
  int64_t image_channels = 3;                    // 3 for RGB, 1 for grey
  int64_t num_timesteps = 1000;                  // T: the embedding table has one row per step
  int64_t time_dim = 16;                         // the length of a step's embedding
  std::vector<int64_t> channels = {16, 32, 64};  // per level, top to bottom (>= 2 levels)
  // How t becomes e: false = a learned Embedding(num_timesteps, time_dim) (chapter 3 (c),
  // chapter 4 (A)); true = the fixed table nn::PositionalEncoding(time_dim, num_timesteps),
  // nothing learned (chapter 4 (C)). time_dim must then be even.
  bool positional_encoding = false;
};

class TinyUNet : public NoisePredictor {
 public:
  explicit TinyUNet(const TinyUNetConfig& config = {}, Generator* generator = nullptr);

  // x_t [B, image_channels, H, W] with H, W divisible by 2^(levels-1), t [B] timesteps
  // (whole numbers in [0, num_timesteps), as float32)  ->  ε̂ shaped like x_t.
  using NoisePredictor::forward;
  Tensor forward(const Tensor& x_t, const Tensor& t) override;
  std::string describe() const override;

  // The factor the picture side must be divisible by: 2^(levels-1).
  int64_t size_multiple() const;

  const TinyUNetConfig config;
  std::shared_ptr<nn::Embedding> time_embedding;               // null with positional_encoding
  std::shared_ptr<nn::PositionalEncoding> time_encoding;       // null without it
  std::vector<std::shared_ptr<TimeConvBlock>> down;            // levels 0..L-2, then pooled
  std::shared_ptr<TimeConvBlock> middle;                       // the bottom level
  std::vector<std::shared_ptr<nn::ConvTranspose2d>> upsample;  // level l+1 -> l
  std::vector<std::shared_ptr<TimeConvBlock>> up;              // after cat with down[l]
  std::shared_ptr<nn::Conv2d> output;                          // 1x1: channels[0] -> image
};

}  // namespace diffusion
}  // namespace drift
