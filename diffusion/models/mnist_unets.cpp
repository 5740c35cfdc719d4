// mnist_unets.cpp — the chapter-4 U-Nets (A), (C), (D), (E) (see mnist_unets.h).
#include "diffusion/models/mnist_unets.h"

#include <functional>
#include <sstream>

#include "autograd/ops.h"
#include "diffusion/models/tiny_unet.h"
#include "nn/functional.h"
#include "tensor/error.h"

namespace drift {
namespace diffusion {

namespace {

std::shared_ptr<nn::Conv2d> conv3x3(int64_t in, int64_t out, int64_t stride, Generator* g) {
  return std::make_shared<nn::Conv2d>(in, out, 3, stride, 1, 1, true, g);
}

// The time MLP of (D) and (E): e = ReLU(Linear(ReLU(Linear(PE(t))))), names embed.0.pe,
// embed.1.weight, embed.3.weight, ... as the tutorial's nn.Sequential.
std::shared_ptr<nn::Sequential> time_mlp(const MnistUNetConfig& c, Generator* g) {
  return std::make_shared<nn::Sequential>(
      std::make_shared<nn::PositionalEncoding>(c.embed_dim, c.num_timesteps),
      std::make_shared<nn::Linear>(c.embed_dim, c.embed_dim, true, g), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(c.embed_dim, c.embed_dim, true, g),
      std::make_shared<nn::ReLU>());
}

void check_config(const char* model, const MnistUNetConfig& c) {
  DRIFT_CHECK(c.image_channels >= 1 && c.num_timesteps >= 1 && c.embed_dim >= 2 &&
                  c.embed_dim % 2 == 0 && c.channels >= 1 && c.groups >= 1 &&
                  c.channels % c.groups == 0,
              model << ": needs image_channels, num_timesteps >= 1, an even embed_dim and "
                       "groups dividing channels; got image_channels "
                    << c.image_channels << ", num_timesteps " << c.num_timesteps << ", embed_dim "
                    << c.embed_dim << ", channels " << c.channels << ", groups " << c.groups);
}

void check_inputs(const char* model, const MnistUNetConfig& c, const Tensor& x_t, const Tensor& t) {
  DRIFT_CHECK(x_t.defined() && x_t.ndim() == 4 && x_t.size(1) == c.image_channels &&
                  x_t.size(2) % 4 == 0 && x_t.size(3) % 4 == 0,
              model << ": expected x_t [B, " << c.image_channels
                    << ", H, W] with H and W divisible by 4 (two halvings), got "
                    << (x_t.defined() ? drift::describe(x_t) : "undefined"));
  DRIFT_CHECK(t.defined() && t.numel() == x_t.size(0) && (t.ndim() == 1 || t.ndim() == 2),
              model << ": expected " << x_t.size(0) << " timesteps shaped [B] or [B, 1], got "
                    << (t.defined() ? drift::describe(t) : "undefined"));
}

std::string describe_config(const char* model, const MnistUNetConfig& c) {
  std::ostringstream os;
  os << model << "(image_channels=" << c.image_channels << ", T=" << c.num_timesteps
     << ", embed_dim=" << c.embed_dim << ", channels=" << c.channels << "/" << 2 * c.channels << "/"
     << 4 * c.channels << ", groups=" << c.groups << ")";
  return os.str();
}

// GroupNorm, then ReLU: the pair before every 3x3 convolution of (D) and (E).
Tensor norm_relu(nn::GroupNorm& norm, const Tensor& x) {
  return relu(norm.forward(x));
}

}  // namespace

// ---- blocks ----------------------------------------------------------------------------------

NormConvBlock::NormConvBlock(int64_t in_channels_, int64_t out_channels_, int64_t embed_dim,
                             int64_t groups, Generator* generator)
    : in_channels(in_channels_), out_channels(out_channels_) {
  DRIFT_CHECK(groups >= 1 && in_channels % groups == 0 && out_channels % groups == 0,
              "NormConvBlock: GroupNorm's " << groups << " groups must divide the channels "
                                            << in_channels << " -> " << out_channels);
  norm1 = register_module("norm1", std::make_shared<nn::GroupNorm>(groups, in_channels));
  conv1 = register_module("conv1", conv3x3(in_channels, out_channels, 1, generator));
  proj = register_module("proj",
                         std::make_shared<nn::Linear>(embed_dim, out_channels, true, generator));
  norm2 = register_module("norm2", std::make_shared<nn::GroupNorm>(groups, out_channels));
  conv2 = register_module("conv2", conv3x3(out_channels, out_channels, 1, generator));
}

Tensor NormConvBlock::forward(const Tensor& x, const Tensor& embedding) {
  Tensor h = conv1->forward(norm_relu(*norm1, x));  // conv1(relu(norm1(x)))
  // The step's embedding as one offset per channel, the same at every pixel (after conv1,
  // before norm2: the tutorial's x = x + emb_proj).
  h = h + reshape(proj->forward(embedding), {x.size(0), out_channels, 1, 1});
  return conv2->forward(norm_relu(*norm2, h));  // conv2(relu(norm2(h)))
}

std::string NormConvBlock::describe() const {
  std::ostringstream os;
  os << "NormConvBlock(" << in_channels << " -> " << out_channels << ")";
  return os.str();
}

ResnetBlock::ResnetBlock(int64_t in_channels_, int64_t out_channels_, int64_t embed_dim,
                         int64_t groups, Generator* generator)
    : NormConvBlock(in_channels_, out_channels_, embed_dim, groups, generator) {
  if (in_channels != out_channels)
    shortcut = register_module(
        "shortcut",
        std::make_shared<nn::Conv2d>(in_channels, out_channels, 1, 1, 0, 1, true, generator));
}

Tensor ResnetBlock::forward(const Tensor& x, const Tensor& embedding) {
  // out = F(x, e) + x, the input brought to out_channels by a 1x1 conv when it has another count
  return NormConvBlock::forward(x, embedding) + (shortcut ? shortcut->forward(x) : x);
}

std::string ResnetBlock::describe() const {
  std::ostringstream os;
  os << "ResnetBlock(" << in_channels << " -> " << out_channels << ")";
  return os.str();
}

DownsampleConv::DownsampleConv(int64_t in_channels, int64_t out_channels, Generator* generator) {
  conv = register_module("conv", conv3x3(in_channels, out_channels, 2, generator));
}
Tensor DownsampleConv::forward(const Tensor& x) {
  return conv->forward(x);  // stride 2: [B, C, H, W] -> [B, C', H/2, W/2]
}
std::string DownsampleConv::describe() const {
  return "DownsampleConv(" + std::to_string(conv->in_channels) + " -> " +
         std::to_string(conv->out_channels) + ", stride 2)";
}

UpsampleConv::UpsampleConv(int64_t in_channels, int64_t out_channels, Generator* generator) {
  conv = register_module("conv", conv3x3(in_channels, out_channels, 1, generator));
}
Tensor UpsampleConv::forward(const Tensor& x) {
  return conv->forward(nn::F::upsample_nearest2d(x, 2));  // each pixel copied to a 2x2 cell
}
std::string UpsampleConv::describe() const {
  return "UpsampleConv(nearest x2, " + std::to_string(conv->in_channels) + " -> " +
         std::to_string(conv->out_channels) + ")";
}

// ---- (D) NormUNet ----------------------------------------------------------------------------

NormUNet::NormUNet(const MnistUNetConfig& config_, Generator* g) : config(config_) {
  check_config("NormUNet", config);
  const int64_t c = config.channels, d = config.embed_dim, groups = config.groups;
  embed = register_module("embed", time_mlp(config, g));
  conv_in = register_module("conv_in", conv3x3(config.image_channels, c, 1, g));
  enc1 = register_module("enc1", std::make_shared<NormConvBlock>(c, c, d, groups, g));
  enc2 = register_module("enc2", std::make_shared<NormConvBlock>(c, 2 * c, d, groups, g));
  bottleneck =
      register_module("bottleneck", std::make_shared<NormConvBlock>(2 * c, 4 * c, d, groups, g));
  upconv2 = register_module(
      "upconv2", std::make_shared<nn::ConvTranspose2d>(4 * c, 2 * c, 2, 2, 0, 0, true, g));
  dec2 = register_module("dec2", std::make_shared<NormConvBlock>(4 * c, 2 * c, d, groups, g));
  upconv1 = register_module("upconv1",
                            std::make_shared<nn::ConvTranspose2d>(2 * c, c, 2, 2, 0, 0, true, g));
  dec1 = register_module("dec1", std::make_shared<NormConvBlock>(2 * c, c, d, groups, g));
  norm_out = register_module("norm_out", std::make_shared<nn::GroupNorm>(groups, c));
  conv_out = register_module("conv_out", conv3x3(c, config.image_channels, 1, g));
}

Tensor NormUNet::forward(const Tensor& x_t, const Tensor& t) {
  check_inputs("NormUNet", config, x_t, t);
  const Tensor e = embed->forward(reshape(t, {x_t.size(0)}));  // [B, embed_dim]
  const Tensor x = conv_in->forward(x_t);
  const Tensor s1 = enc1->forward(x, e);                         // c  @ H
  const Tensor s2 = enc2->forward(nn::F::max_pool2d(s1, 2), e);  // 2c @ H/2
  Tensor h = bottleneck->forward(nn::F::max_pool2d(s2, 2), e);   // 4c @ H/4
  h = dec2->forward(cat({s2, upconv2->forward(h)}, 1), e);       // [skip, up] -> 2c
  h = dec1->forward(cat({s1, upconv1->forward(h)}, 1), e);       // [skip, up] -> c
  return conv_out->forward(norm_relu(*norm_out, h));             // ε̂
}

std::string NormUNet::describe() const {
  return describe_config("NormUNet", config);
}

// ---- (E) ResUNet -----------------------------------------------------------------------------

ResUNet::ResUNet(const MnistUNetConfig& config_, Generator* g) : config(config_) {
  check_config("ResUNet", config);
  const int64_t c = config.channels, d = config.embed_dim, groups = config.groups;
  auto res = [&](const char* name, int64_t in, int64_t out) {
    return register_module(name, std::make_shared<ResnetBlock>(in, out, d, groups, g));
  };
  // Registered in the tutorial's order, so named_parameters() lists what its state_dict does.
  embed = register_module("embed", time_mlp(config, g));
  conv_in = register_module("conv_in", conv3x3(config.image_channels, c, 1, g));
  enc1_1 = res("enc1_1", c, c);
  enc1_2 = res("enc1_2", c, 2 * c);
  downconv1 = register_module("downconv1", std::make_shared<DownsampleConv>(2 * c, 2 * c, g));
  enc2_1 = res("enc2_1", 2 * c, 2 * c);
  enc2_2 = res("enc2_2", 2 * c, 4 * c);
  downconv2 = register_module("downconv2", std::make_shared<DownsampleConv>(4 * c, 4 * c, g));
  bottleneck_1 = res("bottleneck_1", 4 * c, 4 * c);
  bottleneck_2 = res("bottleneck_2", 4 * c, 4 * c);
  upconv2 = register_module("upconv2", std::make_shared<UpsampleConv>(4 * c, 4 * c, g));
  dec2_1 = res("dec2_1", 8 * c, 4 * c);
  dec2_2 = res("dec2_2", 4 * c, 2 * c);
  upconv1 = register_module("upconv1", std::make_shared<UpsampleConv>(2 * c, 2 * c, g));
  dec1_1 = res("dec1_1", 4 * c, 2 * c);
  dec1_2 = res("dec1_2", 2 * c, c);
  norm_out = register_module("norm_out", std::make_shared<nn::GroupNorm>(groups, c));
  conv_out = register_module("conv_out", conv3x3(c, config.image_channels, 1, g));
}

Tensor ResUNet::forward(const Tensor& x_t, const Tensor& t) {
  check_inputs("ResUNet", config, x_t, t);
  const Tensor e = embed->forward(reshape(t, {x_t.size(0)}));  // [B, embed_dim]
  Tensor x = conv_in->forward(x_t);
  x = enc1_1->forward(x, e);
  const Tensor enc1 = enc1_2->forward(x, e);  // 2c @ H
  x = enc2_1->forward(downconv1->forward(enc1), e);
  const Tensor enc2 = enc2_2->forward(x, e);               // 4c @ H/2
  x = bottleneck_1->forward(downconv2->forward(enc2), e);  // 4c @ H/4
  x = bottleneck_2->forward(x, e);
  x = cat({upconv2->forward(x), enc2}, 1);            // [up, skip]: 8c @ H/2
  x = dec2_2->forward(dec2_1->forward(x, e), e);      // 2c
  x = cat({upconv1->forward(x), enc1}, 1);            // [up, skip]: 4c @ H
  x = dec1_2->forward(dec1_1->forward(x, e), e);      // c
  return conv_out->forward(norm_relu(*norm_out, x));  // ε̂
}

std::string ResUNet::describe() const {
  return describe_config("ResUNet", config);
}

// ---- by name ---------------------------------------------------------------------------------

namespace {

struct NamedModel {
  std::string name;
  std::function<std::unique_ptr<NoisePredictor>(const MnistUNetConfig&, Generator*)> make;
};

// (A) and (C) are chapter 3's TinyUNet: channels c/2c/4c, and no GroupNorm to configure.
TinyUNetConfig tiny_config(const MnistUNetConfig& c, bool positional_encoding) {
  DRIFT_CHECK(c.groups == MnistUNetConfig().groups,
              "make_mnist_unet: (A) and (C) have no GroupNorm; groups " << c.groups
                                                                        << " applies to D and E");
  TinyUNetConfig config;  // time_dim 16: an Embedding(1000, 16) or the fixed 16-wide table
  config.image_channels = c.image_channels;
  config.num_timesteps = c.num_timesteps;
  config.channels = {c.channels, 2 * c.channels, 4 * c.channels};
  config.positional_encoding = positional_encoding;
  return config;
}

// The one list of the models: make_mnist_unet and mnist_unet_names both read it.
const std::vector<NamedModel>& mnist_unet_table() {
  using Made = std::unique_ptr<NoisePredictor>;
  static const std::vector<NamedModel> table = {
      {"A",
       [](const MnistUNetConfig& c, Generator* g) {
         return Made(new TinyUNet(tiny_config(c, false), g));  // a learned Embedding(1000, 16)
       }},
      {"C",
       [](const MnistUNetConfig& c, Generator* g) {
         return Made(new TinyUNet(tiny_config(c, true), g));  // the fixed sin/cos table
       }},
      {"D", [](const MnistUNetConfig& c, Generator* g) { return Made(new NormUNet(c, g)); }},
      {"E", [](const MnistUNetConfig& c, Generator* g) { return Made(new ResUNet(c, g)); }},
  };
  return table;
}

}  // namespace

const std::vector<std::string>& mnist_unet_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const NamedModel& m : mnist_unet_table()) out.push_back(m.name);
    return out;
  }();
  return names;
}

std::unique_ptr<NoisePredictor> make_mnist_unet(const std::string& name, Generator* generator,
                                                const MnistUNetConfig& config) {
  for (const NamedModel& m : mnist_unet_table())
    if (m.name == name) return m.make(config, generator);
  std::ostringstream valid;
  for (const std::string& n : mnist_unet_names()) valid << (valid.tellp() > 0 ? ", " : "") << n;
  DRIFT_FAIL("make_mnist_unet: no model \"" << name << "\"; the chapter-4 U-Nets are "
                                            << valid.str());
}

}  // namespace diffusion
}  // namespace drift
