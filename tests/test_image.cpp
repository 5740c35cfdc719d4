// test_image.cpp — image utilities: ranges, resizing (against PyTorch), grey-scale, nearest
// upscaling, make_grid's layout (and tile_rows'), PNG files written and read back, decode_image
// from bytes.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "diffusion/tools/data.h"  // read_file
#include "diffusion/tools/image.h"
#include "diffusion/tools/strip.h"
#include "tensor/error.h"
#include "tests/helpers.h"
#include "tests/temp_dir.h"

using namespace drift;
using namespace drift::diffusion;

namespace {
const Tensor& expected(const std::string& name) {
  return test::fixture("diffusion").at(name);
}
}  // namespace

TEST_CASE("[0,1] <-> [-1,1] round trip, with clamping") {
  Tensor image = from_vector({0.0f, 0.25f, 0.5f, 1.0f, 1.5f, -0.2f}, Shape{1, 2, 3});
  Tensor model = normalize_to_neg_one_to_one(image);
  CHECK_CLOSE(model, from_vector({-1.0f, -0.5f, 0.0f, 1.0f, 1.0f, -1.0f}, Shape{1, 2, 3}), 1e-7, 0);
  Tensor back = unnormalize_to_zero_to_one(model);
  CHECK_CLOSE(back, from_vector({0.0f, 0.25f, 0.5f, 1.0f, 1.0f, 0.0f}, Shape{1, 2, 3}), 1e-7, 0);
  // Samples overshoot [-1, 1]; pixels are clamped.
  CHECK_CLOSE(unnormalize_to_zero_to_one(from_vector({-3.0f, 3.0f})), from_vector({0.0f, 1.0f}), 0,
              0);
}

TEST_CASE("resize matches torch.nn.functional.interpolate") {
  Tensor input = expected("resize.input");  // [1, 2, 5, 7]
  CHECK_CLOSE(resize(input, 3, 4, ResizeFilter::Bilinear), expected("resize.bilinear_3x4"), 1e-6,
              1e-5);
  CHECK_CLOSE(resize(input, 9, 11, ResizeFilter::Bilinear), expected("resize.bilinear_9x11"), 1e-6,
              1e-5);
  CHECK_CLOSE(resize(input, 3, 4, ResizeFilter::Area), expected("resize.area_3x4"), 1e-6, 1e-5);
  CHECK_CLOSE(resize(input, 2, 3, ResizeFilter::Area), expected("resize.area_2x3"), 1e-6, 1e-5);
  CHECK_CLOSE(resize(input, 3, 4, ResizeFilter::Nearest), expected("resize.nearest_3x4"), 0, 0);
  CHECK_CLOSE(resize(input, 9, 11, ResizeFilter::Nearest), expected("resize.nearest_9x11"), 0, 0);
  // [C, H, W] works like a batch of one.
  Tensor single = reshape(input, Shape{2, 5, 7});
  CHECK(resize(single, 3, 4).shape() == Shape{2, 3, 4});
}

TEST_CASE("resize of known patterns") {
  // A 4x4 checkerboard shrunk 2x by area averaging is flat grey.
  std::vector<float> board(16);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) board[y * 4 + x] = static_cast<float>((x + y) % 2);
  Tensor small = resize(from_vector(board, Shape{1, 4, 4}), 2, 2, ResizeFilter::Area);
  CHECK_CLOSE(small, full({1, 2, 2}, 0.5f), 1e-7, 0);
  // Bilinear: a horizontal ramp stays a ramp (inside, away from the clamped border).
  std::vector<float> ramp(4 * 8);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 8; ++x) ramp[y * 8 + x] = static_cast<float>(x);
  std::vector<float> up = resize(from_vector(ramp, Shape{1, 4, 8}), 8, 16).to_vector();
  for (int x = 1; x < 15; ++x) CHECK(up[3 * 16 + x] == doctest::Approx((x + 0.5) / 2.0 - 0.5));
  // Same size: unchanged.
  Tensor r = randn({3, 5, 6});
  CHECK_CLOSE(resize(r, 5, 6), r, 1e-6, 0);
  CHECK_CLOSE(resize(r, 5, 6, ResizeFilter::Area), r, 1e-6, 0);
  CHECK_THROWS_WITH_AS(resize(r, 0, 4), doctest::Contains("must be positive"), Error);
  CHECK_THROWS_WITH_AS(resize(zeros({4, 4}), 2, 2), doctest::Contains("[C, H, W]"), Error);
}

