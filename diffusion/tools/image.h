// image.h — pictures in and out: loading JPEG/PNG, resizing, grey-scale, the [0,1] <-> [-1,1]
// scaling diffusion models use, nearest upscaling, image grids and PNG files.
//
// Images are float32 tensors [C, H, W] (one picture) or [N, C, H, W] (a batch), channels
// first like PyTorch. Files hold 8-bit pixels; in memory a pixel is in [0, 1] ("image range")
// and a model sees it in [-1, 1] ("model range", Ho et al. section 3.3).
//
// These are utilities, not differentiable ops: they work on host copies (any device in, the
// same device out) and their results are not part of an autograd graph.
//
//   Tensor picture = load_image(path, 3);                        // [3, 512, 512] in [0, 1]
//   Tensor x0 = normalize_to_neg_one_to_one(picture);            // [-1, 1] for the model
//   save_png("grid.png", make_grid(unnormalize_to_zero_to_one(batch), 5));
#pragma once

#include <cstdint>
#include <string>

#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

// Loads a PNG, JPEG or GIF (first frame) file with stb_image into a [C, H, W] float tensor
// in [0, 1] (stb_impl.cpp compiles only those three decoders). `channels` = 0 keeps the
// file's own count; 1 (grey), 3 (RGB) or 4 (RGBA) converts. A missing or unreadable file
// throws naming the path and stb's reason.
Tensor load_image(const std::string& path, int channels = 0);

// The most pixels load_image and decode_image accept: 268 M pixels, 1 GB as floats.
constexpr int64_t kMaxPixels = int64_t(1) << 28;

// The same from a file's bytes already in memory (load_image is read_file + decode_image):
// `what` names the source in errors. The header is read first, and a picture larger than
// 16384 pixels a side or max_pixels in all (at most kMaxPixels) is refused before anything is
// allocated for it.
Tensor decode_image(const std::string& bytes, int channels, const std::string& what,
                    int64_t max_pixels = kMaxPixels);

// Writes [C, H, W] (C = 1, 2, 3 or 4) or [H, W] values in [0, 1] as an 8-bit PNG: each value
// is clamped to [0, 1] and rounded to the nearest of 0..255 (like torchvision's save_image).
// A [1, C, H, W] batch of one is accepted too. Throws naming the path when it cannot write.
void save_png(const std::string& path, const Tensor& image);

// The mean and standard deviation of all values of x (computed in double on a host copy):
// how spread out a picture or a batch of samples is.
struct PixelStats {
  double mean, std;
};
PixelStats pixel_stats(const Tensor& x);

// A side x side picture of `background` with a centred square of `foreground` covering the
// middle half (rows and columns side/4 .. 3·side/4 - 1), shaped [1, channels, side, side]:
// the tutorial's smallest training picture (side 8: the square is rows and columns 2..5).
Tensor square_picture(int64_t side, int64_t channels, float background, float foreground,
                      Device device = Device::cpu());

// [0, 1] -> [-1, 1]: x · 2 - 1, after clamping x to [0, 1].
Tensor normalize_to_neg_one_to_one(const Tensor& image);
// [-1, 1] -> [0, 1]: (x + 1) / 2, clamped to [0, 1] (samples overshoot; pixels cannot).
Tensor unnormalize_to_zero_to_one(const Tensor& x);

// How resize() computes an output pixel.
enum class ResizeFilter {
  // Bilinear interpolation between the 4 nearest input pixels, with pixel centres aligned as in
  // torch.nn.functional.interpolate(mode="bilinear", align_corners=False). Shrinking by more
  // than 2x skips pixels (aliasing); use Area for that.
  Bilinear,
  // The mean of the input pixels each output pixel covers, as interpolate(mode="area")
  // (adaptive average pooling): the right filter for shrinking.
  Area,
  // The input pixel at floor(i · H/oh), as interpolate(mode="nearest"): no mixing, so every
  // output pixel is one input pixel (a shrunk noisy image keeps its noise level).
  Nearest,
};

// [C, H, W] or [N, C, H, W] -> the same with spatial size height x width.
Tensor resize(const Tensor& image, int64_t height, int64_t width,
              ResizeFilter filter = ResizeFilter::Bilinear);

// RGB [3, H, W] or [N, 3, H, W] -> one channel with the ITU-R 601 luma weights
// 0.299 R + 0.587 G + 0.114 B (what PIL's convert("L") and torchvision use).
// One-channel input is returned as is.
Tensor to_grayscale(const Tensor& image);

// Each pixel repeated factor x factor times ([C, H, W] or [N, C, H, W]): makes an 8x8 sample
// visible without blurring it.
Tensor upscale_nearest(const Tensor& image, int64_t factor);

// A picture file as a model input: loaded with `channels` channels (3 = RGB, 1 = grey),
// centre-cropped to a square, resized to size x size (area averaging when shrinking, bilinear
// when growing), scaled to [-1, 1] and shaped [1, channels, size, size] on `device`.
Tensor load_picture(const std::string& path, int64_t size, int channels = 3,
                    Device device = Device::cpu());

// Tiles a batch [N, C, H, W] into one picture [C, rows·(H+padding)+padding,
// cols·(W+padding)+padding], `nrow` images per row, row by row, with `padding` pixels of
// `pad_value` around every image — the layout of torchvision.utils.make_grid (which, unlike
// this one, also turns one-channel batches into three channels).
Tensor make_grid(const Tensor& images, int64_t nrow = 8, int64_t padding = 2,
                 float pad_value = 0.0f);

}  // namespace diffusion
}  // namespace drift
