// ddpm_unet.cpp — the DDPM-style U-Net (see ddpm_unet.h for the architecture and its equations).
#include "diffusion/models/ddpm_unet.h"

#include <sstream>

#include "autograd/ops.h"
#include "nn/functional.h"
#include "tensor/error.h"

namespace drift {
namespace diffusion {

namespace F = nn::F;

// ---- DDPMResBlock -------------------------------------------------------------------------------

DDPMResBlock::DDPMResBlock(int64_t in_channels_, int64_t out_channels_, int64_t time_embedding_dim,
                           int64_t groups, Generator* generator)
    : in_channels(in_channels_), out_channels(out_channels_) {
  DRIFT_CHECK(in_channels % groups == 0 && out_channels % groups == 0,
              "DDPMResBlock: groups " << groups << " must divide the channels " << in_channels
                                      << " -> " << out_channels);
  // Registered in the order of the PyTorch module (bench/torch_reference.py).
  norm1 = register_module("norm1", std::make_shared<nn::GroupNorm>(groups, in_channels));
  conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(in_channels, out_channels, 3, 1,
                                                                1, 1, true, generator));
  time_proj = register_module(
      "time_proj", std::make_shared<nn::Linear>(time_embedding_dim, out_channels, true, generator));
  norm2 = register_module("norm2", std::make_shared<nn::GroupNorm>(groups, out_channels));
  conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(out_channels, out_channels, 3, 1,
                                                                1, 1, true, generator));
  if (in_channels != out_channels)
    shortcut = register_module(
        "shortcut",
        std::make_shared<nn::Conv2d>(in_channels, out_channels, 1, 1, 0, 1, true, generator));
}

// silu(norm(x)) runs as the fused F::group_norm_silu (same values; less memory and time).
Tensor DDPMResBlock::forward(const Tensor& x, const Tensor& time) {
  const int64_t batch = x.size(0);
  auto norm_silu = [](const nn::GroupNorm& norm, const Tensor& input) {
    return F::group_norm_silu(input, norm.num_groups, norm.weight, norm.bias, norm.eps);
  };
  Tensor h = conv1->forward(norm_silu(*norm1, x));
  // The time embedding: one learned offset per channel, the same at every pixel.
  h = h + reshape(time_proj->forward(time), {batch, out_channels, 1, 1});
  h = conv2->forward(norm_silu(*norm2, h));
  return h + (shortcut ? shortcut->forward(x) : x);
}

std::string DDPMResBlock::describe() const {
  std::ostringstream os;
  os << "DDPMResBlock(" << in_channels << ", " << out_channels << ")";
  return os.str();
}

// ---- levels -------------------------------------------------------------------------------------

DownLevel::DownLevel(int64_t in_channels, int64_t channels, const DDPMUNetConfig& config,
                     bool with_downsample, Generator* generator) {
  blocks = register_module("blocks", std::make_shared<ModuleList<DDPMResBlock>>());
  for (int64_t b = 0; b < config.blocks_per_level; ++b)
    blocks->push_back(std::make_shared<DDPMResBlock>(b == 0 ? in_channels : channels, channels,
                                                     config.time_embedding_dim, config.groups,
                                                     generator));
  if (with_downsample)
    downsample = register_module(
        "downsample",
        std::make_shared<nn::Conv2d>(channels, channels, 3, 2, 1, 1, true, generator));
}

UpLevel::UpLevel(int64_t in_channels, const std::vector<int64_t>& skip_channels, int64_t channels,
                 int64_t next_channels, const DDPMUNetConfig& config, Generator* generator) {
  blocks = register_module("blocks", std::make_shared<ModuleList<DDPMResBlock>>());
  int64_t running = in_channels;
  for (int64_t skip : skip_channels) {
    blocks->push_back(std::make_shared<DDPMResBlock>(
        running + skip, channels, config.time_embedding_dim, config.groups, generator));
    running = channels;
  }
  if (next_channels > 0)
    upsample_conv = register_module(
        "upsample_conv",
        std::make_shared<nn::Conv2d>(channels, next_channels, 3, 1, 1, 1, true, generator));
}

// ---- DDPMUNet -----------------------------------------------------------------------------------

