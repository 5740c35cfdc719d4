// image.cpp — image files (stb_image / stb_image_write) and small image transforms.
//
// The transforms loop over host copies: they run once per picture or per grid, never in a
// training step, so the simple readable loop beats a kernel on every backend.
#include "diffusion/tools/image.h"

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "diffusion/tools/data.h"  // read_file
#include "diffusion/tools/stb_util.h"
#include "tensor/error.h"
#include "tensor/io/safetensors.h"  // write_file_atomically

namespace drift {
namespace diffusion {

namespace {

// A batch view of [C, H, W] or [N, C, H, W]: sizes plus whether the input had a batch dim.
struct ImageDims {
  int64_t n = 1, c = 1, h = 1, w = 1;
  bool batched = false;
};

ImageDims image_dims(const Tensor& image, const char* op) {
  DRIFT_CHECK(image.defined(), op << ": the image is undefined");
  DRIFT_CHECK(
      image.ndim() == 3 || image.ndim() == 4,
      op << ": expected an image [C, H, W] or a batch [N, C, H, W], got " << describe(image));
  ImageDims d;
  d.batched = image.ndim() == 4;
  d.n = d.batched ? image.size(0) : 1;
  d.c = image.size(-3);
  d.h = image.size(-2);
  d.w = image.size(-1);
  return d;
}

Shape image_shape(const ImageDims& d, int64_t c, int64_t h, int64_t w) {
  return d.batched ? Shape{d.n, c, h, w} : Shape{c, h, w};
}

}  // namespace

// ---- files -----------------------------------------------------------------------------------

constexpr int kMaxImageSide = 16384;  // a 16k photograph still loads

namespace {

// stb_image 2.27 (Debian's libstb-dev) builds a Huffman table from a JPEG DHT segment before
// checking that the table's 16 code counts add up to at most 256 symbols; a table of more
// writes past stb's arrays (tests/fuzz/fuzz_image.cpp found it; newer stb_image refuses such a
// table itself). So before stb sees a JPEG, its marker segments are walked the way stb walks
// them, and a table of more than 256 symbols refuses the file. Where stb would stop (a bad
// marker, a segment whose length it rejects) the walk reads on, so it looks at every table stb
// could reach. Returns what is wrong, or "".
std::string jpeg_huffman_problem(const std::string& bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t pos = 0;
  auto get8 = [&]() -> unsigned { return pos < n ? p[pos++] : 0; };  // stb reads 0s past the end
  // stb's marker reader: a byte other than 0xFF is no marker (-1); 0xFF fill bytes are skipped.
  auto marker = [&]() -> int {
    if (get8() != 0xFF) return -1;
    unsigned m = 0xFF;
    while (m == 0xFF) m = get8();
    return static_cast<int>(m);
  };
  if (marker() != 0xD8) return "";  // no SOI: stb does not read it as a JPEG
  while (pos < n) {
    const int m = marker();
    if (m < 0 || m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) continue;  // no segment
    if (m == 0xD9) return "";  // EOI: stb reads no further
    const size_t start = pos;
    const size_t length = get8() << 8 | get8();  // counts its own two bytes
    if (m == 0xC4) {  // DHT: tables of [class|id] [16 code counts] [that many symbols]
      for (int64_t left = static_cast<int64_t>(length) - 2; left > 0;) {
        get8();
        unsigned symbols = 0;
        for (int i = 0; i < 16; ++i) symbols += get8();
        if (symbols > 256)
          return "a Huffman table (DHT) of " + std::to_string(symbols) + " symbols (at most 256)";
        pos = std::min(n, pos + symbols);
        left -= 17 + static_cast<int64_t>(symbols);
      }
      continue;
    }
    pos = std::min(n, start + std::max<size_t>(length, 2));
    if (m == 0xDA) {  // SOS: entropy-coded data up to the next marker other than RSTn
      while (pos < n) {
        if (p[pos] != 0xFF) {
          ++pos;
          continue;
        }
        size_t next = pos + 1;
        while (next < n && p[next] == 0xFF) ++next;  // fill bytes
        if (next < n && (p[next] == 0x00 || (p[next] >= 0xD0 && p[next] <= 0xD7))) {
          pos = next + 1;  // a stuffed 0xFF or a restart marker: still data
          continue;
        }
        break;  // the next marker
      }
    }
  }
  return "";
}

// stb_image 2.27 copies a PNG's IDAT chunks into a buffer it allocates at the first chunk that
// holds data; an empty IDAT chunk before that one makes it memcpy 0 bytes to a null pointer,
// undefined behaviour (tests/fuzz/fuzz_image.cpp found it, UBSan reports it). The PNG format
// allows empty IDAT chunks, but no encoder we know writes one first, so such a file is refused
// rather than handed to stb. The chunks are walked by their lengths, as stb walks them, up to
// the first IDAT. Returns what is wrong, or "".
std::string png_empty_idat_problem(const std::string& bytes) {
  if (bytes.compare(0, 8, "\x89PNG\r\n\x1a\n", 8) != 0) return "";
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  for (size_t pos = 8; pos + 8 <= bytes.size();) {
    const uint64_t length = uint64_t(p[pos]) << 24 | uint64_t(p[pos + 1]) << 16 |
                            uint64_t(p[pos + 2]) << 8 | uint64_t(p[pos + 3]);
    const std::string type = bytes.substr(pos + 4, 4);
    if (type == "IDAT")
      return length == 0 ? "unsupported PNG: its first IDAT chunk is empty (stb_image 2.27 "
                           "mishandles that)"
                         : "";
    if (type == "IEND") return "";
    pos += 12 + length;  // length, type, data, CRC
  }
  return "";
}

}  // namespace

Tensor decode_image(const std::string& bytes, int channels, const std::string& what,
                    int64_t max_pixels) {
  DRIFT_CHECK(channels == 0 || channels == 1 || channels == 3 || channels == 4,
              "load_image: channels must be 0 (as stored), 1, 3 or 4, got " << channels);
  DRIFT_CHECK(bytes.size() <= static_cast<size_t>(INT_MAX),
              "load_image: '" << what << "' is too large (" << bytes.size() << " bytes)");
  const int64_t pixel_limit = std::min(max_pixels, kMaxPixels);
  // Two inputs stb_image 2.27 mishandles are refused before it sees them (see above).
  const std::string jpeg_problem = jpeg_huffman_problem(bytes);
  DRIFT_CHECK(jpeg_problem.empty(),
              "load_image: cannot decode '" << what << "': corrupt JPEG: " << jpeg_problem);
  const std::string png_problem = png_empty_idat_problem(bytes);
  DRIFT_CHECK(png_problem.empty(), "load_image: cannot decode '" << what << "': " << png_problem);
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int size = static_cast<int>(bytes.size());
  int width = 0, height = 0, stored_channels = 0;
  stb_clear_failure_reason();
  // The header first: a file that claims 100000 x 100000 pixels is refused before stb
  // allocates anything for it.
  DRIFT_CHECK(stbi_info_from_memory(data, size, &width, &height, &stored_channels),
              "load_image: cannot decode '"
                  << what << "': " << stb_failure_reason_or("not a PNG, JPEG or GIF"));
  DRIFT_CHECK(
      width <= kMaxImageSide && height <= kMaxImageSide && int64_t(width) * height <= pixel_limit,
      "load_image: '" << what << "' is " << width << " x " << height
                      << " pixels, larger than load_image accepts (at most " << kMaxImageSide
                      << " per side and " << pixel_limit << " pixels)");
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(data, size, &width, &height, &stored_channels, channels),
      stbi_image_free);
  DRIFT_CHECK(pixels != nullptr, "load_image: cannot decode '"
                                     << what << "': " << stb_failure_reason_or("unknown format"));
  const int64_t C = channels == 0 ? stored_channels : channels;
  const int64_t H = height, W = width;
  // stb gives interleaved rows (HWC, 8 bits); we store planes (CHW) in [0, 1].
  std::vector<float> values(static_cast<size_t>(C * H * W));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x)
        values[static_cast<size_t>((c * H + y) * W + x)] =
            static_cast<float>(pixels.get()[(y * W + x) * C + c]) / 255.0f;
  return from_vector(values, Shape{C, H, W});
}

