// mnist_unets.h — the U-Nets of the tutorial's chapter 4, the step-by-step progression that
// takes the chapter-3 model to good MNIST digits: (A) → (C) → (D) → (E). ((B) is the FID
// evaluation, no model.) Each is a noise predictor ε_θ(x_t, t) for [B, 1, 28, 28] pictures,
// built by name with make_mnist_unet("A" | "C" | "D" | "E"). Parameter counts are for the
// defaults (1 channel, T = 1000).
//
// (A) TinyUNet, image_channels 1 (tiny_unet.h) — the chapter-3 (c) model as it is:
//     135,473 parameters.
//
//   t ──Embedding(1000, 16)── e
//   x_t ─ block(1→16) ──────────────────────────────── cat ─ block(32→16) ─ 1x1 conv ─ ε̂
//            │ max-pool                                  │ ConvTranspose 2x2 s2 (32→16)
//            └ block(16→32) ──────────────── cat ─ block(64→32)
//                 │ max-pool                   │ ConvTranspose 2x2 s2 (64→32)
//                 └─────── block(32→64) ───────┘
//   block = TimeConvBlock: ReLU(conv3x3(ReLU(conv3x3(x) + Linear(e))));  cat = [skip, up]
//
// (C) the same, t through the fixed nn::PositionalEncoding(16, 1000) table instead of the
//     learned Embedding: 119,473 parameters (the table's 16,000 numbers are gone). A learned
//     row is trained only by the batches that happen to draw its step, and nothing ties step
//     500 to step 501; the sin/cos features are smooth in t, so neighbouring steps start out
//     alike and every step has a meaningful vector from the first iteration.
//
// (D) NormUNet — normalisation and a time MLP: 138,593 parameters.
//
//   t ── PositionalEncoding(64) ─ Linear(64, 64) ─ ReLU ─ Linear(64, 64) ─ ReLU ── e
//   x_t ─ conv_in 3x3 (1→16) ─ nblock(16→16) ────────────────── cat ─ nblock(32→16) ─┐
//            │ max-pool                                           │ ConvTranspose (32→16)
//            └ nblock(16→32) ──────────────────────── cat ─ nblock(64→32)           │
//                 │ max-pool                             │ ConvTranspose (64→32)      │
//                 └─────── nblock(32→64) ────────────────┘                           │
//   ε̂ = conv_out 3x3 (16→1)( ReLU( GroupNorm(16, 16)( ... ) ) ) ───────────────────────┘
//   nblock = NormConvBlock (pre-norm):
//     h = conv1( ReLU( GroupNorm(16, in)(x) ) );  h = h + proj(e);
//     out = conv2( ReLU( GroupNorm(16, out)(h) ) )
//
//   GroupNorm keeps the input of every convolution at mean 0, variance 1 per group of
//   channels, whatever the weights before it do during training, so a larger learning rate
//   and a deeper network train steadily. "Pre-norm" (norm → ReLU → conv) leaves each block's
//   output un-normalised; the final GroupNorm → ReLU → conv_out does the same for the last
//   one. conv_in lifts the 1 grey channel to 16 first (GroupNorm(16, ·) needs 16 channels).
//   The two-layer MLP lets the network compute its own features of t from the fixed
//   encoding, shared by every block (each block still has its own proj to its channels).
//   A property of the tutorial's model, kept here: GroupNorm(16, 16) normalises each of 16
//   channels alone, so in the 16-channel blocks (enc1, dec1; in (E) enc1_1, dec1_2) norm2
//   removes proj(e) again — t does not reach them (their proj gradients are exactly 0).
//
// (E) ResUNet — residual blocks, two per level, learned down- and upsampling: 558,753
//     parameters, ~87 GFLOP per training step at batch 128.
//
//   t ── PositionalEncoding(64) ─ Linear ─ ReLU ─ Linear ─ ReLU ── e        (as (D))
//   x_t ─ conv_in 3x3 (1→16)
//   28x28  enc1_1 Res(16, 16)  enc1_2 Res(16, 32) = enc1 ────────────────────────────┐
//          downconv1: conv 3x3 stride 2 (32→32)                                      │
//   14x14  enc2_1 Res(32, 32)  enc2_2 Res(32, 64) = enc2 ─────────────────┐          │
//          downconv2: conv 3x3 stride 2 (64→64)                           │          │
//    7x7   bottleneck_1 Res(64, 64)  bottleneck_2 Res(64, 64)             │          │
//          upconv2: nearest x2, conv 3x3 (64→64)                          │          │
//   14x14  cat [x, enc2] → dec2_1 Res(128, 64)  dec2_2 Res(64, 32) ───────┘          │
//          upconv1: nearest x2, conv 3x3 (32→32)                                     │
//   28x28  cat [x, enc1] → dec1_1 Res(64, 32)  dec1_2 Res(32, 16) ───────────────────┘
//   ε̂ = conv_out 3x3 (16→1)( ReLU( GroupNorm(16, 16)(x) ) )
//   Res = ResnetBlock: nblock(x, e) + shortcut(x), shortcut a 1x1 conv when in != out,
//   else x itself.
//
//   The residual sum lets a block learn a correction to its input, and the gradient reaches
//   the early layers through the sums undiminished: twice as many blocks still train. A
//   stride-2 convolution learns how to downsample (max-pool only keeps the largest value);
//   nearest upsampling + a 3x3 convolution spreads every output pixel over the same number
//   of inputs, where the 2x2 stride-2 transposed convolution gives each pixel of a 2x2 cell
//   its own weights, which shows as a checkerboard pattern (Odena et al. 2016,
//   "Deconvolution and checkerboard artifacts"). Note the cat order: (E) puts the upsampled
//   features first, [x, skip]; (A)–(D) put the skip first.
//
// Everything follows the tutorial's code (04-mnist/README.md): layer order, the cat orders,
// padding 1 for every 3x3, GroupNorm(16, ·), the positional encoding (interleaved sin/cos,
// 10000^(−2i/d)). Parameter names of NormUNet and ResUNet are its attribute names
// (enc1.norm1.weight, embed.1.weight, downconv1.conv.weight, ...), so its state dicts load
// 1:1 (the tutorial's file main.py writes (E)'s time ReLU as emb_layers = ReLU → Linear in
// each block instead of the last ReLU of embed: the same function, other names).
// tests/fixtures/gen_mnist_unets.py holds PyTorch twins of all four.
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

