// ddpm_unet.h — a DDPM-style U-Net noise predictor ε_θ(x_t, t) for 28x28 pictures (MNIST,
// Fashion-MNIST): the layout of Ho et al. 2020 (appendix B) scaled down — a sinusoidal time
// encoding and a SiLU time MLP, two residual blocks per level with GroupNorm(8) and SiLU, a
// skip from every block, stride-2 convolutions down, nearest upsampling + convolution up.
//
// It is NOT the tutorial's chapter-4 model (E): that one is ResUNet in mnist_unets.h (ReLU,
// GroupNorm(16), a positional-encoding table of width 64, one skip per level). Both have
// about the same size (557,585 against 558,753 parameters); this one came first, as drift's
// benchmark model, and the "unet ..." rows of bench/ time it.
//
// With the default config (channels 16/32/64, two blocks per level) on 1 x 28 x 28:
//
//   t [B] --sinusoidal(16)--> Linear(16, 64) -> SiLU -> Linear(64, 64) -> SiLU = time [B, 64]
//
//   x [B, 1, 28, 28] -> conv_in 3x3 -> 16 @ 28x28
//   down.0   Res(16, 16)  Res(16, 16)         each output kept as a skip          @ 28x28
//            downsample: conv 3x3 stride 2, 16 -> 16                              -> 14x14
//   down.1   Res(16, 32)  Res(32, 32)                                             @ 14x14
//            downsample 32 -> 32                                                  -> 7x7
//   down.2   Res(32, 64)  Res(64, 64)                                             @ 7x7
//   up.0     Res(64 + 64, 64)  Res(64 + 64, 64)   (skips of down.2, last first)
//            upsample: nearest x2, then conv 3x3 64 -> 32                         -> 14x14
//   up.1     Res(32 + 32, 32)  Res(32 + 32, 32)   (skips of down.1)
//            upsample: nearest x2, conv 3x3 32 -> 16                              -> 28x28
//   up.2     Res(16 + 16, 16)  Res(16 + 16, 16)   (skips of down.0)
//   out      GroupNorm -> SiLU -> conv_out 3x3, 16 -> 1  =  ε̂ [B, 1, 28, 28]
//
//   Res(c_in, c_out) = DDPMResBlock, with time the shared embedding above:
//     h = conv1( SiLU( norm1(x) ) )                       GroupNorm(groups, c_in), 3x3
//     h = h + time_proj(time)  as [B, c_out, 1, 1]        one offset per channel and picture
//     h = conv2( SiLU( norm2(h) ) )                       GroupNorm(groups, c_out), 3x3
//     out = h + shortcut(x)                               1x1 conv when c_in != c_out, else x
//
// 557,585 parameters; one training step at batch 128 is ~48.7 GFLOP (2 flop per multiply-add
// of the convolutions and linear layers, backward = 2x forward). Parameter names
// (down.1.blocks.0.conv1.weight, ...) are those of the identical PyTorch module DDPMUNet in
// bench/torch_reference.py, so state dicts map 1:1.
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

struct DDPMUNetConfig {
  int64_t image_channels = 1;             // 1 for MNIST / Fashion-MNIST, 3 for RGB
  std::vector<int64_t> channels = {16, 32, 64};  // per level; each level after the first halves H, W
  int64_t blocks_per_level = 2;           // ResBlocks per level, down and up
  int64_t time_encoding_dim = 16;         // sinusoidal features of t (even, >= 4)
  int64_t time_embedding_dim = 64;        // width of the time MLP and its output
  int64_t groups = 8;                     // GroupNorm groups; must divide every channel count
};

// A list of modules of one type, named "0", "1", ... like PyTorch's nn.ModuleList (a container
// only: the model calls the elements itself, with the inputs each needs).
template <class M>
class ModuleList : public nn::Module {
 public:
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    register_module(std::to_string(items_.size()), module);
    items_.push_back(module);
    return module;
  }
  const std::shared_ptr<M>& operator[](size_t i) const { return items_.at(i); }
  size_t size() const { return items_.size(); }
  std::string describe() const override { return "ModuleList"; }

 private:
  std::vector<std::shared_ptr<M>> items_;
};

// The residual block of DDPMUNet (see the top of this file).
class DDPMResBlock : public nn::Module {
 public:
  DDPMResBlock(int64_t in_channels, int64_t out_channels, int64_t time_embedding_dim,
               int64_t groups, Generator* generator = nullptr);
  // x [B, in_channels, H, W], time [B, time_embedding_dim]  ->  [B, out_channels, H, W]
  Tensor forward(const Tensor& x, const Tensor& time);
  using nn::Module::forward;
  std::string describe() const override;

  const int64_t in_channels, out_channels;
  std::shared_ptr<nn::GroupNorm> norm1, norm2;
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::Linear> time_proj;
  std::shared_ptr<nn::Conv2d> shortcut;  // null when in_channels == out_channels
};

// One level of the down path: its blocks, then (except at the bottom) a stride-2 conv.
class DownLevel : public nn::Module {
 public:
  // in_channels -> channels (the first block changes the count), then channels -> channels.
  DownLevel(int64_t in_channels, int64_t channels, const DDPMUNetConfig& config,
            bool with_downsample, Generator* generator);
  std::string describe() const override { return "DownLevel"; }
  std::shared_ptr<ModuleList<DDPMResBlock>> blocks;
  std::shared_ptr<nn::Conv2d> downsample;  // null at the bottom level
};

// One level of the up path: its blocks (each fed a skip), then (except at the top) nearest
// upsampling and a 3x3 conv to the next level's channels.
class UpLevel : public nn::Module {
 public:
  // Block b sees the running features concatenated with skip_channels[b]; every block
  // outputs `channels`; upsample_conv (when next_channels > 0) maps them to next_channels.
  UpLevel(int64_t in_channels, const std::vector<int64_t>& skip_channels, int64_t channels,
          int64_t next_channels, const DDPMUNetConfig& config, Generator* generator);
  std::string describe() const override { return "UpLevel"; }
  std::shared_ptr<ModuleList<DDPMResBlock>> blocks;
  std::shared_ptr<nn::Conv2d> upsample_conv;  // null at the top level
};

class DDPMUNet : public NoisePredictor {
 public:
  explicit DDPMUNet(const DDPMUNetConfig& config = {}, Generator* generator = nullptr);

  // x_t [B, image_channels, H, W] with H, W divisible by 2^(levels-1); t [B] or [B, 1]
  // timesteps (whole numbers as float32)  ->  the predicted noise ε̂, shaped like x_t.
  Tensor forward(const Tensor& x_t, const Tensor& t) override;
  using NoisePredictor::forward;
  std::string describe() const override;

  const DDPMUNetConfig config;
  std::shared_ptr<nn::SinusoidalEmbedding> time_encoding;
  std::shared_ptr<nn::Sequential> time_mlp;  // Linear, SiLU, Linear
  std::shared_ptr<nn::Conv2d> conv_in, conv_out;
  std::shared_ptr<ModuleList<DownLevel>> down;
  std::shared_ptr<ModuleList<UpLevel>> up;
  std::shared_ptr<nn::GroupNorm> norm_out;
};

}  // namespace diffusion
}  // namespace drift
