// make_corpus.cpp — writes the seed corpora of the fuzz harnesses, tests/fuzz/corpus/<harness>/:
// a handful of small valid files made with drift's own writers (save_safetensors, save_png,
// encode_gif; JPEG and deflate from stb_image_write, which drift links for PNG), plus a few
// truncated or edited copies so the fuzzer starts next to the error paths.
//
//   ./build/tests/fuzz_make_corpus tests/fuzz/corpus      # regenerate (deterministic)
//
// The files are committed; test_fuzz_corpus replays every harness over them in every build.
#include <stb/stb_image_write.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "diffusion/tools/data.h"  // crc32, read_file
#include "diffusion/tools/gif.h"
#include "diffusion/tools/image.h"
#include "tensor/error.h"
#include "tensor/io/safetensors.h"

// stb_image_write's deflate, compiled into drift_tools by stb_impl.cpp for PNG; its header
// declares it only inside the implementation, so the declaration is repeated here.
extern "C" unsigned char* stbi_zlib_compress(unsigned char* data, int data_len, int* out_len,
                                             int quality);

using namespace drift;
using namespace drift::diffusion;
namespace fs = std::filesystem;

namespace {

fs::path root;

void put(const std::string& harness, const std::string& name, const std::string& bytes) {
  fs::create_directories(root / harness);
  write_file_atomically((root / harness / name).string(), bytes);
}

std::string le32(uint32_t v) {
  std::string out;
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
  return out;
}

std::string be32(uint32_t v) {
  std::string out;
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xFF);
  return out;
}

// A values ramp that is neither flat nor noise: a, a + step, ... mod 256.
std::vector<float> ramp(size_t n, int step) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>((i * step) % 256) / 255.0f;
  return v;
}

// gzip (RFC 1952) around stb_image_write's deflate (its zlib stream less the 2-byte header
// and the Adler-32), with the FNAME field when `name` is given.
std::string gzip(const std::string& payload, const std::string& name = "") {
  int zlib_size = 0;
  unsigned char* zlib =
      stbi_zlib_compress(reinterpret_cast<unsigned char*>(const_cast<char*>(payload.data())),
                         static_cast<int>(payload.size()), &zlib_size, 8);
  DRIFT_CHECK(zlib != nullptr && zlib_size > 6, "make_corpus: stbi_zlib_compress failed");
  std::string out = {'\x1f', '\x8b', '\x08', static_cast<char>(name.empty() ? 0 : 0x08), 0, 0, 0,
                     0,      0,      '\x03'};
  if (!name.empty()) out += name + '\0';
  out.append(reinterpret_cast<const char*>(zlib) + 2, static_cast<size_t>(zlib_size - 6));
  std::free(zlib);
  return out + le32(crc32(payload)) + le32(static_cast<uint32_t>(payload.size()));
}

// IDX bytes of unsigned bytes with the given dimensions; values from `value(i)`.
template <class Value>
std::string idx(const std::vector<uint32_t>& dims, Value value) {
  std::string out = {0, 0, '\x08', static_cast<char>(dims.size())};
  size_t count = 1;
  for (uint32_t d : dims) out += be32(d), count *= d;
  for (size_t i = 0; i < count; ++i) out += static_cast<char>(value(i));
  return out;
}

std::string safetensors_bytes(const std::vector<std::pair<std::string, Tensor>>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  const fs::path tmp = fs::temp_directory_path() / "drift_make_corpus.safetensors";
  save_safetensors(tmp.string(), tensors, metadata);
  std::string bytes = read_file(tmp.string());
  fs::remove(tmp);
  return bytes;
}

// A safetensors file with a hand-written header: for the dtypes save_safetensors never writes.
std::string safetensors_raw(std::string header, const std::string& data) {
  while (header.size() % 8 != 0) header += ' ';
  std::string out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>((uint64_t(header.size()) >> (8 * i)) & 0xFF);
  return out + header + data;
}

std::string png_bytes(const Tensor& image) {
  const fs::path tmp = fs::temp_directory_path() / "drift_make_corpus.png";
  save_png(tmp.string(), image);
  std::string bytes = read_file(tmp.string());
  fs::remove(tmp);
  return bytes;
}