TEST_CASE("grey-scale uses the ITU-R 601 weights") {
  Tensor rgb =
      from_vector({1.f, 0.f, 0.f, 1.f, 0.f, 1.f, 0.f, 1.f, 0.f, 0.f, 1.f, 1.f}, Shape{3, 1, 4});
  // pixel 0: red, 1: green, 2: blue, 3: white
  CHECK_CLOSE(to_grayscale(rgb), from_vector({0.299f, 0.587f, 0.114f, 1.0f}, Shape{1, 1, 4}), 1e-6,
              0);
  CHECK(to_grayscale(zeros({2, 3, 4, 4})).shape() == Shape{2, 1, 4, 4});
  CHECK(to_grayscale(zeros({1, 4, 4})).shape() == Shape{1, 4, 4});
  CHECK_THROWS_WITH_AS(to_grayscale(zeros({2, 4, 4})), doctest::Contains("1 or 3 channels"), Error);
}

TEST_CASE("nearest upscaling repeats each pixel") {
  Tensor x = from_vector({1.f, 2.f, 3.f, 4.f}, Shape{1, 1, 2, 2});
  Tensor up = upscale_nearest(x, 3);
  CHECK(up.shape() == Shape{1, 1, 6, 6});
  CHECK(up.at({0, 0, 0, 0}) == 1.f);
  CHECK(up.at({0, 0, 2, 2}) == 1.f);
  CHECK(up.at({0, 0, 2, 3}) == 2.f);
  CHECK(up.at({0, 0, 5, 0}) == 3.f);
  CHECK(up.at({0, 0, 5, 5}) == 4.f);
}

TEST_CASE("make_grid: torchvision's layout and padding") {
  // 7 images of 2 channels, 3x4 pixels, image k filled with k+1; 3 per row, padding 2.
  const int64_t N = 7, C = 2, H = 3, W = 4, nrow = 3, pad = 2;
  std::vector<float> values;
  for (int64_t k = 0; k < N; ++k)
    for (int64_t i = 0; i < C * H * W; ++i) values.push_back(static_cast<float>(k + 1));
  Tensor grid = make_grid(from_vector(values, Shape{N, C, H, W}), nrow, pad, -1.0f);
  const int64_t rows = 3, grid_h = rows * (H + pad) + pad, grid_w = nrow * (W + pad) + pad;
  CHECK(grid.shape() == Shape{C, grid_h, grid_w});
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < grid_h; ++y)
      for (int64_t x = 0; x < grid_w; ++x) {
        // Which image covers (y, x), if any.
        float want = -1.0f;
        int64_t cy = y - pad, cx = x - pad;
        if (cy >= 0 && cx >= 0 && cy % (H + pad) < H && cx % (W + pad) < W) {
          int64_t k = (cy / (H + pad)) * nrow + cx / (W + pad);
          if (k < N) want = static_cast<float>(k + 1);
        }
        INFO("c " << c << " y " << y << " x " << x);
        REQUIRE(grid.at({c, y, x}) == want);
      }
  // Fewer images than nrow: one row, as wide as the images.
  CHECK(make_grid(zeros({2, 3, 8, 8}), 5, 2).shape() == Shape{3, 12, 22});
  CHECK(make_grid(zeros({1, 1, 8, 8}), 8, 0).shape() == Shape{1, 8, 8});
  CHECK_THROWS_WITH_AS(make_grid(zeros({3, 8, 8})), doctest::Contains("[N, C, H, W]"), Error);
}

