// fuzz_image.cpp — decode_image (diffusion/tools/image.h: stb_image's PNG, JPEG and GIF
// decoders behind drift's size checks) on arbitrary bytes.
//
// The channel count asked for is 0 (as stored), 1, 3 or 4 by the input's size, so every
// conversion is reached. A picture decode_image accepts is [C, H, W] with the channels asked
// for (1..4 when 0), within the size limits, every value in [0, 1].
//
// The harness lowers the pixel limit to 2^20 (decode_image's max_pixels): decode_image accepts
// up to 2^28 by design, and a JPEG header of a few hundred bytes can claim that many (stb fills
// the missing data in), which costs seconds and gigabytes per input and would keep the fuzzer
// from exploring. The limit checks themselves are the same code either way.
#include <string>

#include "diffusion/tools/image.h"
#include "tests/fuzz/harness.h"

namespace {

int fuzz_image(const uint8_t* data, size_t size) {
  const int channels_by_size[] = {0, 1, 3, 4};
  const int channels = channels_by_size[size % 4];
  drift::fuzz::rejected_or_parsed([&] {
    const drift::Tensor picture =
        drift::diffusion::decode_image(drift::fuzz::bytes_of(data, size), channels, "fuzz",
                                       /*max_pixels=*/int64_t(1) << 20);
    drift::fuzz::expect(picture.ndim() == 3, "decode_image: not [C, H, W]");
    const int64_t C = picture.size(0);
    drift::fuzz::expect(channels == 0 ? C >= 1 && C <= 4 : C == channels,
                        "decode_image: " + std::to_string(C) + " channels for " +
                            std::to_string(channels) + " asked");
    const int64_t H = picture.size(1), W = picture.size(2);
    drift::fuzz::expect(H >= 1 && H <= 16384 && W >= 1 && W <= 16384 && H * W <= (1 << 20),
                        "decode_image: a picture outside the size limits");
    const float* values = picture.data();
    for (int64_t i = 0; i < picture.numel(); ++i)
      drift::fuzz::expect(values[i] >= 0.0f && values[i] <= 1.0f,
                          "decode_image: a value outside [0, 1]");
  });
  return 0;
}

}  // namespace

DRIFT_FUZZ_TARGET(image, fuzz_image)
