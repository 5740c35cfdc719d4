// gif.cpp — the GIF89a writer and its LZW encoder (see gif.h). Format: the GIF89a
// specification (CompuServe 1990), sections 17-27 and appendix F (variable-length codes).
#include "diffusion/tools/gif.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "tensor/error.h"
#include "tensor/io/safetensors.h"  // write_file_atomically

namespace drift {
namespace diffusion {

namespace {

constexpr int kMinCodeSize = 8;                 // 256 palette entries
constexpr int kClearCode = 1 << kMinCodeSize;   // 256
constexpr int kEndCode = kClearCode + 1;        // 257
constexpr int kFirstFreeCode = kClearCode + 2;  // 258
constexpr int kMaxCodes = 4096;                 // 12-bit codes at most

// Codes packed least-significant bit first (GIF89a appendix F).
class BitWriter {
 public:
  explicit BitWriter(std::string& out) : out_(out) {}
  void put(uint32_t code, int width) {
    buffer_ |= code << bits_;
    bits_ += width;
    while (bits_ >= 8) {
      out_ += static_cast<char>(buffer_ & 0xFF);
      buffer_ >>= 8;
      bits_ -= 8;
    }
  }
  void flush() {
    if (bits_ > 0) out_ += static_cast<char>(buffer_ & 0xFF);
    buffer_ = 0;
    bits_ = 0;
  }