TEST_CASE("PNG written and read back") {
  test::TempDir dir("png");
  // A 3x5 RGB gradient, values on the 8-bit grid so the round trip is exact.
  std::vector<float> values(3 * 5 * 7);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<float>((i * 37) % 256) / 255.0f;
  Tensor image = from_vector(values, Shape{3, 5, 7});
  const std::string path = dir.path("rgb.png");
  save_png(path, image);
  Tensor back = load_image(path);
  CHECK(back.shape() == Shape{3, 5, 7});
  CHECK_CLOSE(back, image, 1e-6, 0);
  // Grey, [H, W], and a batch of one.
  save_png(dir.path("grey.png"), reshape(slice(image, 0, 0, 1), Shape{5, 7}));
  CHECK(load_image(dir.path("grey.png")).shape() == Shape{1, 5, 7});
  save_png(dir.path("one.png"), reshape(image, Shape{1, 3, 5, 7}));
  CHECK_CLOSE(load_image(dir.path("one.png")), image, 1e-6, 0);
  // Converting channels on load.
  CHECK(load_image(path, 1).shape() == Shape{1, 5, 7});
  CHECK(load_image(dir.path("grey.png"), 3).shape() == Shape{3, 5, 7});
  // Values are clamped and rounded to the nearest 8-bit level.
  save_png(dir.path("clamp.png"), from_vector({-0.5f, 2.0f, 0.5f, 0.3f}, Shape{1, 1, 4}));
  std::vector<float> clamped = load_image(dir.path("clamp.png")).to_vector();
  CHECK(clamped[0] == 0.0f);
  CHECK(clamped[1] == 1.0f);
  CHECK(clamped[2] == doctest::Approx(128.0 / 255.0));  // 127.5 rounds up
  CHECK(clamped[3] == doctest::Approx(77.0 / 255.0));   // 76.5 rounds up
}

TEST_CASE("decode_image: the bytes of a file, with load_image's checks and messages") {
  test::TempDir dir("decode-image");
  std::vector<float> values(3 * 4 * 5);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<float>((i * 53) % 256) / 255.0f;
  const Tensor image = from_vector(values, Shape{3, 4, 5});
  save_png(dir.path("rgb.png"), image);
  const std::string bytes = read_file(dir.path("rgb.png"));
  CHECK_CLOSE(decode_image(bytes, 0, "rgb"), image, 1e-6, 0);
  CHECK_CLOSE(decode_image(bytes, 3, "rgb"), load_image(dir.path("rgb.png"), 3), 0, 0);
  CHECK(decode_image(bytes, 1, "rgb").shape() == Shape{1, 4, 5});
  CHECK(decode_image(bytes, 4, "rgb").shape() == Shape{4, 4, 5});
  CHECK_THROWS_WITH_AS(decode_image(bytes.substr(0, 20), 0, "cut.png"),
                       doctest::Contains("cannot decode 'cut.png'"), Error);
  CHECK_THROWS_WITH_AS(decode_image("", 0, "empty"), doctest::Contains("cannot decode 'empty'"),
                       Error);
  CHECK_THROWS_WITH_AS(decode_image(bytes, 2, "rgb"), doctest::Contains("channels must be"), Error);
  std::string wide = bytes;
  wide[16 + 2] = '\x4E';  // the IHDR width 5 -> 19973: refused from the header alone
  CHECK_THROWS_WITH_AS(decode_image(wide, 0, "wide.png"),
                       doctest::Contains("'wide.png' is 19973 x 4 pixels, larger than"), Error);
}

TEST_CASE("decode_image: a JPEG Huffman table of more than 256 symbols is refused before stb") {
  // stb_image 2.27 would build the table first and write past its arrays (fuzz_image found it).
  // A real JPEG (stb_image_write's, kept as a fuzz seed: its JPEG writer shifts negative
  // values, which UBSan stops in `make sanitize`, so it is not run here).
  const std::string jpeg = read_file(DRIFT_FIXTURE_DIR "/../fuzz/corpus/image/rgb_16x16.jpg");
  CHECK(decode_image(jpeg, 0, "good.jpg").shape() == Shape{3, 16, 16});  // a real JPEG still loads
  // DHT: length 2 + 17 + 257, class 0 id 0, 255 codes of 1 bit and 2 of 2 bits, 257 symbols.
  std::string dht = "\xFF\xC4\x01\x14";
  dht += '\0';
  dht += "\xFF\x02" + std::string(14, '\0') + std::string(257, '\x01');
  const std::string bad_header = "\xFF\xD8" + dht + "\xFF\xD9";
  CHECK_THROWS_WITH_AS(decode_image(bad_header, 0, "dht.jpg"),
                       doctest::Contains("cannot decode 'dht.jpg': corrupt JPEG: a Huffman table "
                                         "(DHT) of 257 symbols (at most 256)"),
                       Error);
  // The same table after the image data, where a progressive JPEG puts its later tables.
  REQUIRE(jpeg.substr(jpeg.size() - 2) == "\xFF\xD9");
  const std::string bad_later = jpeg.substr(0, jpeg.size() - 2) + dht + "\xFF\xD9";
  CHECK_THROWS_WITH_AS(decode_image(bad_later, 0, "later.jpg"), doctest::Contains("of 257 symbols"),
                       Error);
}

