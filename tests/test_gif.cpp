// test_gif.cpp — the GIF writer, checked by decoding its bytes with stb_image (an independent
// GIF reader): every frame's pixels exactly, the frame count and the delays; noise that fills
// the LZW table several times; every code-width boundary at the end of a frame; 1x1
// pictures; the errors.
#include <doctest/doctest.h>
#include <stb/stb_image.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "diffusion/tools/data.h"  // read_file
#include "diffusion/tools/gif.h"
#include "tensor/error.h"
#include "tests/helpers.h"
#include "tests/temp_dir.h"

using namespace drift;
using namespace drift::diffusion;

namespace {

struct Decoded {
  int width = 0, height = 0, frames = 0;
  std::vector<std::vector<uint8_t>> grey;  // per frame, checked r = g = b and a = 255
  std::vector<int> delays_ms;
};

Decoded decode(const std::string& bytes) {
  Decoded d;
  int* delays = nullptr;
  int comp = 0;
  stbi_uc* pixels = stbi_load_gif_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                              static_cast<int>(bytes.size()), &delays, &d.width,
                                              &d.height, &d.frames, &comp, 4);
  INFO("stb_image: " << (stbi_failure_reason() ? stbi_failure_reason() : ""));
  REQUIRE(pixels != nullptr);
  std::unique_ptr<stbi_uc, void (*)(void*)> owned(pixels, stbi_image_free);
  std::unique_ptr<int, void (*)(void*)> owned_delays(delays, std::free);
  const size_t n = static_cast<size_t>(d.width) * static_cast<size_t>(d.height);
  for (int f = 0; f < d.frames; ++f) {
    std::vector<uint8_t> grey(n);
    const stbi_uc* p = pixels + static_cast<size_t>(f) * n * 4;
    for (size_t i = 0; i < n; ++i) {
      REQUIRE(p[4 * i] == p[4 * i + 1]);
      REQUIRE(p[4 * i] == p[4 * i + 2]);
      REQUIRE(p[4 * i + 3] == 255);
      grey[i] = p[4 * i];
    }
    d.grey.push_back(grey);
    d.delays_ms.push_back(delays ? delays[f] : -1);
  }
  return d;
}

std::vector<uint8_t> noise(size_t n, uint32_t seed) {
  std::vector<uint8_t> out(n);
  uint32_t s = seed * 2654435761u + 1;
  for (auto& v : out) {
    s ^= s << 13, s ^= s >> 17, s ^= s << 5;  // xorshift32
    v = static_cast<uint8_t>(s >> 24);
  }
  return out;
}

}  // namespace

TEST_CASE("GIF: frames, sizes and delays decode exactly (stb_image)") {
  const int W = 7, H = 5;
  std::vector<std::vector<uint8_t>> frames;
  for (int f = 0; f < 5; ++f) {
    std::vector<uint8_t> frame(W * H);
    for (int i = 0; i < W * H; ++i) frame[i] = static_cast<uint8_t>((i * 37 + f * 61) % 256);
    frames.push_back(frame);
  }
  frames.push_back(std::vector<uint8_t>(W * H, 200));  // a flat frame: long LZW strings
  const std::string bytes = encode_gif(frames, W, H, /*delay_cs=*/4, /*last_delay_cs=*/150);
  CHECK(bytes.substr(0, 6) == "GIF89a");
  CHECK(bytes.find("NETSCAPE2.0") != std::string::npos);
  CHECK(bytes.back() == '\x3B');
  Decoded d = decode(bytes);
  CHECK(d.width == W);
  CHECK(d.height == H);
  REQUIRE(d.frames == 6);
  for (int f = 0; f < 6; ++f) {
    CAPTURE(f);
    CHECK(d.grey[f] == frames[f]);
    CHECK(d.delays_ms[f] == (f < 5 ? 40 : 1500));  // stb reports milliseconds
  }
  // Without last_delay_cs every frame has the same delay.
  Decoded same = decode(encode_gif(frames, W, H, 7));
  for (int ms : same.delays_ms) CHECK(ms == 70);
}

