// test_dataset.cpp — ImageDataset and DataLoader on a synthetic data set (every pixel of every
// picture a different value, so a batch shows exactly which picture, which way round, sits
// where), and the real MNIST training set when it is found (skipped otherwise).
#include <doctest/doctest.h>

#include <algorithm>
#include <iostream>
#include <numeric>
#include <set>

#include "diffusion/tools/dataset.h"
#include "tensor/error.h"
#include "tests/helpers.h"

using namespace drift;
using namespace drift::diffusion;

namespace {

constexpr int64_t kN = 23, kC = 2, kH = 3, kW = 4, kPixels = kC * kH * kW;

// Picture i, pixel p (in C, H, W order) = -1 + 2 (i·kPixels + p) / (kN·kPixels - 1): all
// distinct, all in [-1, 1]. Label of picture i: (7 i) mod 10.
float value(int64_t i, int64_t p) {
  return -1.0f + 2.0f * static_cast<float>(i * kPixels + p) / static_cast<float>(kN * kPixels - 1);
}
ImageDataset synthetic() {
  std::vector<float> pixels, labels;
  for (int64_t i = 0; i < kN; ++i) {
    for (int64_t p = 0; p < kPixels; ++p) pixels.push_back(value(i, p));
    labels.push_back(static_cast<float>((7 * i) % 10));
  }
  return ImageDataset(from_vector(pixels, Shape{kN, kC, kH, kW}), from_vector(labels, Shape{kN}),
                      "synthetic");
}

// Checks that picture j of the batch is dataset picture batch.indices[j], mirrored exactly
// when batch.flipped[j], with its label.
void check_batch_contents(const ImageDataset& data, const Batch& batch) {
  const std::vector<float> images = batch.images.to_vector(), labels = batch.labels.to_vector();
  const int64_t B = batch.images.size(0);
  REQUIRE(batch.labels.shape() == Shape{B});
  REQUIRE(batch.indices.size() == static_cast<size_t>(B));
  for (int64_t j = 0; j < B; ++j) {
    const int64_t i = batch.indices[static_cast<size_t>(j)];
    const bool flip = batch.flipped[static_cast<size_t>(j)];
    CAPTURE(j);
    CAPTURE(i);
    CHECK(labels[static_cast<size_t>(j)] == static_cast<float>(data.label(i)));
    for (int64_t c = 0; c < kC; ++c)
      for (int64_t y = 0; y < kH; ++y)
        for (int64_t x = 0; x < kW; ++x) {
          const int64_t source_x = flip ? kW - 1 - x : x;
          const float expected = data.image_data(i)[(c * kH + y) * kW + source_x];
          REQUIRE(images[static_cast<size_t>(((j * kC + c) * kH + y) * kW + x)] == expected);
        }
  }
}

}  // namespace

TEST_CASE("ImageDataset: pictures and labels kept in order, range and shape checked") {
  ImageDataset data = synthetic();
  CHECK(data.size() == kN);
  CHECK(data.channels() == kC);
  CHECK(data.height() == kH);
  CHECK(data.width() == kW);
  CHECK(data.image_data(5)[3] == value(5, 3));
  CHECK(data.label(5) == 5);  // 35 mod 10
  CHECK(data.image(5).shape() == Shape{kC, kH, kW});
  CHECK(data.labels().to_vector()[9] == 3.0f);
  CHECK_THROWS_WITH_AS(ImageDataset(full({2, 1, 2, 2}, 1.5f), zeros({2})),
                       doctest::Contains("outside [-1, 1]"), Error);
  CHECK_THROWS_WITH_AS(ImageDataset(zeros({2, 1, 2, 2}), zeros({3})),
                       doctest::Contains("labels must be [2]"), Error);
  CHECK_THROWS_WITH_AS(ImageDataset(zeros({2, 2, 2}), zeros({2})),
                       doctest::Contains("[N, C, H, W]"), Error);
  CHECK_THROWS_WITH_AS(ImageDataset(zeros({2, 1, 2, 2}), full({2}, 0.5f)),
                       doctest::Contains("not a whole number"), Error);
  CHECK_THROWS_WITH_AS(data.image_data(kN), doctest::Contains("out of range"), Error);
}

