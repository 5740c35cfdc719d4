// fuzz_mnist.cpp — parse_mnist (diffusion/tools/data.h: two IDX files, each gzip'd or not,
// paired into images and labels) on two blobs carved from one input:
//
//   byte 0       the example limit (0 = all)
//   bytes 1..2   n, the images blob's length (little-endian; cut to what is there)
//   n bytes      the images file
//   the rest     the labels file
//
// A split parse_mnist accepts is images [N, 1, H, W] in [0, 1] and labels [N], each a class
// 0..9, N at most the limit.
#include <string>

#include "diffusion/tools/data.h"
#include "tests/fuzz/harness.h"

namespace {

int fuzz_mnist(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const int64_t limit = data[0];
  size_t images_size = size_t(data[1]) | size_t(data[2]) << 8;
  if (images_size > size - 3) images_size = size - 3;
  const std::string images = drift::fuzz::bytes_of(data + 3, images_size);
  const std::string labels = drift::fuzz::bytes_of(data + 3 + images_size, size - 3 - images_size);
  drift::fuzz::rejected_or_parsed([&] {
    const drift::diffusion::MnistSplit split =
        drift::diffusion::parse_mnist(images, "images", labels, "labels", limit);
    drift::fuzz::expect(split.images.ndim() == 4 && split.images.size(1) == 1,
                        "parse_mnist: images are not [N, 1, H, W]");
    const int64_t n = split.images.size(0);
    drift::fuzz::expect(split.labels.ndim() == 1 && split.labels.size(0) == n,
                        "parse_mnist: labels are not [N]");
    drift::fuzz::expect(limit == 0 || n <= limit, "parse_mnist: more examples than the limit");
    const float* pixels = split.images.data();
    for (int64_t i = 0; i < split.images.numel(); ++i)
      drift::fuzz::expect(pixels[i] >= 0.0f && pixels[i] <= 1.0f,
                          "parse_mnist: a pixel outside [0, 1]");
    const float* classes = split.labels.data();
    for (int64_t i = 0; i < n; ++i)
      drift::fuzz::expect(classes[i] >= 0.0f && classes[i] <= 9.0f &&
                              classes[i] == static_cast<float>(static_cast<int>(classes[i])),
                          "parse_mnist: a label that is not a class 0..9");
  });
  return 0;
}

}  // namespace

DRIFT_FUZZ_TARGET(mnist, fuzz_mnist)