Tensor load_image(const std::string& path, int channels) {
  DRIFT_CHECK(channels == 0 || channels == 1 || channels == 3 || channels == 4,
              "load_image: channels must be 0 (as stored), 1, 3 or 4, got " << channels);
  std::error_code ec;
  DRIFT_CHECK(std::filesystem::is_regular_file(path, ec),
              "load_image: no such file: '" << path << "'");
  return decode_image(read_file(path), channels, path);
}

void save_png(const std::string& path, const Tensor& image_in) {
  DRIFT_CHECK(image_in.defined(), "save_png: the image for '" << path << "' is undefined");
  Tensor image = image_in;
  if (image.ndim() == 4 && image.size(0) == 1)
    image = image.view_as_shape(Shape{image.size(1), image.size(2), image.size(3)});
  if (image.ndim() == 2) image = image.view_as_shape(Shape{1, image.size(0), image.size(1)});
  DRIFT_CHECK(image.ndim() == 3 && image.size(0) >= 1 && image.size(0) <= 4,
              "save_png: expected [C, H, W] with C in 1..4 or [H, W] for '" << path << "', got "
                                                                            << describe(image_in));
  const int64_t C = image.size(0), H = image.size(1), W = image.size(2);
  DRIFT_CHECK(H > 0 && W > 0,
              "save_png: empty image " << describe(image_in) << " for '" << path << "'");
  const std::vector<float> values = image.to_vector();
  std::vector<unsigned char> pixels(static_cast<size_t>(C * H * W));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        float v = values[static_cast<size_t>((c * H + y) * W + x)];
        v = std::isnan(v) ? 0.0f : std::min(std::max(v, 0.0f), 1.0f);
        // round to nearest, like torchvision: mul(255).add(0.5).clamp(0, 255) then truncate
        pixels[static_cast<size_t>((y * W + x) * C + c)] =
            static_cast<unsigned char>(v * 255.0f + 0.5f);
      }
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  DRIFT_CHECK(parent.empty() || std::filesystem::is_directory(parent, ec),
              "save_png: cannot write '" << path << "': the folder '" << parent.string()
                                         << "' does not exist");
  // Encode in memory, then write atomically (a half-written PNG never replaces a good one).
  std::string bytes;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data),
                                               static_cast<size_t>(size));
  };
  int ok = stbi_write_png_to_func(append, &bytes, static_cast<int>(W), static_cast<int>(H),
                                  static_cast<int>(C), pixels.data(), static_cast<int>(W * C));
  DRIFT_CHECK(ok != 0, "save_png: stb_image_write could not encode " << describe(image_in)
                                                                     << " for '" << path << "'");
  write_file_atomically(path, bytes);
}