TEST_CASE("GIF: noise fills the LZW table: clear codes, and still exact") {
  for (int side : {64, 128}) {
    CAPTURE(side);
    const std::vector<uint8_t> frame = noise(static_cast<size_t>(side * side), side);
    GifLzw lzw = gif_lzw_encode(frame.data(), frame.size());
    // Random bytes rarely repeat a pair: nearly one code per pixel, so 4096 pixels overflow
    // the 4096 - 258 free codes once and 16384 pixels four times.
    CHECK(lzw.resets >= (side == 64 ? 1 : 4));
    Decoded d = decode(encode_gif({frame, noise(frame.size(), 7)}, side, side, 10));
    REQUIRE(d.frames == 2);
    CHECK(d.grey[0] == frame);
    CHECK(d.grey[1] == noise(frame.size(), 7));
  }
  // A frame of 8 grey levels: longer strings, widths growing past 9, 10, 11 bits.
  std::vector<uint8_t> banded(200 * 150);
  for (size_t i = 0; i < banded.size(); ++i) banded[i] = static_cast<uint8_t>(((i / 3) % 8) * 32);
  Decoded d = decode(encode_gif({banded}, 200, 150, 1));
  CHECK(d.grey[0] == banded);
}

TEST_CASE("GIF: every frame length around the code-width steps decodes (end code width)") {
  // The end code must be written as wide as the decoder then reads: frames whose last data
  // code lands just before, on and after each width step (9 -> 10 bits near 256 codes,
  // 10 -> 11 near 768 codes of noise).
  int failures = 0;
  for (int n = 230; n <= 900; ++n) {
    const std::vector<uint8_t> frame = noise(static_cast<size_t>(n), static_cast<uint32_t>(n));
    Decoded d = decode(encode_gif({frame}, n, 1, 0));
    if (d.grey.empty() || d.grey[0] != frame) ++failures;
  }
  CHECK(failures == 0);
}

TEST_CASE("GIF: 1x1 pictures, files written atomically from tensors, errors") {
  Decoded one = decode(encode_gif({{0}, {255}, {128}}, 1, 1, 2));
  REQUIRE(one.frames == 3);
  CHECK(one.grey[0] == std::vector<uint8_t>{0});
  CHECK(one.grey[1] == std::vector<uint8_t>{255});
  CHECK(one.grey[2] == std::vector<uint8_t>{128});

  test::TempDir dir("gif");
  // Tensors in [0, 1] are rounded like save_png: 0.5 -> 128; out of range is clamped.
  Tensor a = from_vector({0.0f, 0.5f, 1.0f, 2.0f, -1.0f, 0.25f}, Shape{1, 2, 3});
  Tensor b = from_vector({1.0f, 1.0f, 1.0f, 0.0f, 0.0f, 0.0f}, Shape{2, 3});
  const std::string path = dir.path("film.gif");
  write_gif(path, std::vector<Tensor>{a, b}, 3);
  Decoded film = decode(read_file(path));
  REQUIRE(film.frames == 2);
  CHECK(film.width == 3);
  CHECK(film.height == 2);
  CHECK(film.grey[0] == std::vector<uint8_t>{0, 128, 255, 255, 0, 64});
  CHECK(film.grey[1] == std::vector<uint8_t>{255, 255, 255, 0, 0, 0});

  CHECK_THROWS_WITH_AS(encode_gif({}, 2, 2, 1), doctest::Contains("no frames"), Error);
  CHECK_THROWS_WITH_AS(encode_gif({std::vector<uint8_t>(4), std::vector<uint8_t>(5)}, 2, 2, 1),
                       doctest::Contains("frame 1 has 5 pixels, expected 2x2 = 4"), Error);
  CHECK_THROWS_WITH_AS(encode_gif({{1}}, 0, 1, 1), doctest::Contains("picture size 0x1"), Error);
  CHECK_THROWS_WITH_AS(encode_gif({{1}}, 1, 1, -2), doctest::Contains("delays"), Error);
  CHECK_THROWS_WITH_AS(write_gif(path, std::vector<Tensor>{a, zeros({1, 3, 3})}, 1),
                       doctest::Contains("frame 1 is 3x3, frame 0 is 3x2"), Error);
  CHECK_THROWS_WITH_AS(write_gif(path, std::vector<Tensor>{zeros({3, 4, 4})}, 1),
                       doctest::Contains("to_grayscale"), Error);
  CHECK_THROWS_WITH_AS(write_gif(path, std::vector<Tensor>{}, 1), doctest::Contains("no frames"),
                       Error);
  CHECK_THROWS_WITH_AS(write_gif(dir.path("missing/film.gif"), std::vector<Tensor>{a}, 1),
                       doctest::Contains("does not exist"), Error);
}