std::string jpeg_bytes(int width, int height, int channels, int quality) {
  std::vector<unsigned char> pixels(static_cast<size_t>(width * height * channels));
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<unsigned char>((i * 7) % 256);
  std::string out;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data),
                                               static_cast<size_t>(size));
  };
  DRIFT_CHECK(stbi_write_jpg_to_func(append, &out, width, height, channels, pixels.data(), quality),
              "make_corpus: stbi_write_jpg_to_func failed");
  return out;
}

void safetensors_corpus() {
  const std::string two =
      safetensors_bytes({{"conv.weight", from_vector(ramp(2 * 3, 31), Shape{2, 3})},
                         {"conv.bias", from_vector({0.5f, -1.0f, 2.0f}, Shape{3})}},
                        {{"format", "pt"}, {"step", "12"}});
  put("safetensors", "two_tensors.safetensors", two);
  put("safetensors", "empty.safetensors", safetensors_bytes({}));
  put("safetensors", "scalar_and_empty.safetensors",
      safetensors_bytes({{"step", from_vector({3.0f}, Shape{})}, {"none", zeros({0, 4})}}));
  // F16 1.0 and -2.0, BF16 1.0, F64 0.25: the conversions save_safetensors never needs.
  put("safetensors", "f16_bf16_f64.safetensors",
      safetensors_raw(R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                      R"("b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},)"
                      R"("d":{"dtype":"F64","shape":[1,1],"data_offsets":[6,14]}})",
                      std::string("\x00\x3c\x00\xc0\x80\x3f", 6) +
                          std::string("\x00\x00\x00\x00\x00\x00\xd0\x3f", 8)));
  put("safetensors", "truncated.safetensors", two.substr(0, two.size() - 5));
  std::string lying = two;  // the header length 8 bytes too long: it runs into the data
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i)
    header_size |= uint64_t(static_cast<unsigned char>(two[i])) << (8 * i);
  for (int i = 0; i < 8; ++i) lying[i] = static_cast<char>(((header_size + 8) >> (8 * i)) & 0xFF);
  put("safetensors", "header_too_long.safetensors", lying);
}

void json_corpus() {
  put("json", "safetensors_header.json",
      R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})");
  put("json", "config.json",
      "{\n  \"model\": \"C\", \"channels\": [32, 64, 128], \"lr\": 2e-4, \"ema\": 0.9999,\n"
      "  \"flags\": {\"flip\": true, \"resume\": false, \"out\": null},\n"
      "  \"steps\": 18446744073709551615, \"neg\": -1.5E+3, \"nested\": [[[{}]], []]\n}\n");
  put("json", "escapes.json",
      R"(["tab\there", "quote\" backslash\\ slash\/", "\u00e9\u4e2d\u0001", "\b\f\n\r", ""])");
  put("json", "truncated.json", R"({"a": [1, 2, {"b": "c)");
  put("json", "deep.json", std::string(60, '[') + std::string(60, ']'));
}

void idx_corpus() {
  const std::string images = idx({3, 4, 5}, [](size_t i) { return i % 251; });
  put("idx", "images_3x4x5.idx", images);
  put("idx", "labels_10.idx", idx({10}, [](size_t i) { return i % 10; }));
  put("idx", "images_3x4x5.idx.gz", gzip(images, "images.idx"));
  const std::string zeros_gz = gzip(idx({8, 28, 28}, [](size_t) { return 0; }));
  put("idx", "zeros_8x28x28.idx.gz", zeros_gz);
  put("idx", "truncated.idx.gz", zeros_gz.substr(0, zeros_gz.size() / 2));
  std::string wrong_type = images;
  wrong_type[2] = '\x0D';  // float values: refused
  put("idx", "float_type.idx", wrong_type);
}