// (D)'s block, pre-norm: conv1(ReLU(norm1(x))) + proj(e), then conv2(ReLU(norm2(·))).
// Registered in the tutorial's order: norm1, conv1, proj, norm2, conv2.
class NormConvBlock : public nn::Module {
 public:
  NormConvBlock(int64_t in_channels, int64_t out_channels, int64_t embed_dim, int64_t groups = 16,
                Generator* generator = nullptr);
  // x [B, in, H, W], embedding [B, embed_dim]  ->  [B, out, H, W]
  using nn::Module::forward;
  Tensor forward(const Tensor& x, const Tensor& embedding);
  std::string describe() const override;

  const int64_t in_channels, out_channels;
  std::shared_ptr<nn::GroupNorm> norm1;
  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::Linear> proj;
  std::shared_ptr<nn::GroupNorm> norm2;
  std::shared_ptr<nn::Conv2d> conv2;
};

// (E)'s block: NormConvBlock(x, e) + shortcut(x); shortcut is a 1x1 conv when the channel
// count changes (registered last, as in the tutorial), else the identity.
class ResnetBlock : public NormConvBlock {
 public:
  ResnetBlock(int64_t in_channels, int64_t out_channels, int64_t embed_dim, int64_t groups = 16,
              Generator* generator = nullptr);
  using nn::Module::forward;
  Tensor forward(const Tensor& x, const Tensor& embedding);
  std::string describe() const override;

  std::shared_ptr<nn::Conv2d> shortcut;  // null when in_channels == out_channels
};