TEST_CASE("decode_image: a PNG whose first IDAT chunk is empty is refused before stb") {
  // stb_image 2.27 would memcpy 0 bytes to a null pointer for it (fuzz_image found it).
  test::TempDir dir("empty-idat");
  save_png(dir.path("grey.png"), full({1, 3, 4}, 0.5f));
  const std::string png = read_file(dir.path("grey.png"));
  REQUIRE(png.substr(12, 4) == "IHDR");
  const size_t after_ihdr = 8 + 12 + 13;  // signature, then IHDR: length, type, 13 bytes, CRC
  REQUIRE(png.substr(after_ihdr + 4, 4) == "IDAT");
  const std::string empty_idat("\0\0\0\0IDAT\x35\xAF\x06\x1E", 12);  // CRC-32 of "IDAT"
  const std::string bad = png.substr(0, after_ihdr) + empty_idat + png.substr(after_ihdr);
  CHECK_THROWS_WITH_AS(decode_image(bad, 0, "empty.png"),
                       doctest::Contains("'empty.png': unsupported PNG: its first IDAT chunk is "
                                         "empty"),
                       Error);
  CHECK(decode_image(png, 0, "grey.png").shape() == Shape{1, 3, 4});  // the file without it
}

TEST_CASE("load_picture: centre crop to a square, resize, model range, a batch of one") {
  test::TempDir dir("load-picture");
  // 6 wide, 4 high: columns 0..5 hold 0, 0.2, ..., 1.0 (red), green is 1 everywhere.
  std::vector<float> values(3 * 4 * 6, 0.0f);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 6; ++x) {
      values[static_cast<size_t>((0 * 4 + y) * 6 + x)] = 0.2f * static_cast<float>(x);
      values[static_cast<size_t>((1 * 4 + y) * 6 + x)] = 1.0f;
    }
  const std::string path = dir.path("wide.png");
  save_png(path, from_vector(values, Shape{3, 4, 6}));
  Tensor same = load_picture(path, 4);  // the central 4x4: columns 1..4
  REQUIRE(same.shape() == Shape{1, 3, 4, 4});
  CHECK(same.at({0, 0, 0, 0}) == doctest::Approx(2 * (51 / 255.0) - 1).epsilon(1e-5));
  CHECK(same.at({0, 0, 3, 3}) == doctest::Approx(2 * (204 / 255.0) - 1).epsilon(1e-5));
  CHECK(same.at({0, 1, 2, 2}) == doctest::Approx(1.0));   // green 1 -> +1
  CHECK(same.at({0, 2, 2, 2}) == doctest::Approx(-1.0));  // blue 0 -> -1
  Tensor small = load_picture(path, 2);  // area-averaged pairs of columns: (1, 2) and (3, 4)
  REQUIRE(small.shape() == Shape{1, 3, 2, 2});
  CHECK(small.at({0, 0, 0, 0}) == doctest::Approx(2 * ((51 + 102) / 510.0) - 1).epsilon(1e-5));
  Tensor grey = load_picture(path, 8, 1);  // one channel, enlarged
  CHECK(grey.shape() == Shape{1, 1, 8, 8});
  CHECK_THROWS_WITH_AS(load_picture(dir.path("missing.png"), 4), doctest::Contains("missing.png"),
                       Error);
}