DDPMUNet::DDPMUNet(const DDPMUNetConfig& config_, Generator* generator) : config(config_) {
  const std::vector<int64_t>& ch = config.channels;
  const int64_t levels = static_cast<int64_t>(ch.size());
  DRIFT_CHECK(levels >= 1 && config.blocks_per_level >= 1 && config.image_channels >= 1 &&
                  config.time_embedding_dim >= 1 && config.groups >= 1,
              "DDPMUNet: need at least one level, one block per level, positive image channels, "
              "time embedding width and groups");
  for (int64_t c : ch)
    DRIFT_CHECK(c >= 1 && c % config.groups == 0,
                "DDPMUNet: every channel count must be a positive multiple of groups ("
                    << config.groups << "), got " << c);

  time_encoding = register_module(
      "time_encoding", std::make_shared<nn::SinusoidalEmbedding>(config.time_encoding_dim));
  time_mlp = register_module(
      "time_mlp",
      std::make_shared<nn::Sequential>(
          std::make_shared<nn::Linear>(config.time_encoding_dim, config.time_embedding_dim, true,
                                       generator),
          std::make_shared<nn::SiLU>(),
          std::make_shared<nn::Linear>(config.time_embedding_dim, config.time_embedding_dim,
                                       true, generator)));
  conv_in = register_module("conv_in", std::make_shared<nn::Conv2d>(config.image_channels, ch[0],
                                                                    3, 1, 1, 1, true, generator));
  // Down path; remember the channels of every skip (each block's output), in order.
  down = register_module("down", std::make_shared<ModuleList<DownLevel>>());
  std::vector<int64_t> skips;
  int64_t running = ch[0];
  for (int64_t level = 0; level < levels; ++level) {
    down->push_back(std::make_shared<DownLevel>(running, ch[level], config, level + 1 < levels,
                                                generator));
    for (int64_t b = 0; b < config.blocks_per_level; ++b) skips.push_back(ch[level]);
    running = ch[level];
  }
  // Up path, deepest level first; each block takes the most recent skip.
  up = register_module("up", std::make_shared<ModuleList<UpLevel>>());
  for (int64_t level = levels - 1; level >= 0; --level) {
    std::vector<int64_t> level_skips;
    for (int64_t b = 0; b < config.blocks_per_level; ++b) {
      level_skips.push_back(skips.back());
      skips.pop_back();
    }
    const int64_t next = level > 0 ? ch[level - 1] : 0;
    up->push_back(std::make_shared<UpLevel>(running, level_skips, ch[level], next, config,
                                            generator));
    running = level > 0 ? next : ch[level];
  }
  norm_out = register_module("norm_out", std::make_shared<nn::GroupNorm>(config.groups, ch[0]));
  conv_out = register_module("conv_out", std::make_shared<nn::Conv2d>(ch[0], config.image_channels,
                                                                      3, 1, 1, 1, true, generator));
}

Tensor DDPMUNet::forward(const Tensor& x_t, const Tensor& t) {
  const int64_t levels = static_cast<int64_t>(config.channels.size());
  const int64_t factor = int64_t(1) << (levels - 1);
  DRIFT_CHECK(x_t.defined() && x_t.ndim() == 4 && x_t.size(1) == config.image_channels &&
                  x_t.size(2) % factor == 0 && x_t.size(3) % factor == 0,
              "DDPMUNet: expected x_t [B, "
                  << config.image_channels << ", H, W] with H and W "
                  << "divisible by " << factor << ", got "
                  << (x_t.defined() ? drift::describe(x_t) : "undefined"));
  const int64_t batch = x_t.size(0);
  DRIFT_CHECK(t.defined() && t.numel() == batch && (t.ndim() == 1 || t.ndim() == 2),
              "DDPMUNet: expected " << batch << " timesteps shaped [B] or [B, 1], got "
                                    << (t.defined() ? drift::describe(t) : "undefined"));
  // The time embedding, shared by every block (activated once here, as DDPM's blocks do).
  const Tensor time = silu(time_mlp->forward(time_encoding->forward(reshape(t, {batch}))));

  Tensor h = conv_in->forward(x_t);
  std::vector<Tensor> skips;
  for (size_t level = 0; level < down->size(); ++level) {
    const DownLevel& d = *(*down)[level];
    for (size_t b = 0; b < d.blocks->size(); ++b) {
      h = (*d.blocks)[b]->forward(h, time);
      skips.push_back(h);
    }
    if (d.downsample) h = d.downsample->forward(h);
  }
  for (size_t level = 0; level < up->size(); ++level) {
    const UpLevel& u = *(*up)[level];
    for (size_t b = 0; b < u.blocks->size(); ++b) {
      h = (*u.blocks)[b]->forward(cat({h, skips.back()}, 1), time);
      skips.pop_back();
    }
    if (u.upsample_conv) h = u.upsample_conv->forward(F::upsample_nearest2d(h, 2));
  }
  return conv_out->forward(F::group_norm_silu(h, norm_out->num_groups, norm_out->weight,
                                              norm_out->bias, norm_out->eps));
}

std::string DDPMUNet::describe() const {
  std::ostringstream os;
  os << "DDPMUNet(image_channels=" << config.image_channels << ", channels=[";
  for (size_t i = 0; i < config.channels.size(); ++i)
    os << (i ? ", " : "") << config.channels[i];
  os << "], blocks_per_level=" << config.blocks_per_level
     << ", time_embedding_dim=" << config.time_embedding_dim << ", groups=" << config.groups
     << ")";
  return os.str();
}

}  // namespace diffusion
}  // namespace drift
