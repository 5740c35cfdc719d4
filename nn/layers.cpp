// layers.cpp — constructors (shape checks, PyTorch's default initialisation), forward passes
// (calls into nn/functional.h) and PyTorch-like descriptions of the layers in layers.h.
#include "nn/layers.h"

#include <cmath>
#include <sstream>

#include "nn/init.h"
#include "tensor/error.h"

namespace drift {
namespace nn {

namespace {

// A (h, w) pair as PyTorch prints it: "3" when both are equal, else "(3, 1)".
std::string str(Size2 s) {
  std::ostringstream os;
  if (s.h == s.w) os << s.h;
  else os << "(" << s.h << ", " << s.w << ")";
  return os.str();
}

// Floats as Python prints them for these arguments: 1e-05, 0.1, 0.5.
std::string str(float value) {
  std::ostringstream os;
  os << value;
  return os.str();
}

// Runs a layer's computation; an Error raised inside gets the layer's description in front,
// so the message says which layer of a model failed.
template <class Compute>
Tensor in_layer(const Module& layer, Compute&& compute) {
  try {
    return compute();
  } catch (const Error& e) {
    throw Error(layer.describe() + ": " + e.what());
  }
}

// PyTorch's default for Linear and convolutions (reset_parameters): weight by
// kaiming_uniform_(a = sqrt(5)), i.e. U(+-1/sqrt(fan_in)), and bias U(+-1/sqrt(fan_in)).
void init_weight_and_bias(Tensor& weight, Tensor& bias, Generator* generator) {
  init::kaiming_uniform_(weight, std::sqrt(5.0f), generator);
  if (bias.defined()) {
    const float bound = 1.0f / std::sqrt(static_cast<float>(init::fan_in(weight)));
    init::uniform_(bias, -bound, bound, generator);
  }
}

void check_window(const char* layer, Size2 kernel, Size2 stride, Size2 padding) {
  DRIFT_CHECK(kernel.h >= 1 && kernel.w >= 1 && stride.h >= 1 && stride.w >= 1 &&
                  padding.h >= 0 && padding.w >= 0,
              layer << ": kernel_size " << str(kernel) << " and stride " << str(stride)
                    << " must be positive and padding " << str(padding) << " not negative");
}

}  // namespace

// ---- Linear ----------------------------------------------------------------------------------

Linear::Linear(int64_t in, int64_t out, bool with_bias, Generator* generator)
    : in_features(in), out_features(out) {
  DRIFT_CHECK(in >= 1 && out >= 1,
              "Linear: in_features " << in << " and out_features " << out << " must be positive");
  weight = register_parameter("weight", Tensor::empty({out, in}));
  if (with_bias) bias = register_parameter("bias", Tensor::empty({out}));
  init_weight_and_bias(weight, bias, generator);
}

Tensor Linear::forward(const Tensor& x) {
  return in_layer(*this, [&] { return F::linear(x, weight, bias); });
}

std::string Linear::describe() const {
  std::ostringstream os;
  os << "Linear(in_features=" << in_features << ", out_features=" << out_features
     << ", bias=" << (bias.defined() ? "True" : "False") << ")";
  return os.str();
}

// ---- Conv2d ----------------------------------------------------------------------------------

Conv2d::Conv2d(int64_t in, int64_t out, Size2 kernel, Size2 stride_, Size2 padding_,
               int64_t groups_, bool with_bias, Generator* generator)
    : in_channels(in), out_channels(out), kernel_size(kernel), stride(stride_),
      padding(padding_), groups(groups_) {
  DRIFT_CHECK(in >= 1 && out >= 1, "Conv2d: in_channels " << in << " and out_channels " << out
                                                          << " must be positive");
  DRIFT_CHECK(groups >= 1 && in % groups == 0 && out % groups == 0,
              "Conv2d: in_channels " << in << " and out_channels " << out
                                     << " must both be divisible by groups " << groups);
  check_window("Conv2d", kernel, stride, padding);
  weight = register_parameter("weight", Tensor::empty({out, in / groups, kernel.h, kernel.w}));
  if (with_bias) bias = register_parameter("bias", Tensor::empty({out}));
  init_weight_and_bias(weight, bias, generator);
}

Tensor Conv2d::forward(const Tensor& x) {
  return in_layer(*this, [&] { return F::conv2d(x, weight, bias, stride, padding, groups); });
}

std::string Conv2d::describe() const {
  std::ostringstream os;
  os << "Conv2d(" << in_channels << ", " << out_channels << ", kernel_size=" << str(kernel_size)
     << ", stride=" << str(stride);
  if (padding != Size2(0)) os << ", padding=" << str(padding);
  if (groups != 1) os << ", groups=" << groups;
  if (!bias.defined()) os << ", bias=False";
  os << ")";
  return os.str();
}

// ---- ConvTranspose2d -------------------------------------------------------------------------

ConvTranspose2d::ConvTranspose2d(int64_t in, int64_t out, Size2 kernel, Size2 stride_,
                                 Size2 padding_, Size2 output_padding_, bool with_bias,
                                 Generator* generator)
    : in_channels(in), out_channels(out), kernel_size(kernel), stride(stride_),
      padding(padding_), output_padding(output_padding_) {
  DRIFT_CHECK(in >= 1 && out >= 1, "ConvTranspose2d: in_channels " << in << " and out_channels "
                                                                   << out << " must be positive");
  check_window("ConvTranspose2d", kernel, stride, padding);
  DRIFT_CHECK(output_padding.h >= 0 && output_padding.w >= 0 && output_padding.h < stride.h &&
                  output_padding.w < stride.w,
              "ConvTranspose2d: output_padding " << str(output_padding)
                                                 << " must be smaller than the stride "
                                                 << str(stride));
  // PyTorch's layout [in, out, kH, kW]; init reads its fan_in as out * kH * kW (size(1)).
  weight = register_parameter("weight", Tensor::empty({in, out, kernel.h, kernel.w}));
  if (with_bias) bias = register_parameter("bias", Tensor::empty({out}));
  init_weight_and_bias(weight, bias, generator);
}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  return in_layer(*this, [&] {
    return F::conv_transpose2d(x, weight, bias, stride, padding, output_padding);
  });
}

std::string ConvTranspose2d::describe() const {
  std::ostringstream os;
  os << "ConvTranspose2d(" << in_channels << ", " << out_channels
     << ", kernel_size=" << str(kernel_size) << ", stride=" << str(stride);
  if (padding != Size2(0)) os << ", padding=" << str(padding);
  if (output_padding != Size2(0)) os << ", output_padding=" << str(output_padding);
  if (!bias.defined()) os << ", bias=False";
  os << ")";
  return os.str();
}

// ---- normalisation ---------------------------------------------------------------------------

GroupNorm::GroupNorm(int64_t groups, int64_t channels, float eps_, bool affine)
    : num_groups(groups), num_channels(channels), eps(eps_) {
  DRIFT_CHECK(groups >= 1 && channels >= 1 && channels % groups == 0,
              "GroupNorm: num_channels " << channels << " is not divisible by num_groups "
                                         << groups);
  if (affine) {
    weight = register_parameter("weight", ones({channels}));
    bias = register_parameter("bias", zeros({channels}));
  }
}

Tensor GroupNorm::forward(const Tensor& x) {
  return in_layer(*this, [&] {
    DRIFT_CHECK(x.defined() && x.ndim() >= 2 && x.size(1) == num_channels,
                "expected input [N, " << num_channels << ", *], got " << drift::describe(x));
    return F::group_norm(x, num_groups, weight, bias, eps);
  });
}

std::string GroupNorm::describe() const {
  std::ostringstream os;
  os << "GroupNorm(" << num_groups << ", " << num_channels << ", eps=" << str(eps)
     << ", affine=" << (weight.defined() ? "True" : "False") << ")";
  return os.str();
}

LayerNorm::LayerNorm(int64_t size, float eps_, bool elementwise_affine)
    : normalized_size(size), eps(eps_) {
  DRIFT_CHECK(size >= 1, "LayerNorm: normalized_size must be positive, got " << size);
  if (elementwise_affine) {
    weight = register_parameter("weight", ones({size}));
    bias = register_parameter("bias", zeros({size}));
  }
}

Tensor LayerNorm::forward(const Tensor& x) {
  return in_layer(*this, [&] { return F::layer_norm(x, normalized_size, weight, bias, eps); });
}

std::string LayerNorm::describe() const {
  std::ostringstream os;
  os << "LayerNorm((" << normalized_size << ",), eps=" << str(eps)
     << ", elementwise_affine=" << (weight.defined() ? "True" : "False") << ")";
  return os.str();
}

// ---- Embedding, Dropout ----------------------------------------------------------------------

Embedding::Embedding(int64_t num, int64_t dim, Generator* generator)
    : num_embeddings(num), embedding_dim(dim) {
  DRIFT_CHECK(num >= 1 && dim >= 1, "Embedding: num_embeddings " << num << " and embedding_dim "
                                                                 << dim << " must be positive");
  weight = register_parameter("weight", Tensor::empty({num, dim}));
  init::normal_(weight, 0.0f, 1.0f, generator);
}

Tensor Embedding::forward(const Tensor& index) {
  return in_layer(*this, [&] { return F::embedding(index, weight); });
}

std::string Embedding::describe() const {
  return "Embedding(" + std::to_string(num_embeddings) + ", " + std::to_string(embedding_dim) +
         ")";
}

Dropout::Dropout(float p_, Generator* generator) : p(p_), generator_(generator) {
  DRIFT_CHECK(p >= 0.0f && p <= 1.0f, "Dropout: p must be in [0, 1], got " << p);
}

Tensor Dropout::forward(const Tensor& x) {
  return in_layer(*this, [&] { return F::dropout(x, p, is_training(), generator_); });
}

std::string Dropout::describe() const { return "Dropout(p=" + str(p) + ")"; }

// ---- resampling ------------------------------------------------------------------------------

Upsample::Upsample(int64_t scale) : scale_factor(scale) {
  DRIFT_CHECK(scale >= 1, "Upsample: scale_factor must be a positive integer, got " << scale);
}

Tensor Upsample::forward(const Tensor& x) {
  return in_layer(*this, [&] { return F::upsample_nearest2d(x, scale_factor); });
}

std::string Upsample::describe() const {
  return "Upsample(scale_factor=" + std::to_string(scale_factor) + ".0, mode='nearest')";
}

MaxPool2d::MaxPool2d(Size2 kernel, Size2 stride_, Size2 padding_)
    : kernel_size(kernel), stride(stride_ == Size2(0) ? kernel : stride_), padding(padding_) {
  check_window("MaxPool2d", kernel_size, stride, padding);
}

Tensor MaxPool2d::forward(const Tensor& x) {
  return in_layer(*this, [&] { return F::max_pool2d(x, kernel_size, stride, padding); });
}

std::string MaxPool2d::describe() const {
  return "MaxPool2d(kernel_size=" + str(kernel_size) + ", stride=" + str(stride) +
         ", padding=" + str(padding) + ")";
}

AvgPool2d::AvgPool2d(Size2 kernel, Size2 stride_, Size2 padding_)
    : kernel_size(kernel), stride(stride_ == Size2(0) ? kernel : stride_), padding(padding_) {
  check_window("AvgPool2d", kernel_size, stride, padding);
}

Tensor AvgPool2d::forward(const Tensor& x) {
  return in_layer(*this, [&] { return F::avg_pool2d(x, kernel_size, stride, padding); });
}

std::string AvgPool2d::describe() const {
  return "AvgPool2d(kernel_size=" + str(kernel_size) + ", stride=" + str(stride) +
         ", padding=" + str(padding) + ")";
}

// ---- Sequential ------------------------------------------------------------------------------

Sequential::Sequential(const std::vector<std::shared_ptr<Module>>& modules) {
  for (const auto& m : modules) push_back(m);
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (const auto& m : modules_) h = m->forward(h);
  return h;
}

const std::shared_ptr<Module>& Sequential::operator[](size_t i) const {
  DRIFT_CHECK(i < modules_.size(),
              "Sequential: index " << i << " is out of range (" << modules_.size() << " modules)");
  return modules_[i];
}

// ---- attention -------------------------------------------------------------------------------

namespace {

void check_attention_input(const Module& layer, const Tensor& x, int64_t channels) {
  DRIFT_CHECK(x.defined() && x.ndim() == 4 && x.size(1) == channels,
              layer.describe() << ": expected input [N, " << channels << ", H, W], got "
                               << drift::describe(x));
}

void check_attention_sizes(const char* layer, int64_t channels, int64_t heads,
                           int64_t dim_head) {
  DRIFT_CHECK(channels >= 1 && heads >= 1 && dim_head >= 1,
              layer << ": channels " << channels << ", heads " << heads << " and dim_head "
                    << dim_head << " must be positive");
}

std::string describe_attention(const char* name, int64_t channels, int64_t heads,
                               int64_t dim_head) {
  std::ostringstream os;
  os << name << "(channels=" << channels << ", heads=" << heads << ", dim_head=" << dim_head
     << ")";
  return os.str();
}

}  // namespace

SelfAttention2d::SelfAttention2d(int64_t channels_, int64_t heads_, int64_t dim_head_,
                                 Generator* generator)
    : channels(channels_), heads(heads_), dim_head(dim_head_) {
  check_attention_sizes("SelfAttention2d", channels, heads, dim_head);
  const int64_t hidden = heads * dim_head;
  to_qkv = register_module(
      "to_qkv", std::make_shared<Conv2d>(channels, 3 * hidden, 1, 1, 0, 1, false, generator));
  to_out = register_module("to_out",
                           std::make_shared<Conv2d>(hidden, channels, 1, 1, 0, 1, true, generator));
}

// The feature map's N = H*W positions attend to each other, per head:
//   [q; k; v] = to_qkv(x)            [B, 3 * heads * dim_head, H, W]
//   out_h     = softmax(q_h^T k_h / sqrt(dim_head)) v_h^T       [N, dim_head] per head
//   y         = to_out(heads concatenated along channels)        [B, channels, H, W]
Tensor SelfAttention2d::forward(const Tensor& x) {
  check_attention_input(*this, x, channels);
  const int64_t batch = x.size(0), height = x.size(2), width = x.size(3);
  const int64_t positions = height * width;
  // Channels of to_qkv(x) are (which of q/k/v, head, feature); positions are flattened.
  Tensor qkv = reshape(to_qkv->forward(x), {batch, 3, heads, dim_head, positions});
  // -> [3, B, heads, N, dim_head]: q/k/v first (cheap slices), positions before features
  // (the [..., N, d] layout of scaled_dot_product_attention).
  qkv = permute(qkv, {1, 0, 2, 4, 3});
  auto part = [&](int64_t i) {
    return reshape(slice(qkv, 0, i, i + 1), {batch, heads, positions, dim_head});
  };
  const float scale = 1.0f / std::sqrt(static_cast<float>(dim_head));
  Tensor out = F::scaled_dot_product_attention(part(0), part(1), part(2), scale);
  // [B, heads, N, dim_head] -> [B, heads * dim_head, H, W] (head-major channels).
  out = reshape(permute(out, {0, 1, 3, 2}), {batch, heads * dim_head, height, width});
  return to_out->forward(out);
}

std::string SelfAttention2d::describe() const {
  return describe_attention("SelfAttention2d", channels, heads, dim_head);
}

LinearAttention2d::LinearAttention2d(int64_t channels_, int64_t heads_, int64_t dim_head_,
                                     Generator* generator)
    : channels(channels_), heads(heads_), dim_head(dim_head_) {
  check_attention_sizes("LinearAttention2d", channels, heads, dim_head);
  const int64_t hidden = heads * dim_head;
  to_qkv = register_module(
      "to_qkv", std::make_shared<Conv2d>(channels, 3 * hidden, 1, 1, 0, 1, false, generator));
  to_out = register_module(
      "to_out", std::make_shared<Sequential>(
                    std::make_shared<Conv2d>(hidden, channels, 1, 1, 0, 1, true, generator),
                    std::make_shared<GroupNorm>(1, channels)));
}

//   [q; k; v] = to_qkv(x), per head in the channel-first layout [dim_head, N],
//   out_h     = F::linear_attention(q_h, k_h, v_h, 1/sqrt(dim_head))   [dim_head, N]
//   y         = GroupNorm(1)(conv1x1(heads concatenated along channels))
Tensor LinearAttention2d::forward(const Tensor& x) {
  check_attention_input(*this, x, channels);
  const int64_t batch = x.size(0), height = x.size(2), width = x.size(3);
  const int64_t positions = height * width;
  Tensor qkv = reshape(to_qkv->forward(x), {batch, 3, heads, dim_head, positions});
  auto part = [&](int64_t i) {
    return reshape(slice(qkv, 1, i, i + 1), {batch, heads, dim_head, positions});
  };
  const float scale = 1.0f / std::sqrt(static_cast<float>(dim_head));
  Tensor out = F::linear_attention(part(0), part(1), part(2), scale);  // [B, h, dim_head, N]
  return to_out->forward(reshape(out, {batch, heads * dim_head, height, width}));
}

std::string LinearAttention2d::describe() const {
  return describe_attention("LinearAttention2d", channels, heads, dim_head);
}

// ---- PositionalEncoding ----------------------------------------------------------------------

PositionalEncoding::PositionalEncoding(int64_t d_model_, int64_t max_len_)
    : d_model(d_model_), max_len(max_len_) {
  DRIFT_CHECK(d_model >= 2 && d_model % 2 == 0 && max_len >= 1,
              "PositionalEncoding: d_model must be even and positive and max_len positive, got "
              "d_model "
                  << d_model << ", max_len " << max_len);
  std::vector<float> table(static_cast<size_t>(max_len * d_model));
  for (int64_t p = 0; p < max_len; ++p)
    for (int64_t i = 0; i < d_model; i += 2) {
      // columns i, i + 1 (i even): angle p · exp(i · (−ln 10000 / d_model)) = p · 10000^(−i /
      // d_model)
      const double angle = static_cast<double>(p) *
                           std::exp(static_cast<double>(i) * (-std::log(10000.0) / d_model));
      table[static_cast<size_t>(p * d_model + i)] = static_cast<float>(std::sin(angle));
      table[static_cast<size_t>(p * d_model + i + 1)] = static_cast<float>(std::cos(angle));
    }
  pe = register_buffer("pe", from_vector(table, Shape{max_len, d_model}));
}

Tensor PositionalEncoding::forward(const Tensor& index) {
  return in_layer(*this, [&] { return F::embedding(index, pe); });  // pe[index]
}

std::string PositionalEncoding::describe() const {
  return "PositionalEncoding(" + std::to_string(d_model) + ", max_len=" + std::to_string(max_len) +
         ")";
}

// ---- SinusoidalEmbedding ---------------------------------------------------------------------

SinusoidalEmbedding::SinusoidalEmbedding(int64_t dim_) : dim(dim_) {
  DRIFT_CHECK(dim >= 4 && dim % 2 == 0,
              "SinusoidalEmbedding: dim must be even and at least 4, got " << dim);
}

Tensor SinusoidalEmbedding::forward(const Tensor& t) {
  return in_layer(*this, [&] { return F::sinusoidal_embedding(t, dim); });
}

std::string SinusoidalEmbedding::describe() const {
  return "SinusoidalEmbedding(dim=" + std::to_string(dim) + ")";
}

}  // namespace nn
}  // namespace drift
