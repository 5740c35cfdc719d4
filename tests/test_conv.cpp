// test_conv.cpp — the CPU convolution kernels (tensor/cpu/conv.cpp) against the definition
// (tests/conv_check.h), on shapes chosen to hit every path of the fast kernels: the direct
// "same" path (output = input / stride: stride 1 with padding (K-1)/2, stride 2 and 3 through
// phase planes, 1x1) and the im2col + GEMM path, on 1 and 2 threads; every case runs both
// algorithms (Auto and Im2col). Awkward on purpose: channel counts that are not multiples of the tile sizes (kMR
// output rows, 3 input channels per weight-gradient tile), planes that are not multiples of a
// vector or a strip (1x1, 1xN, Nx1, 3x3, 7x7), one image and many, groups and depthwise,
// planes large enough to be cut into several parts.
#include <doctest/doctest.h>

#include "tensor/cpu/conv_kernels.h"
#include "tensor/cpu/cpu_backend.h"
#include "tests/conv_check.h"
#include "tests/helpers.h"

using namespace drift;
using drift::test::check_conv_kernels_against_definition;
using drift::test::geometry;

TEST_CASE("direct (same) convolution equals the definition on awkward shapes") {
  manual_seed(31);
  SUBCASE("3x3, 16 -> 16 at 28x28, batch 3 (the U-Net's first level)") {
    check_conv_kernels_against_definition({3, 16, 28, 28}, {16, 16, 3, 3}, 1, 1, 1);
  }
  SUBCASE("3x3, 5 -> 9 channels at 7x7 (partial tiles everywhere)") {
    check_conv_kernels_against_definition({4, 5, 7, 7}, {9, 5, 3, 3}, 1, 1, 1);
  }
  SUBCASE("3x3, 1 -> 17 at 13x17 (one input channel, odd sizes)") {
    check_conv_kernels_against_definition({2, 1, 13, 17}, {17, 1, 3, 3}, 1, 1, 1);
  }
  SUBCASE("3x3, 7 -> 1 at 11x5 (one output channel)") {
    check_conv_kernels_against_definition({3, 7, 11, 5}, {1, 7, 3, 3}, 1, 1, 1);
  }
  SUBCASE("3x3 on a 1x1 plane (every tap but the centre is padding)") {
    check_conv_kernels_against_definition({5, 4, 1, 1}, {3, 4, 3, 3}, 1, 1, 1);
  }
  SUBCASE("3x3 on a 1 x 40 row and a 37 x 1 column") {
    check_conv_kernels_against_definition({2, 3, 1, 40}, {4, 3, 3, 3}, 1, 1, 1);
    check_conv_kernels_against_definition({2, 3, 37, 1}, {4, 3, 3, 3}, 1, 1, 1);
  }
  SUBCASE("3x3 on 3x3 and 4x12 planes (less than a vector, exactly a strip)") {
    check_conv_kernels_against_definition({6, 2, 3, 3}, {5, 2, 3, 3}, 1, 1, 1);
    check_conv_kernels_against_definition({2, 3, 4, 12}, {4, 3, 3, 3}, 1, 1, 1);
  }
  SUBCASE("3x3 on a 61 x 67 plane, batch 1 (several parts shared by the threads)") {
    check_conv_kernels_against_definition({1, 3, 61, 67}, {6, 3, 3, 3}, 1, 1, 1);
  }
  SUBCASE("5x5 padding 2, 7x7 padding 3") {
    check_conv_kernels_against_definition({2, 3, 9, 11}, {4, 3, 5, 5}, 1, 2, 1);
    check_conv_kernels_against_definition({2, 2, 10, 8}, {3, 2, 7, 7}, 1, 3, 1);
  }
  SUBCASE("3x1 and 1x5 kernels (padding 1, 0 and 0, 2)") {
    check_conv_kernels_against_definition(geometry({2, 3, 6, 7}, {4, 3, 3, 1}, 1, 1, 1, 0, 1));
    check_conv_kernels_against_definition(geometry({2, 3, 6, 7}, {4, 3, 1, 5}, 1, 1, 0, 2, 1));
  }
  SUBCASE("groups 2 and depthwise") {
    check_conv_kernels_against_definition({2, 6, 9, 10}, {10, 3, 3, 3}, 1, 1, 2);
    check_conv_kernels_against_definition({3, 5, 8, 9}, {5, 1, 3, 3}, 1, 1, 5);
    check_conv_kernels_against_definition({1, 4, 6, 6}, {8, 1, 3, 3}, 1, 1, 4);  // multiplier 2
  }
  SUBCASE("many small images (weight gradient in chunks of images)") {
    check_conv_kernels_against_definition({37, 4, 7, 7}, {6, 4, 3, 3}, 1, 1, 1);
  }
}