 private:
  std::string& out_;
  uint32_t buffer_ = 0;
  int bits_ = 0;
};

void put16(std::string& out, int value) {  // little-endian, as every GIF number
  out += static_cast<char>(value & 0xFF);
  out += static_cast<char>((value >> 8) & 0xFF);
}

}  // namespace

GifLzw gif_lzw_encode(const uint8_t* indices, size_t count) {
  GifLzw result;
  BitWriter writer(result.bytes);
  // child[code · 256 + pixel]: the code of string(code) + pixel, 0 when not in the table
  // (0 is never a child: children are >= 258).
  std::vector<uint16_t> child(static_cast<size_t>(kMaxCodes) * 256, 0);
  int width = kMinCodeSize + 1;  // 9 bits after a clear code
  int next_code = kFirstFreeCode;
  int64_t since_clear = 0;  // data codes written since the last clear code

  auto emit = [&](int code) {
    writer.put(static_cast<uint32_t>(code), width);
    ++result.codes;
    if (code == kClearCode) {
      width = kMinCodeSize + 1;
      since_clear = 0;
      return;
    }
    if (code == kEndCode) return;
    // Follow the decoder's width: it adds a table entry for every data code but the first
    // after a clear (one step behind the encoder), so after k codes its next free code is
    // 258 + k - 1, and when that reaches 2^width the following codes are one bit wider.
    ++since_clear;
    const int64_t decoder_next_code = kFirstFreeCode + since_clear - 1;
    if (decoder_next_code == (int64_t{1} << width) && width < 12) ++width;
  };

  emit(kClearCode);  // decoders (stb_image among them) want a clear code first
  if (count > 0) {
    int current = indices[0];  // the code of the string matched so far
    for (size_t i = 1; i < count; ++i) {
      const int pixel = indices[i];
      const uint16_t longer = child[static_cast<size_t>(current) * 256 + pixel];
      if (longer != 0) {  // string + pixel is in the table: keep matching
        current = longer;
        continue;
      }
      emit(current);
      child[static_cast<size_t>(current) * 256 + pixel] = static_cast<uint16_t>(next_code++);
      if (next_code == kMaxCodes) {  // table full: start afresh
        emit(kClearCode);
        std::fill(child.begin(), child.end(), 0);
        next_code = kFirstFreeCode;
        ++result.resets;
      }
      current = pixel;
    }
    emit(current);
  }
  emit(kEndCode);
  writer.flush();
  return result;
}

std::string encode_gif(const std::vector<std::vector<uint8_t>>& frames, int width, int height,
                       int delay_cs, int last_delay_cs, int loop_count) {
  DRIFT_CHECK(!frames.empty(), "encode_gif: no frames to write");
  DRIFT_CHECK(width >= 1 && width <= 65535 && height >= 1 && height <= 65535,
              "encode_gif: picture size " << width << "x" << height
                                          << " outside what GIF stores (1..65535 each way)");
  DRIFT_CHECK(delay_cs >= 0 && delay_cs <= 65535 && last_delay_cs >= -1 && last_delay_cs <= 65535,
              "encode_gif: delays must be 0..65535 centiseconds, got "
                  << delay_cs << " (last frame " << last_delay_cs << ")");
  DRIFT_CHECK(loop_count >= 0 && loop_count <= 65535,
              "encode_gif: loop count must be 0 (forever) .. 65535, got " << loop_count);
  const size_t pixels = static_cast<size_t>(width) * static_cast<size_t>(height);
  for (size_t f = 0; f < frames.size(); ++f)
    DRIFT_CHECK(frames[f].size() == pixels,
                "encode_gif: frame " << f << " has " << frames[f].size() << " pixels, expected "
                                     << width << "x" << height << " = " << pixels);
  std::string out = "GIF89a";
  // Logical screen descriptor: size; global colour table present (0x80), 8 bits of colour
  // resolution (0x70), 2^(7+1) = 256 entries (0x07); background index 0; no aspect ratio.
  put16(out, width);
  put16(out, height);
  out += static_cast<char>(0xF7);
  out += '\0';
  out += '\0';
  for (int v = 0; v < 256; ++v) out += std::string(3, static_cast<char>(v));  // grey palette
  // NETSCAPE2.0 application extension: sub-block 1 holds the loop count.
  out += "\x21\xFF\x0B";
  out += "NETSCAPE2.0";
  out += "\x03\x01";
  put16(out, loop_count);
  out += '\0';
  for (size_t f = 0; f < frames.size(); ++f) {
    // Graphic Control Extension: disposal 1 (leave the frame in place), no transparency.
    const bool last = f + 1 == frames.size();
    out += "\x21\xF9\x04";
    out += static_cast<char>(1 << 2);
    put16(out, last && last_delay_cs >= 0 ? last_delay_cs : delay_cs);
    out += '\0';  // transparent colour index (unused)
    out += '\0';  // block terminator
    // Image descriptor: the whole screen, no local colour table, not interlaced.
    out += '\x2C';
    put16(out, 0);
    put16(out, 0);
    put16(out, width);
    put16(out, height);
    out += '\0';
    // Image data: the LZW minimum code size, then the codes in sub-blocks of <= 255 bytes.
    out += static_cast<char>(kMinCodeSize);
    const GifLzw lzw = gif_lzw_encode(frames[f].data(), pixels);
    for (size_t at = 0; at < lzw.bytes.size(); at += 255) {
      const size_t n = std::min<size_t>(255, lzw.bytes.size() - at);
      out += static_cast<char>(n);
      out.append(lzw.bytes, at, n);
    }
    out += '\0';
  }
  out += '\x3B';  // trailer
  return out;
}

void write_gif(const std::string& path, const std::vector<std::vector<uint8_t>>& frames, int width,
               int height, int delay_cs, int last_delay_cs, int loop_count) {
  const std::string bytes = encode_gif(frames, width, height, delay_cs, last_delay_cs, loop_count);
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  DRIFT_CHECK(parent.empty() || std::filesystem::is_directory(parent, ec),
              "write_gif: cannot write '" << path << "': the folder '" << parent.string()
                                          << "' does not exist");
  write_file_atomically(path, bytes);
}

std::vector<uint8_t> grey_bytes(const Tensor& image, int& height, int& width) {
  DRIFT_CHECK(image.defined(), "grey_bytes: the picture is undefined");
  const int64_t nd = image.ndim();
  const bool grey = nd == 2 || (nd == 3 && image.size(0) == 1) ||
                    (nd == 4 && image.size(0) == 1 && image.size(1) == 1);
  const bool colour = (nd == 3 && image.size(0) == 3) || (nd == 4 && image.size(1) == 3);
  DRIFT_CHECK(grey, "grey_bytes: a GIF frame must be one grey picture [1, H, W] or [H, W], got "
                        << describe(image)
                        << (colour ? " (colour: convert with to_grayscale first)" : ""));
  height = static_cast<int>(image.size(-2));
  width = static_cast<int>(image.size(-1));
  const std::vector<float> values = image.to_vector();
  std::vector<uint8_t> bytes(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    float v = values[i];
    v = std::isnan(v) ? 0.0f : std::min(std::max(v, 0.0f), 1.0f);
    bytes[i] = static_cast<uint8_t>(v * 255.0f + 0.5f);  // as save_png
  }
  return bytes;
}

void write_gif(const std::string& path, const std::vector<Tensor>& frames, int delay_cs,
               int last_delay_cs, int loop_count) {
  DRIFT_CHECK(!frames.empty(), "write_gif: no frames to write to '" << path << "'");
  std::vector<std::vector<uint8_t>> bytes;
  int height = 0, width = 0;
  for (size_t f = 0; f < frames.size(); ++f) {
    int h = 0, w = 0;
    bytes.push_back(grey_bytes(frames[f], h, w));
    if (f == 0) height = h, width = w;
    DRIFT_CHECK(h == height && w == width, "write_gif: frame " << f << " is " << w << "x" << h
                                                               << ", frame 0 is " << width << "x"
                                                               << height << " ('" << path << "')");
  }
  write_gif(path, bytes, width, height, delay_cs, last_delay_cs, loop_count);
}

}  // namespace diffusion
}  // namespace drift