// ---- value ranges ------------------------------------------------------------------------------

Tensor normalize_to_neg_one_to_one(const Tensor& image) {
  NoGradGuard no_grad;
  return clamp(image, 0.0f, 1.0f) * 2.0f - 1.0f;  // [0, 1] -> [-1, 1]
}

Tensor unnormalize_to_zero_to_one(const Tensor& x) {
  NoGradGuard no_grad;
  return clamp((x + 1.0f) * 0.5f, 0.0f, 1.0f);  // [-1, 1] -> [0, 1]
}

// ---- resampling --------------------------------------------------------------------------------

Tensor resize(const Tensor& image, int64_t out_h, int64_t out_w, ResizeFilter filter) {
  ImageDims d = image_dims(image, "resize");
  DRIFT_CHECK(out_h >= 1 && out_w >= 1, "resize: output size must be positive, got "
                                            << out_h << "x" << out_w << " for " << describe(image));
  DRIFT_CHECK(d.h >= 1 && d.w >= 1, "resize: empty input " << describe(image));
  const std::vector<float> in = image.to_vector();
  std::vector<float> out(static_cast<size_t>(d.n * d.c * out_h * out_w));
  const int64_t planes = d.n * d.c;

  if (filter == ResizeFilter::Area) {
    // Output pixel (i, j) averages input rows [floor(i·H/oh), ceil((i+1)·H/oh)) and the same
    // for columns: adaptive average pooling, what interpolate(mode="area") computes.
    auto start = [](int64_t i, int64_t in_size, int64_t out_size) {
      return (i * in_size) / out_size;
    };
    auto end = [](int64_t i, int64_t in_size, int64_t out_size) {
      return ((i + 1) * in_size + out_size - 1) / out_size;
    };
    for (int64_t p = 0; p < planes; ++p) {
      const float* src = in.data() + p * d.h * d.w;
      float* dst = out.data() + p * out_h * out_w;
      for (int64_t i = 0; i < out_h; ++i) {
        int64_t y0 = start(i, d.h, out_h), y1 = end(i, d.h, out_h);
        for (int64_t j = 0; j < out_w; ++j) {
          int64_t x0 = start(j, d.w, out_w), x1 = end(j, d.w, out_w);
          double total = 0.0;
          for (int64_t y = y0; y < y1; ++y)
            for (int64_t x = x0; x < x1; ++x) total += src[y * d.w + x];
          dst[i * out_w + j] =
              static_cast<float>(total / static_cast<double>((y1 - y0) * (x1 - x0)));
        }
      }
    }
  } else if (filter == ResizeFilter::Nearest) {
    // Output pixel (i, j) copies input pixel (floor(i·H/oh), floor(j·W/ow)).
    for (int64_t p = 0; p < planes; ++p) {
      const float* src = in.data() + p * d.h * d.w;
      float* dst = out.data() + p * out_h * out_w;
      for (int64_t i = 0; i < out_h; ++i) {
        const int64_t y = std::min(i * d.h / out_h, d.h - 1);
        for (int64_t j = 0; j < out_w; ++j)
          dst[i * out_w + j] = src[y * d.w + std::min(j * d.w / out_w, d.w - 1)];
      }
    }
  } else {
    // Bilinear with half-pixel centres: output pixel i sits at input coordinate
    // (i + 0.5)·(H/oh) - 0.5, clamped at 0; it mixes the two nearest rows by distance.
    struct Tap {
      int64_t lo, hi;
      double w_hi;
    };
    auto taps = [](int64_t in_size, int64_t out_size) {
      std::vector<Tap> result(static_cast<size_t>(out_size));
      const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
      for (int64_t i = 0; i < out_size; ++i) {
        double src = std::max((static_cast<double>(i) + 0.5) * scale - 0.5, 0.0);
        int64_t lo = std::min(static_cast<int64_t>(src), in_size - 1);
        int64_t hi = std::min(lo + 1, in_size - 1);
        result[static_cast<size_t>(i)] = {lo, hi, src - static_cast<double>(lo)};
      }
      return result;
    };
    const std::vector<Tap> rows = taps(d.h, out_h), cols = taps(d.w, out_w);
    for (int64_t p = 0; p < planes; ++p) {
      const float* src = in.data() + p * d.h * d.w;
      float* dst = out.data() + p * out_h * out_w;
      for (int64_t i = 0; i < out_h; ++i) {
        const Tap& r = rows[static_cast<size_t>(i)];
        for (int64_t j = 0; j < out_w; ++j) {
          const Tap& c = cols[static_cast<size_t>(j)];
          double top = src[r.lo * d.w + c.lo] * (1.0 - c.w_hi) + src[r.lo * d.w + c.hi] * c.w_hi;
          double bottom = src[r.hi * d.w + c.lo] * (1.0 - c.w_hi) + src[r.hi * d.w + c.hi] * c.w_hi;
          dst[i * out_w + j] = static_cast<float>(top * (1.0 - r.w_hi) + bottom * r.w_hi);
        }
      }
    }
  }
  return from_vector(out, image_shape(d, d.c, out_h, out_w), image.device());
}