TEST_CASE("DataLoader: each epoch a permutation, fixed by seed and epoch alone") {
  ImageDataset data = synthetic();
  DataLoader loader(data, {/*batch_size=*/5, /*seed=*/11});
  std::vector<int64_t> identity(kN);
  std::iota(identity.begin(), identity.end(), 0);
  std::vector<std::vector<int64_t>> orders;
  for (int64_t e = 0; e < 4; ++e) {
    std::vector<int64_t> order = loader.order(e);
    std::vector<int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == identity);                                   // a permutation
    CHECK(order != identity);                                    // shuffled
    CHECK(order == DataLoader(data, {5, 11}).order(e));          // same seed + epoch: same order
    for (const auto& earlier : orders) CHECK(order != earlier);  // other epochs: other orders
    orders.push_back(order);
  }
  CHECK(DataLoader(data, {5, 12}).order(0) != orders[0]);  // another seed
  LoaderOptions sequential{/*batch_size=*/5};
  sequential.shuffle = false;
  CHECK(DataLoader(data, sequential).order(3) == identity);
}

TEST_CASE("DataLoader: batches follow the epoch's order; drop_last; epochs roll over") {
  ImageDataset data = synthetic();
  DataLoader loader(data, {/*batch_size=*/5, /*seed=*/3});  // drop_last by default
  CHECK(loader.options().drop_last);
  CHECK(loader.batches_per_epoch() == 4);  // 23 / 5: 3 pictures left out each epoch
  for (int64_t e = 0; e < 3; ++e) {
    const std::vector<int64_t> order = loader.order(e);
    std::set<int64_t> seen;
    for (int64_t b = 0; b < 4; ++b) {
      // epoch_done() stays true after an epoch's last batch until next() starts the next one
      CHECK(loader.epoch_done() == (b == 0 && e > 0));
      Batch batch = loader.next();
      CHECK(batch.images.shape() == Shape{5, kC, kH, kW});
      CHECK(batch.epoch == e);
      CHECK(loader.epoch() == e);
      for (int64_t j = 0; j < 5; ++j)
        CHECK(batch.indices[static_cast<size_t>(j)] == order[static_cast<size_t>(b * 5 + j)]);
      seen.insert(batch.indices.begin(), batch.indices.end());
      check_batch_contents(data, batch);
      // values stay in [-1, 1]
      for (float v : batch.images.to_vector()) REQUIRE((v >= -1.0f && v <= 1.0f));
    }
    CHECK(seen.size() == 20);  // no picture twice in an epoch
    CHECK(loader.epoch_done());
    CHECK(loader.batches_served() == 4 * (e + 1));
  }
  // Without drop_last the epoch ends with the 3 left over.
  LoaderOptions keep;
  keep.batch_size = 5;
  keep.drop_last = false;
  DataLoader all(data, keep);
  CHECK(all.batches_per_epoch() == 5);
  std::set<int64_t> seen;
  for (int b = 0; b < 5; ++b) {
    Batch batch = all.next();
    CHECK(batch.images.size(0) == (b < 4 ? 5 : 3));
    seen.insert(batch.indices.begin(), batch.indices.end());
  }
  CHECK(seen.size() == static_cast<size_t>(kN));
  CHECK(all.epoch_done());
  CHECK(all.next().epoch == 1);
  // Errors: no batch at all, a zero batch size, an empty data set.
  CHECK_THROWS_WITH_AS(DataLoader(data, {100, 0}), doctest::Contains("larger than the dataset"),
                       Error);
  CHECK_THROWS_WITH_AS(DataLoader(data, {0, 0}), doctest::Contains("at least 1"), Error);
  ImageDataset empty;
  CHECK_THROWS_WITH_AS(DataLoader(empty, {1, 0}), doctest::Contains("empty"), Error);
}

TEST_CASE("DataLoader: seek(k) resumes exactly where k batches of a run left off") {
  ImageDataset data = synthetic();
  LoaderOptions options{/*batch_size=*/4, /*seed=*/9};
  options.random_flip = true;
  DataLoader run(data, options);  // 5 batches per epoch
  std::vector<Batch> batches;
  for (int i = 0; i < 13; ++i) batches.push_back(run.next());
  for (int64_t k : {0, 3, 5, 7, 10, 12}) {
    CAPTURE(k);
    DataLoader resumed(data, options);
    resumed.seek(k);
    CHECK(resumed.batches_served() == k);
    CHECK(resumed.epoch() == (k == 0 ? 0 : (k - 1) / 5));
    Batch batch = resumed.next();
    CHECK(batch.indices == batches[static_cast<size_t>(k)].indices);
    CHECK(batch.flipped == batches[static_cast<size_t>(k)].flipped);
    CHECK(max(abs(batch.images - batches[static_cast<size_t>(k)].images)).item() == 0.0f);
  }
}