TEST_CASE("image files: clear errors") {
  test::TempDir dir("bad-image");
  CHECK_THROWS_WITH_AS(
      load_image(dir.path("missing.png")),
      doctest::Contains(("no such file: '" + dir.path("missing.png") + "'").c_str()), Error);
  {
    std::ofstream f(dir.path("corrupt.jpg"), std::ios::binary);
    f << "\xFF\xD8\xFF\xE0 this is not really a JPEG";
  }
  CHECK_THROWS_WITH_AS(
      load_image(dir.path("corrupt.jpg")),
      doctest::Contains(("cannot decode '" + dir.path("corrupt.jpg") + "'").c_str()), Error);
  {
    // A valid PNG signature and IHDR chunk claiming 20000 x 20000 pixels (stb itself
    // would allocate the 400 M pixels), nothing after.
    // clang-format off
    const unsigned char header[] = {
        0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n',  // the signature
        0, 0, 0, 13, 'I', 'H', 'D', 'R',               // the IHDR chunk, 13 bytes:
        0, 0, 0x4E, 0x20, 0, 0, 0x4E, 0x20,            // width 20000, height 20000
        8, 0, 0, 0, 0,                                 // 8-bit grey
        0, 0, 0, 0};                                   // CRC (stb does not check it)
    // clang-format on
    std::ofstream f(dir.path("huge.png"), std::ios::binary);
    f.write(reinterpret_cast<const char*>(header), sizeof header);
  }
  CHECK_THROWS_WITH_AS(load_image(dir.path("huge.png")),
                       doctest::Contains("is 20000 x 20000 pixels, larger than load_image accepts"),
                       Error);
  {
    std::ofstream f(dir.path("picture.bmp"), std::ios::binary);
    f << "BM" << std::string(60, '\0');  // a format the project does not decode
  }
  CHECK_THROWS_WITH_AS(load_image(dir.path("picture.bmp")), doctest::Contains("cannot decode"),
                       Error);
  CHECK_THROWS_WITH_AS(save_png(dir.path("nowhere/x.png"), zeros({1, 2, 2})),
                       doctest::Contains("does not exist"), Error);
  CHECK_THROWS_WITH_AS(save_png(dir.path("x.png"), zeros({5, 2, 2})),
                       doctest::Contains("C in 1..4"), Error);
  CHECK_THROWS_WITH_AS(load_image(dir.path("missing.png"), 2),
                       doctest::Contains("channels must be"), Error);
}

TEST_CASE("tile_rows: rows under rows, short rows filled with white; pick_evenly") {
  const Tensor black = zeros({1, 1, 2, 2}), grey = full({1, 1, 2, 2}, 0.5f);
  // Row 0: black, grey; row 1: black only, so its second tile is white (1).
  const Tensor grid = tile_rows({{black, grey}, {black}});
  CHECK(grid.shape() == Shape{1, 2 * 4 + 2, 2 * 4 + 2});  // make_grid's layout, padding 2
  const std::vector<float> v = grid.to_vector();
  auto at = [&](int64_t y, int64_t x) { return v[size_t(y * grid.size(2) + x)]; };
  CHECK(at(2, 2) == 0.0f);  // row 0, tile 0
  CHECK(at(2, 6) == 0.5f);  // row 0, tile 1
  CHECK(at(6, 2) == 0.0f);  // row 1, tile 0
  CHECK(at(6, 6) == 1.0f);  // row 1, the filler
  CHECK(at(0, 0) == 1.0f);  // white gaps
  // At least 3 columns when asked for.
  CHECK(tile_rows({{black}}, 3).shape() == Shape{1, 6, 3 * 4 + 2});

  std::vector<Tensor> tiles;
  for (int i = 0; i < 25; ++i) tiles.push_back(full({1, 1, 1, 1}, float(i)));
  std::vector<float> picked;
  for (const Tensor& t : pick_evenly(tiles, 5)) picked.push_back(t.item());
  CHECK(picked == std::vector<float>{0, 6, 12, 18, 24});  // first and last always
  CHECK(pick_evenly(std::vector<Tensor>(tiles.begin(), tiles.begin() + 3), 5).size() == 3);
}