Tensor to_grayscale(const Tensor& image) {
  ImageDims d = image_dims(image, "to_grayscale");
  if (d.c == 1) return image;
  DRIFT_CHECK(d.c == 3, "to_grayscale: expected 1 or 3 channels, got " << describe(image));
  const std::vector<float> in = image.to_vector();
  const int64_t plane = d.h * d.w;
  std::vector<float> out(static_cast<size_t>(d.n * plane));
  for (int64_t n = 0; n < d.n; ++n) {
    const float* r = in.data() + (n * 3 + 0) * plane;
    const float* g = in.data() + (n * 3 + 1) * plane;
    const float* b = in.data() + (n * 3 + 2) * plane;
    for (int64_t i = 0; i < plane; ++i)
      out[static_cast<size_t>(n * plane + i)] = 0.299f * r[i] + 0.587f * g[i] + 0.114f * b[i];
  }
  return from_vector(out, image_shape(d, 1, d.h, d.w), image.device());
}

PixelStats pixel_stats(const Tensor& x) {
  const std::vector<float> v = x.to_vector();
  double sum = 0, sum_sq = 0;
  for (float f : v) sum += f, sum_sq += static_cast<double>(f) * f;
  const double n = static_cast<double>(v.size()), mean = sum / n;
  return {mean, std::sqrt(std::max(sum_sq / n - mean * mean, 0.0))};
}