TEST_CASE("DataLoader: random_flip mirrors exactly the pictures it says, only when enabled") {
  ImageDataset data = synthetic();
  LoaderOptions options{/*batch_size=*/kN, /*seed=*/5};
  CHECK_FALSE(options.random_flip);  // off by default
  DataLoader plain(data, options);
  int64_t flipped = 0, total = 0;
  for (int e = 0; e < 8; ++e) {
    Batch batch = plain.next();
    for (bool f : batch.flipped) CHECK_FALSE(f);
    check_batch_contents(data, batch);  // unflipped: the picture itself
  }
  options.random_flip = true;
  DataLoader flipping(data, options);
  for (int e = 0; e < 8; ++e) {
    Batch batch = flipping.next();
    CHECK(batch.indices == plain.order(e));  // flipping does not change the order
    check_batch_contents(data, batch);       // mirrored exactly where flipped[j]
    for (bool f : batch.flipped) flipped += f ? 1 : 0, total += 1;
  }
  // About half are mirrored: 184 coin flips, 5 standard deviations ≈ 34.
  CHECK(std::abs(static_cast<double>(flipped) - total / 2.0) < 34);
  CHECK(flipping.flips(2) == DataLoader(data, options).flips(2));
}

TEST_CASE("ImageDataset::load: the real MNIST training set (when it is found)") {
  ImageDataset train;
  try {
    train = ImageDataset::load("mnist", "train", DataSearch::defaults(""), 100);
  } catch (const Error& e) {
    std::cout << "[skipped] MNIST not found: " << e.what() << "\n";
    MESSAGE("skipped: MNIST not found");
    return;
  }
  CHECK(train.size() == 100);
  CHECK(train.channels() == 1);
  CHECK(train.height() == 28);
  CHECK(train.width() == 28);
  // The first training digit is a 5: 166 of its 784 bytes are not 0, they add up to 27525,
  // the first of them is 3 at row 5, column 12 (read with Python's gzip, independently).
  CHECK(train.label(0) == 5);
  const float* p = train.image_data(0);
  double byte_sum = 0;
  int nonzero = 0;
  for (int i = 0; i < 784; ++i) {
    REQUIRE((p[i] >= -1.0f && p[i] <= 1.0f));
    const double byte = (p[i] + 1.0) / 2.0 * 255.0;
    byte_sum += byte;
    nonzero += p[i] > -1.0f ? 1 : 0;
  }
  CHECK(nonzero == 166);
  CHECK(byte_sum == doctest::Approx(27525).epsilon(1e-5));
  CHECK(p[5 * 28 + 11] == -1.0f);
  CHECK(p[5 * 28 + 12] == doctest::Approx(3.0 / 255.0 * 2.0 - 1.0).epsilon(1e-6));
  // Through a loader without shuffling, picture 0 and its label come first.
  LoaderOptions options{/*batch_size=*/8};
  options.shuffle = false;
  DataLoader loader(train, options);
  Batch batch = loader.next();
  CHECK(batch.labels.to_vector()[0] == 5.0f);
  const std::vector<float> first = batch.images.to_vector();
  const std::vector<float> expected = train.image(0).to_vector();
  CHECK(std::equal(expected.begin(), expected.end(), first.begin()));
}

TEST_CASE("ImageDataset::load: a missing data set names the folders tried and the fix") {
  DataSearch nowhere;  // no folder at all to look in
  nowhere.system_dirs = {"/nonexistent-drift-datasets"};
  CHECK_THROWS_WITH_AS(ImageDataset::load("fashion-mnist", "train", nowhere),
                       doctest::Contains("/nonexistent-drift-datasets/fashion-mnist"), Error);
  CHECK_THROWS_WITH_AS(ImageDataset::load("fashion-mnist", "train", nowhere),
                       doctest::Contains("make data"), Error);
  CHECK_THROWS_WITH_AS(ImageDataset::load("fashion-mnist", "train", nowhere),
                       doctest::Contains("apt-get install dataset-fashion-mnist"), Error);
  CHECK_THROWS_WITH_AS(ImageDataset::load("cifar", "train", nowhere),
                       doctest::Contains("unknown data set"), Error);
}
