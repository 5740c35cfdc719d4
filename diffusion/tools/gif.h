// gif.h — animated GIFs of grey pictures (a sampling loop as a film), written from scratch.
//
// A GIF89a file is: the header "GIF89a"; the logical screen (width, height, and a flag for
// the global colour table that follows: here 256 greys, index v = (v, v, v)); the NETSCAPE2.0
// application extension (loop count, 0 = forever); then per frame a Graphic Control
// Extension (its delay in centiseconds) and an image descriptor followed by the pixels'
// palette indices, LZW-compressed; finally the trailer byte 0x3B.
//
// LZW (Welch 1984, as GIF uses it): the table starts with the 256 one-pixel strings plus a
// clear code (256) and an end code (257); the encoder emits the code of the longest string
// in the table that the pixels continue with, then adds that string plus the next pixel as
// a new code. Codes start 9 bits wide and grow a bit each time the table passes a power of
// two, up to 12 bits; when all 4096 codes are taken the encoder emits a clear code and
// starts a fresh table. Bits are packed least-significant first into sub-blocks of <= 255
// bytes.
//
// Only grey: a frame is width·height bytes, 0 = black, 255 = white, row-major, stored
// exactly (no quantisation, no dithering). Colour pictures are refused: convert them first
// (to_grayscale in image.h).
//
//   std::vector<std::vector<uint8_t>> frames = ...;      // each 28·28 bytes
//   write_gif(out + "/sampling.gif", frames, 28, 28, /*delay_cs=*/5);
//   write_gif(out + "/sampling.gif", tensor_frames, 5);   // [1, H, W] tensors in [0, 1]
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

// The LZW data of one frame (min code size 8), before it is cut into sub-blocks, and how the
// encoder went: codes written (clear and end codes included) and table resets (clear codes
// after the first).
struct GifLzw {
  std::string bytes;
  int64_t codes = 0;
  int64_t resets = 0;
};
GifLzw gif_lzw_encode(const uint8_t* indices, size_t count);

// The bytes of an animated GIF: every frame width·height grey bytes, shown for delay_cs
// centiseconds each (the last for last_delay_cs, when >= 0: a pause on the final picture),
// looping `loop_count` times (0 = forever). Throws on no frames, a frame of the wrong size,
// sizes outside 1..65535 or delays outside 0..65535.
std::string encode_gif(const std::vector<std::vector<uint8_t>>& frames, int width, int height,
                       int delay_cs, int last_delay_cs = -1, int loop_count = 0);

// encode_gif written atomically to `path` (a half-written file never replaces a good one).
void write_gif(const std::string& path, const std::vector<std::vector<uint8_t>>& frames, int width,
               int height, int delay_cs, int last_delay_cs = -1, int loop_count = 0);

// The same from tensors: each frame [1, H, W] or [H, W] (a [1, 1, H, W] batch of one too),
// values in [0, 1] rounded like save_png; all frames the same size.
void write_gif(const std::string& path, const std::vector<Tensor>& frames, int delay_cs,
               int last_delay_cs = -1, int loop_count = 0);

// One grey picture as GIF bytes: [1, H, W] / [H, W] / [1, 1, H, W] in [0, 1] -> H·W bytes,
// clamped and rounded to the nearest of 0..255 (NaN -> 0). Sets height and width.
std::vector<uint8_t> grey_bytes(const Tensor& image, int& height, int& width);

}  // namespace diffusion
}  // namespace drift