Tensor square_picture(int64_t side, int64_t channels, float background, float foreground,
                      Device device) {
  DRIFT_CHECK(side >= 4 && channels >= 1,
              "square_picture: needs side >= 4 and a channel, got " << side << " and " << channels);
  std::vector<float> pixels(static_cast<size_t>(channels * side * side), background);
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t y = side / 4; y < 3 * side / 4; ++y)
      for (int64_t x = side / 4; x < 3 * side / 4; ++x)
        pixels[static_cast<size_t>((c * side + y) * side + x)] = foreground;
  return from_vector(pixels, Shape{1, channels, side, side}, device);
}

Tensor upscale_nearest(const Tensor& image, int64_t factor) {
  ImageDims d = image_dims(image, "upscale_nearest");
  DRIFT_CHECK(factor >= 1, "upscale_nearest: factor must be >= 1, got " << factor);
  if (factor == 1) return image.clone();
  const std::vector<float> in = image.to_vector();
  const int64_t out_h = d.h * factor, out_w = d.w * factor;
  std::vector<float> out(static_cast<size_t>(d.n * d.c * out_h * out_w));
  for (int64_t p = 0; p < d.n * d.c; ++p)
    for (int64_t y = 0; y < out_h; ++y)
      for (int64_t x = 0; x < out_w; ++x)
        out[static_cast<size_t>((p * out_h + y) * out_w + x)] =
            in[static_cast<size_t>((p * d.h + y / factor) * d.w + x / factor)];
  return from_vector(out, image_shape(d, d.c, out_h, out_w), image.device());
}

Tensor load_picture(const std::string& path, int64_t size, int channels, Device device) {
  DRIFT_CHECK(size >= 1, "load_picture: size must be >= 1, got " << size);
  Tensor picture = load_image(path, channels);  // [C, H, W] in [0, 1]
  const int64_t h = picture.size(1), w = picture.size(2), side = std::min(h, w);
  if (h != w)  // the central square
    picture = slice(slice(picture, 1, (h - side) / 2, (h - side) / 2 + side), 2, (w - side) / 2,
                    (w - side) / 2 + side);
  if (side != size)
    picture =
        resize(picture, size, size, size < side ? ResizeFilter::Area : ResizeFilter::Bilinear);
  return unsqueeze(normalize_to_neg_one_to_one(picture), 0).to(device);
}

// ---- grids ------------------------------------------------------------------------------------

Tensor make_grid(const Tensor& images, int64_t nrow, int64_t padding, float pad_value) {
  DRIFT_CHECK(images.defined() && images.ndim() == 4,
              "make_grid: expected a batch [N, C, H, W], got "
                  << (images.defined() ? describe(images) : std::string("undefined")));
  DRIFT_CHECK(nrow >= 1, "make_grid: nrow must be >= 1, got " << nrow);
  DRIFT_CHECK(padding >= 0, "make_grid: padding must be >= 0, got " << padding);
  const int64_t N = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  DRIFT_CHECK(N >= 1, "make_grid: the batch is empty: " << describe(images));
  const int64_t cols = std::min(nrow, N);
  const int64_t rows = (N + cols - 1) / cols;
  const int64_t cell_h = H + padding, cell_w = W + padding;  // an image plus one gap
  const int64_t grid_h = rows * cell_h + padding, grid_w = cols * cell_w + padding;
  const std::vector<float> in = images.to_vector();
  std::vector<float> grid(static_cast<size_t>(C * grid_h * grid_w), pad_value);
  for (int64_t k = 0; k < N; ++k) {
    // image k sits in row k / cols, column k % cols, after the leading gap
    const int64_t top = (k / cols) * cell_h + padding, left = (k % cols) * cell_w + padding;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y) {
        const float* src = in.data() + ((k * C + c) * H + y) * W;
        float* dst = grid.data() + (c * grid_h + top + y) * grid_w + left;
        std::copy(src, src + W, dst);
      }
  }
  return from_vector(grid, Shape{C, grid_h, grid_w}, images.device());
}

}  // namespace diffusion
}  // namespace drift
