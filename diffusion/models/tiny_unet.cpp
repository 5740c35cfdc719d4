// tiny_unet.cpp — the small U-Net of chapter 3 (c) (see tiny_unet.h).
#include "diffusion/models/tiny_unet.h"

#include <sstream>

#include "autograd/ops.h"
#include "nn/functional.h"
#include "tensor/error.h"

namespace drift {
namespace diffusion {

// ---- TimeConvBlock -----------------------------------------------------------------------------

TimeConvBlock::TimeConvBlock(int64_t in_channels_, int64_t out_channels_, int64_t time_dim,
                             Generator* generator)
    : in_channels(in_channels_), out_channels(out_channels_) {
  conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(in_channels, out_channels, 3, 1, 1,
                                                                1, true, generator));
  time_projection = register_module(
      "time_projection", std::make_shared<nn::Linear>(time_dim, out_channels, true, generator));
  conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(out_channels, out_channels, 3, 1, 1,
                                                                1, true, generator));
}

Tensor TimeConvBlock::forward(const Tensor& x, const Tensor& time_embedding) {
  const int64_t batch = x.size(0);
  // The step's embedding as one offset per channel, the same at every pixel, added before the
  // first ReLU (the tutorial's ConvBlock: relu(conv1(x) + proj(e))).
  Tensor e = reshape(time_projection->forward(time_embedding), {batch, out_channels, 1, 1});
  Tensor h = relu(conv1->forward(x) + e);
  return relu(conv2->forward(h));
}

std::string TimeConvBlock::describe() const {
  std::ostringstream os;
  os << "TimeConvBlock(" << in_channels << " -> " << out_channels << ")";
  return os.str();
}

// ---- TinyUNet ---------------------------------------------------------------------------------

TinyUNet::TinyUNet(const TinyUNetConfig& config_, Generator* generator) : config(config_) {
  const std::vector<int64_t>& ch = config.channels;
  const size_t levels = ch.size();
  DRIFT_CHECK(levels >= 2, "TinyUNet: needs at least 2 levels of channels, got " << levels);
  for (int64_t c : ch) DRIFT_CHECK(c >= 1, "TinyUNet: channel counts must be >= 1, got " << c);
  DRIFT_CHECK(config.image_channels >= 1 && config.num_timesteps >= 1 && config.time_dim >= 1,
              "TinyUNet: image_channels, num_timesteps and time_dim must be >= 1");

  if (config.positional_encoding)
    time_encoding = register_module("time_encoding", std::make_shared<nn::PositionalEncoding>(
                                                         config.time_dim, config.num_timesteps));
  else
    time_embedding = register_module(
        "time_embedding",
        std::make_shared<nn::Embedding>(config.num_timesteps, config.time_dim, generator));
  // The lists hold the blocks under PyTorch ModuleList-style names: down.0.conv1.weight, ...
  // (a Sequential used only as a named container; its forward is never called).
  auto down_list = register_module("down", std::make_shared<nn::Sequential>());
  // Down: the picture's channels -> ch[0] -> ... -> ch[L-2]; each output is kept for a skip.
  int64_t in = config.image_channels;
  for (size_t l = 0; l + 1 < levels; ++l) {
    down.push_back(down_list->push_back(
        std::make_shared<TimeConvBlock>(in, ch[l], config.time_dim, generator)));
    in = ch[l];
  }
  middle = register_module(
      "middle", std::make_shared<TimeConvBlock>(in, ch[levels - 1], config.time_dim, generator));
  // Up, level l from l+1: ConvTranspose(ch[l+1] -> ch[l], kernel 2, stride 2) doubles the size;
  // the block then takes [upsampled, skip] = 2 ch[l] channels back to ch[l].
  // Numbered top to bottom like `down`: upsample.0 and up.0 work at full size.
  auto upsample_list = register_module("upsample", std::make_shared<nn::Sequential>());
  auto up_list = register_module("up", std::make_shared<nn::Sequential>());
  for (size_t l = 0; l + 1 < levels; ++l) {
    upsample.push_back(upsample_list->push_back(
        std::make_shared<nn::ConvTranspose2d>(ch[l + 1], ch[l], 2, 2, 0, 0, true, generator)));
    up.push_back(up_list->push_back(
        std::make_shared<TimeConvBlock>(2 * ch[l], ch[l], config.time_dim, generator)));
  }
  output = register_module("output", std::make_shared<nn::Conv2d>(ch[0], config.image_channels, 1,
                                                                  1, 0, 1, true, generator));
}

int64_t TinyUNet::size_multiple() const {
  return int64_t{1} << (config.channels.size() - 1);
}

Tensor TinyUNet::forward(const Tensor& x_t, const Tensor& t) {
  const int64_t multiple = size_multiple();
  DRIFT_CHECK(x_t.defined() && x_t.ndim() == 4 && x_t.size(1) == config.image_channels,
              "TinyUNet: expected x_t shaped [B, "
                  << config.image_channels << ", H, W], got "
                  << (x_t.defined() ? drift::describe(x_t) : "undefined"));
  DRIFT_CHECK(x_t.size(2) % multiple == 0 && x_t.size(3) % multiple == 0,
              "TinyUNet: the picture's height and width must be divisible by "
                  << multiple << " (" << config.channels.size() - 1 << " halvings), got "
                  << x_t.size(2) << "x" << x_t.size(3));
  DRIFT_CHECK(t.defined() && t.numel() == x_t.size(0) && (t.ndim() == 1 || t.ndim() == 2),
              "TinyUNet: expected " << x_t.size(0) << " timesteps shaped [B] or [B, 1], got "
                                    << (t.defined() ? drift::describe(t) : "undefined"));
  // One vector per timestep, learned or fixed (the lookup checks every t is in [0, T)).
  const Tensor steps = reshape(t, {x_t.size(0)});
  Tensor e = time_encoding ? time_encoding->forward(steps)
                           : time_embedding->forward(steps);  // [B, time_dim]

  std::vector<Tensor> skips;
  Tensor h = x_t;
  for (const auto& block : down) {
    h = block->forward(h, e);
    skips.push_back(h);           // the fine detail of this level, for the way up
    h = nn::F::max_pool2d(h, 2);  // half the size
  }
  h = middle->forward(h, e);
  for (size_t l = up.size(); l-- > 0;) {
    h = upsample[l]->forward(h);  // double the size
    h = cat({skips[l], h}, 1);    // skip connection: [same level going down, upsampled]
    h = up[l]->forward(h, e);
  }
  return output->forward(h);  // ε̂ [B, image_channels, H, W]
}

std::string TinyUNet::describe() const {
  std::ostringstream os;
  os << "TinyUNet(image_channels=" << config.image_channels << ", T=" << config.num_timesteps
     << ", time_dim=" << config.time_dim
     << (config.positional_encoding ? ", positional encoding" : "") << ", channels=";
  for (size_t l = 0; l < config.channels.size(); ++l) os << (l ? "/" : "") << config.channels[l];
  os << ")";
  return os.str();
}

}  // namespace diffusion
}  // namespace drift
