// functional.h — the differentiable building blocks of the layers, like torch.nn.functional.
//
// Each function computes its forward pass with backend kernels and records its backward
// formula right beside it (see nn/functional/*.cpp); the layers of nn/layers.h only hold
// parameters and call these. Shapes follow PyTorch exactly (NCHW images, Linear weight
// [out, in], ConvTranspose2d weight [in, out, kH, kW]), so PyTorch code translates line by
// line:
//
//   namespace F = drift::nn::F;
//   Tensor h = F::conv2d(x, weight, bias, /*stride=*/1, /*padding=*/1);
//   h = F::group_norm(silu(h), /*groups=*/8, gamma, beta);
//
// Activations (relu, silu, gelu, sigmoid, tanh, softmax) are in autograd/ops.h.
// Every function checks its inputs and throws drift::Error naming itself and the shapes.
#pragma once

#include <cstdint>

#include "autograd/ops.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace drift {
namespace nn {

// A (height, width) pair for kernel sizes, strides and paddings. One integer means the same
// value for both, as in PyTorch: `stride = 2` is stride (2, 2); `{3, 1}` is a 3x1 kernel.
struct Size2 {
  int64_t h = 0, w = 0;
  Size2(int64_t both) : h(both), w(both) {}  // NOLINT: implicit on purpose, like PyTorch's int
  Size2(int64_t height, int64_t width) : h(height), w(width) {}
  bool operator==(const Size2& o) const { return h == o.h && w == o.w; }
  bool operator!=(const Size2& o) const { return !(*this == o); }
};

namespace functional {

// ---- linear and convolution --------------------------------------------------------------

// y = x W^T + b.  x [..., in], weight [out, in], bias [out] or undefined  ->  y [..., out].
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// 2-D cross-correlation (what deep learning calls convolution) of x [N, C_in, H, W] with
// weight [C_out, C_in/groups, kH, kW] (+ bias [C_out])  ->  [N, C_out, OH, OW],
// OH = (H + 2 padding.h - kH) / stride.h + 1 (same for OW). groups = C_in is depthwise.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              Size2 stride = 1, Size2 padding = 0, int64_t groups = 1);

// The transpose (adjoint) of conv2d, the learned upsampling of U-Nets: x [N, C_in, H, W],
// weight [C_in, C_out, kH, kW] (PyTorch's layout), bias [C_out]  ->  [N, C_out, OH, OW],
// OH = (H - 1) stride.h - 2 padding.h + kH + output_padding.h. Only groups = 1.
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                        Size2 stride = 1, Size2 padding = 0, Size2 output_padding = 0,
                        int64_t groups = 1);

// ---- normalisation -----------------------------------------------------------------------

// x [N, C, *] normalised over each group of C/groups channels (and all positions), then
// scaled by weight [C] and shifted by bias [C] (either may be undefined).
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), float eps = 1e-5f);

// silu(group_norm(x, ...)) in one pass, the pair that opens every half of a ResBlock. Same
// values and gradients as the two ops; faster, and backward keeps only x and the group
// statistics (group_norm + silu keep x and the normalised tensor).
Tensor group_norm_silu(const Tensor& x, int64_t groups, const Tensor& weight = Tensor(),
                       const Tensor& bias = Tensor(), float eps = 1e-5f);

// x [..., D] normalised over its last dimension (D = normalized_size), then weight [D] and
// bias [D] applied (either may be undefined).
Tensor layer_norm(const Tensor& x, int64_t normalized_size, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), float eps = 1e-5f);

// ---- lookup, noise, positions ------------------------------------------------------------

// Rows of weight [num_embeddings, dim] picked by index (any shape, whole numbers stored as
// float32)  ->  [*index.shape, dim]. Repeated indices add their gradients.
Tensor embedding(const Tensor& index, const Tensor& weight);

// Zeroes each element with probability p and scales the survivors by 1/(1-p) (so the
// expected value is unchanged); the identity when !training or p == 0. The mask is drawn
// from `generator` (the global one if null) and reused by backward.
Tensor dropout(const Tensor& x, float p = 0.5f, bool training = true,
               Generator* generator = nullptr);

// The Transformer's sinusoidal position encoding of diffusion time steps t [B]  ->  [B, dim]:
// half = dim/2, freq_i = exp(-ln(10000) i / (half - 1)), out = cat(sin(t freq), cos(t freq)).
Tensor sinusoidal_embedding(const Tensor& t, int64_t dim);

// ---- pooling and resampling (NCHW) ---------------------------------------------------------

// stride 0 means "equal to the kernel size" (PyTorch's default stride=None). Padding is at
// most half the kernel; max pooling pads with -inf, average pooling counts the padding as
// zeros (count_include_pad=True).
Tensor max_pool2d(const Tensor& x, Size2 kernel_size, Size2 stride = 0, Size2 padding = 0);
Tensor avg_pool2d(const Tensor& x, Size2 kernel_size, Size2 stride = 0, Size2 padding = 0);

// Nearest-neighbour upsampling of x [N, C, H, W] by an integer factor  ->  [N, C, sH, sW].
Tensor upsample_nearest2d(const Tensor& x, int64_t scale = 2);

// ---- attention ---------------------------------------------------------------------------

// softmax(q k^T * scale) v with q [..., N, d], k [..., M, d], v [..., M, dv]  ->  [..., N, dv]
// (leading dims equal); scale 0 means 1/sqrt(d). Like torch's F.scaled_dot_product_attention.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    float scale = 0.0f);

// The linear attention of the annotated-diffusion U-Net (Shen et al. 2018, "efficient
// attention"), in its channel-first layout q, k [..., d, N], v [..., e, N]:
//   q <- softmax over d (each position's query is a distribution over features) * scale,
//   k <- softmax over N,  context = k v^T [..., d, e],  out = context^T q [..., e, N].
// Cost is linear in the number of positions N (no N x N matrix).
Tensor linear_attention(const Tensor& q, const Tensor& k, const Tensor& v, float scale);

}  // namespace functional

namespace F = functional;  // nn::F::conv2d(...), as `import torch.nn.functional as F`

}  // namespace nn
}  // namespace drift