TEST_CASE("direct convolution with stride (phase planes) equals the definition") {
  manual_seed(33);
  SUBCASE("3x3 stride 2 padding 1 at 28x28, 16 -> 16, batch 3 (the U-Net's downsampling)") {
    check_conv_kernels_against_definition({3, 16, 28, 28}, {16, 16, 3, 3}, 2, 1, 1);
  }
  SUBCASE("3x3 stride 2 padding 1 on odd sizes (phases of different sizes)") {
    check_conv_kernels_against_definition({3, 5, 13, 15}, {7, 5, 3, 3}, 2, 1, 1);
    check_conv_kernels_against_definition({2, 3, 1, 9}, {4, 3, 3, 3}, 2, 1, 1);
  }
  SUBCASE("1x1 stride 2 (three of the four input phases get no gradient)") {
    check_conv_kernels_against_definition({2, 6, 5, 7}, {3, 6, 1, 1}, 2, 0, 1);
  }
  SUBCASE("4x4 stride 2 padding 1 on even sizes, 5x5 stride 2 padding 2") {
    check_conv_kernels_against_definition({2, 3, 10, 8}, {5, 3, 4, 4}, 2, 1, 1);
    check_conv_kernels_against_definition({2, 3, 9, 11}, {4, 3, 5, 5}, 2, 2, 1);
  }
  SUBCASE("3x3 stride 3 padding 1 (nine phases)") {
    check_conv_kernels_against_definition({2, 4, 11, 10}, {5, 4, 3, 3}, 3, 1, 1);
  }
  SUBCASE("stride 2 on a large plane, batch 1, and on many small images") {
    check_conv_kernels_against_definition({1, 3, 61, 67}, {6, 3, 3, 3}, 2, 1, 1);
    check_conv_kernels_against_definition({37, 4, 7, 7}, {6, 4, 3, 3}, 2, 1, 1);
  }
  SUBCASE("stride 2 with groups and depthwise") {
    check_conv_kernels_against_definition({2, 6, 9, 10}, {10, 3, 3, 3}, 2, 1, 2);
    check_conv_kernels_against_definition({3, 5, 8, 9}, {5, 1, 3, 3}, 2, 1, 5);
  }
}

TEST_CASE("im2col convolution equals the definition where the direct path does not apply") {
  manual_seed(32);
  SUBCASE("3x3 without padding (a smaller output)") {
    check_conv_kernels_against_definition({2, 3, 9, 8}, {4, 3, 3, 3}, 1, 0, 1);
  }
  SUBCASE("4x4 stride 2 padding 1 on an odd width (output not ceil(9 / 2))") {
    check_conv_kernels_against_definition({2, 3, 10, 9}, {5, 3, 4, 4}, 2, 1, 1);
  }
  SUBCASE("2x2 kernel, stride 1 (an even kernel cannot keep the size)") {
    check_conv_kernels_against_definition({2, 3, 6, 5}, {4, 3, 2, 2}, 1, 0, 1);
  }
  SUBCASE("different strides along h and w") {
    check_conv_kernels_against_definition(geometry({2, 3, 8, 9}, {4, 3, 3, 3}, 2, 1, 1, 1, 1));
  }
}

TEST_CASE("the direct path's masks: tap t of position q reads inside the image") {
  // A 3x3 kernel of ones on an image of ones counts, at every output pixel, the taps that
  // fall inside the image: 4 in the corners, 6 on the edges, 9 inside. Any wrong mask bit
  // changes a count.
  for (int64_t w : {1, 2, 5, 16, 17, 33}) {
    CAPTURE(w);
    const int64_t h = 3;
    Tensor x = ones({1, 1, h, w}), k = ones({1, 1, 3, 3}), y = full({1, 1, h, w}, NAN);
    const Conv2dGeometry g = geometry({1, 1, h, w}, {1, 1, 3, 3}, 1, 1, 1);
    cpu_backend().conv2d_forward(x.data(), k.data(), nullptr, y.data(), g);
    std::vector<float> expected;
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j) {
        const int64_t rows = (i > 0) + 1 + (i + 1 < h), cols = (j > 0) + 1 + (j + 1 < w);
        expected.push_back(static_cast<float>(rows * cols));
      }
    CHECK(y.to_vector() == expected);
  }
}