void image_corpus() {
  // (The harness picks the channel count asked for by the input's size.)
  put("image", "rgb_5x7.png", png_bytes(from_vector(ramp(3 * 5 * 7, 37), Shape{3, 5, 7})));
  put("image", "grey_8x8.png", png_bytes(from_vector(ramp(64, 4), Shape{1, 8, 8})));
  put("image", "rgba_3x3.png", png_bytes(from_vector(ramp(4 * 9, 29), Shape{4, 3, 3})));
  put("image", "rgb_16x16.jpg", jpeg_bytes(16, 16, 3, 90));
  put("image", "grey_9x5.jpg", jpeg_bytes(9, 5, 1, 50));
  put("image", "two_frames_6x4.gif",
      encode_gif({std::vector<uint8_t>(24, 10), std::vector<uint8_t>(24, 200)}, 6, 4, 5));
  const std::string png = png_bytes(from_vector(ramp(3 * 5 * 7, 37), Shape{3, 5, 7}));
  put("image", "truncated.png", png.substr(0, png.size() - 12));
  std::string wide = png;
  wide[16 + 2] = '\x4E';  // IHDR width 5 -> 0x4E05 = 19973: past the 16384 limit
  put("image", "too_wide.png", wide);
  // A Huffman table of 257 symbols, after a real JPEG's data: stb_image 2.27 would write past
  // its arrays building it (fuzz_image's first finding; decode_image refuses it now).
  const std::string jpeg = jpeg_bytes(16, 16, 3, 90);
  std::string dht = "\xFF\xC4\x01\x14";
  dht += '\0';
  dht += "\xFF\x02" + std::string(14, '\0') + std::string(257, '\x01');
  put("image", "dht_257_symbols.jpg", jpeg.substr(0, jpeg.size() - 2) + dht + "\xFF\xD9");
  // An empty IDAT chunk before the one with the data: stb_image 2.27 would memcpy to a null
  // pointer (fuzz_image's second finding; decode_image refuses it now).
  const size_t after_ihdr = 8 + 12 + 13;
  put("image", "empty_first_idat.png",
      png.substr(0, after_ihdr) + std::string("\0\0\0\0IDAT\x35\xAF\x06\x1E", 12) +
          png.substr(after_ihdr));
}

void mnist_corpus() {
  // The harness's layout: a limit byte, the images length (2 bytes, little-endian), the images
  // file, the labels file.
  auto input = [](int limit, const std::string& images, const std::string& labels) {
    std::string out = {static_cast<char>(limit), static_cast<char>(images.size() & 0xFF),
                       static_cast<char>((images.size() >> 8) & 0xFF)};
    return out + images + labels;
  };
  const std::string images = idx({4, 5, 5}, [](size_t i) { return (i * 13) % 256; });
  const std::string labels = idx({4}, [](size_t i) { return (i * 3) % 10; });
  put("mnist", "four_5x5.bin", input(0, images, labels));
  put("mnist", "four_5x5_limit2.bin", input(2, images, labels));
  put("mnist", "four_5x5_gzip.bin", input(0, gzip(images), gzip(labels)));
  put("mnist", "count_mismatch.bin", input(0, images, idx({3}, [](size_t i) { return i; })));
  put("mnist", "label_10.bin", input(0, images, idx({4}, [](size_t i) { return 7 + i; })));
}

void gif_corpus() {
  // The harness's layout: width - 1, height - 1, frames - 1 (| 0x80: a last delay), delay,
  // last delay, then pixels (repeated cyclically).
  auto input = [](int w, int h, int frames, bool last, int delay, int last_delay,
                  const std::string& pixels) {
    std::string out = {static_cast<char>(w - 1), static_cast<char>(h - 1),
                       static_cast<char>((frames - 1) | (last ? 0x80 : 0)),
                       static_cast<char>(delay), static_cast<char>(last_delay)};
    return out + pixels;
  };
  put("gif", "flat_7x5.bin", input(7, 5, 1, false, 4, 0, std::string(1, '\xC8')));
  put("gif", "ramp_3_frames.bin", input(20, 10, 3, true, 5, 150, "\x00\x40\x80\xC0\xFF"));
  std::string noise(1024, '\0');
  uint32_t s = 2463534242u;
  for (char& c : noise) {
    s ^= s << 13, s ^= s >> 17, s ^= s << 5;  // xorshift32
    c = static_cast<char>(s >> 24);
  }
  put("gif", "noise_64x64.bin", input(64, 64, 2, false, 10, 0, noise));
  put("gif", "one_pixel.bin", input(1, 1, 1, false, 0, 0, ""));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_make_corpus DIR   (DIR = tests/fuzz/corpus)\n";
    return 2;
  }
  try {
    root = argv[1];
    safetensors_corpus();
    json_corpus();
    idx_corpus();
    image_corpus();
    mnist_corpus();
    gif_corpus();
  } catch (const Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  std::cout << "fuzz corpora written to " << root.string() << "/<harness>/\n";
  return 0;
}