// (E)'s resampling, each a module with one child `conv` (the tutorial's names):
// DownsampleConv = conv 3x3 stride 2 padding 1 (H -> H/2); UpsampleConv = nearest x2, then
// conv 3x3 padding 1 (H -> 2H).
class DownsampleConv : public nn::Module {
 public:
  DownsampleConv(int64_t in_channels, int64_t out_channels, Generator* generator = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  std::shared_ptr<nn::Conv2d> conv;
};
class UpsampleConv : public nn::Module {
 public:
  UpsampleConv(int64_t in_channels, int64_t out_channels, Generator* generator = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  std::shared_ptr<nn::Conv2d> conv;
};

// (D) and (E). The tutorial's channels are channels, 2 channels, 4 channels (16/32/64).
struct MnistUNetConfig {
  int64_t image_channels = 1;    // 1 for MNIST / Fashion-MNIST
  int64_t num_timesteps = 1000;  // T: rows of the positional-encoding table
  int64_t embed_dim = 64;        // the encoding's width and the time MLP's (even)
  int64_t channels = 16;         // the top level's; 2x and 4x below
  int64_t groups = 16;           // GroupNorm groups; must divide `channels`
};

class NormUNet : public NoisePredictor {  // (D)
 public:
  explicit NormUNet(const MnistUNetConfig& config = {}, Generator* generator = nullptr);
  // x_t [B, image_channels, H, W] with H, W divisible by 4, t [B] or [B, 1] timesteps (whole
  // numbers in [0, num_timesteps), as float32)  ->  ε̂ shaped like x_t.
  using NoisePredictor::forward;
  Tensor forward(const Tensor& x_t, const Tensor& t) override;
  std::string describe() const override;

  const MnistUNetConfig config;
  std::shared_ptr<nn::Sequential> embed;  // PositionalEncoding, Linear, ReLU, Linear, ReLU
  std::shared_ptr<nn::Conv2d> conv_in;
  std::shared_ptr<NormConvBlock> enc1, enc2, bottleneck, dec2, dec1;
  std::shared_ptr<nn::ConvTranspose2d> upconv2, upconv1;
  std::shared_ptr<nn::GroupNorm> norm_out;
  std::shared_ptr<nn::Conv2d> conv_out;
};

class ResUNet : public NoisePredictor {  // (E)
 public:
  explicit ResUNet(const MnistUNetConfig& config = {}, Generator* generator = nullptr);
  // As NormUNet::forward.
  using NoisePredictor::forward;
  Tensor forward(const Tensor& x_t, const Tensor& t) override;
  std::string describe() const override;

  const MnistUNetConfig config;
  std::shared_ptr<nn::Sequential> embed;  // as NormUNet's
  std::shared_ptr<nn::Conv2d> conv_in;
  std::shared_ptr<ResnetBlock> enc1_1, enc1_2, enc2_1, enc2_2, bottleneck_1, bottleneck_2;
  std::shared_ptr<ResnetBlock> dec2_1, dec2_2, dec1_1, dec1_2;
  std::shared_ptr<DownsampleConv> downconv1, downconv2;
  std::shared_ptr<UpsampleConv> upconv2, upconv1;
  std::shared_ptr<nn::GroupNorm> norm_out;
  std::shared_ptr<nn::Conv2d> conv_out;
};

// The models by the tutorial's letters, in its order: {"A", "C", "D", "E"}.
const std::vector<std::string>& mnist_unet_names();

// The model `name` for 1 x 28 x 28 pictures and T = 1000 (the tutorial's, with the default
// config), weights drawn from `generator` (null = the global one). `config` sizes it:
// channels for all four, groups for D and E only ((A) and (C) have no GroupNorm: another
// value is an Error). An unknown name is an Error listing the valid ones.
std::unique_ptr<NoisePredictor> make_mnist_unet(const std::string& name,
                                                Generator* generator = nullptr,
                                                const MnistUNetConfig& config = {});

}  // namespace diffusion
}  // namespace drift
