// fuzz_gif.cpp — encode_gif (diffusion/tools/gif.h) of fuzzer-chosen frames, decoded back with
// stb_image (an independent GIF reader): every frame must come back exactly, with its delay.
//
//   byte 0      width - 1 (1..80)           byte 2   frames - 1 (1..3, low 2 bits mod 3);
//   byte 1      height - 1 (1..80)                   bit 7: the last frame gets its own delay
//   byte 3      the delay in centiseconds   byte 4   the last frame's delay
//   the rest    the pixels of every frame, in order, repeated cyclically when short (all 0
//               when empty): long repeats make long LZW strings, the noise of a mutated
//               input fills the 4096-code table and forces clear codes.
//
// Unlike the parsers, encode_gif is given only valid arguments here, so a drift::Error from
// it is a finding too (it is not caught).
#include <stb/stb_image.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "diffusion/tools/gif.h"
#include "tests/fuzz/harness.h"

namespace {

int fuzz_gif(const uint8_t* data, size_t size) {
  if (size < 5) return 0;
  const int width = 1 + data[0] % 80, height = 1 + data[1] % 80;
  const int count = 1 + (data[2] & 3) % 3;
  const int delay_cs = data[3];
  const int last_delay_cs = (data[2] & 0x80) ? data[4] : -1;
  const uint8_t* pixels = data + 5;
  const size_t available = size - 5;
  const size_t n = static_cast<size_t>(width) * static_cast<size_t>(height);
  std::vector<std::vector<uint8_t>> frames(static_cast<size_t>(count), std::vector<uint8_t>(n));
  size_t k = 0;
  for (auto& frame : frames)
    for (uint8_t& v : frame) v = available == 0 ? 0 : pixels[k++ % available];

  const std::string gif =
      drift::diffusion::encode_gif(frames, width, height, delay_cs, last_delay_cs);
  int* delays = nullptr;
  int w = 0, h = 0, decoded_count = 0, comp = 0;
  stbi_uc* decoded = stbi_load_gif_from_memory(reinterpret_cast<const stbi_uc*>(gif.data()),
                                               static_cast<int>(gif.size()), &delays, &w, &h,
                                               &decoded_count, &comp, 4);
  std::unique_ptr<stbi_uc, void (*)(void*)> owned(decoded, stbi_image_free);
  std::unique_ptr<int, void (*)(void*)> owned_delays(delays, std::free);
  if (decoded == nullptr)
    throw drift::fuzz::Finding(std::string("stb_image cannot decode encode_gif's bytes: ") +
                               (stbi_failure_reason() ? stbi_failure_reason() : "?"));
  drift::fuzz::expect(w == width && h == height && decoded_count == count,
                      "GIF: size or frame count changed");
  for (int f = 0; f < count; ++f) {
    const stbi_uc* p = decoded + static_cast<size_t>(f) * n * 4;
    for (size_t i = 0; i < n; ++i) {
      const uint8_t v = frames[static_cast<size_t>(f)][i];
      if (p[4 * i] != v || p[4 * i + 1] != v || p[4 * i + 2] != v || p[4 * i + 3] != 255)
        throw drift::fuzz::Finding("GIF: frame " + std::to_string(f) + " pixel " +
                                   std::to_string(i) + " changed");
    }
    const int expected_cs = (f == count - 1 && last_delay_cs >= 0) ? last_delay_cs : delay_cs;
    if (delays == nullptr || delays[f] != 10 * expected_cs)
      throw drift::fuzz::Finding("GIF: frame " + std::to_string(f) + " delay changed");
  }
  return 0;
}

}  // namespace

DRIFT_FUZZ_TARGET(gif, fuzz_gif)
