// dataset.cpp — ImageDataset and DataLoader (see dataset.h).
#include "diffusion/tools/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "tensor/error.h"

namespace drift {
namespace diffusion {

namespace {

// SplitMix64 (Steele, Lea & Flood 2014): a 64-bit counter through a bijective mixer. Small,
// fast, and the same numbers on every compiler and standard library (std::shuffle and
// std::uniform_int_distribution are not), so an epoch's order is reproducible anywhere.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t state) : state_(state) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n), without bias: Lemire's multiply-and-reject (2019).
  uint64_t below(uint64_t n) {
    unsigned __int128 m = static_cast<unsigned __int128>(next()) * n;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < n) {
      const uint64_t threshold = (0 - n) % n;  // 2^64 mod n
      while (low < threshold) {
        m = static_cast<unsigned __int128>(next()) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

 private:
  uint64_t state_;
};

// One independent stream per (seed, epoch, purpose): each input goes through the mixer so
// nearby seeds and epochs give unrelated streams.
SplitMix64 stream(uint64_t seed, int64_t epoch, uint64_t purpose) {
  SplitMix64 mix(seed);
  uint64_t state = mix.next();
  state ^= SplitMix64(static_cast<uint64_t>(epoch) ^ (purpose << 62)).next();
  return SplitMix64(state);
}

}  // namespace

// ---- ImageDataset ---------------------------------------------------------------------------

ImageDataset::ImageDataset(const Tensor& images, const Tensor& labels, std::string name)
    : name_(std::move(name)) {
  DRIFT_CHECK(
      images.defined() && images.ndim() == 4,
      "ImageDataset '" << name_ << "': images must be [N, C, H, W], got " << describe(images));
  DRIFT_CHECK(labels.defined() && labels.ndim() == 1 && labels.size(0) == images.size(0),
              "ImageDataset '" << name_ << "': labels must be [" << images.size(0)
                               << "] (one per picture), got " << describe(labels));
  images_ = images.cpu().clone();
  channels_ = images.size(1);
  height_ = images.size(2);
  width_ = images.size(3);
  const float* p = images_.data();
  for (int64_t i = 0; i < images_.numel(); ++i)
    DRIFT_CHECK(p[i] >= -1.0f && p[i] <= 1.0f,
                "ImageDataset '" << name_ << "': value " << p[i] << " of picture "
                                 << i / image_numel() << " is outside [-1, 1] (model range; "
                                 << "scale [0, 1] pictures with x · 2 - 1)");
  const std::vector<float> values = labels.to_vector();
  labels_.reserve(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    DRIFT_CHECK(values[i] >= 0.0f && std::floor(values[i]) == values[i],
                "ImageDataset '" << name_ << "': label " << values[i] << " of picture " << i
                                 << " is not a whole number >= 0");
    labels_.push_back(static_cast<int64_t>(values[i]));
  }
}

ImageDataset ImageDataset::load(const std::string& name, const std::string& split,
                                const DataSearch& search, int64_t limit) {
  const DataLocation found = find_dataset(name, search);
  MnistSplit data = load_mnist(found.path, split, limit);
  float* p = data.images.data();
  for (int64_t i = 0; i < data.images.numel(); ++i) p[i] = p[i] * 2.0f - 1.0f;  // [0,1] -> [-1,1]
  return ImageDataset(data.images, data.labels, name + " " + split);
}

ImageDataset ImageDataset::load(const std::string& name, const std::string& split,
                                const std::string& flag_dir, int64_t limit) {
  return load(name, split, DataSearch::defaults(flag_dir), limit);
}

const float* ImageDataset::image_data(int64_t i) const {
  DRIFT_CHECK(i >= 0 && i < size(), "ImageDataset '" << name_ << "': picture " << i
                                                     << " out of range [0, " << size() << ")");
  return images_.data() + i * image_numel();
}

int64_t ImageDataset::label(int64_t i) const {
  DRIFT_CHECK(i >= 0 && i < size(), "ImageDataset '" << name_ << "': label " << i
                                                     << " out of range [0, " << size() << ")");
  return labels_[static_cast<size_t>(i)];
}

Tensor ImageDataset::image(int64_t i) const {
  const float* p = image_data(i);
  Tensor out = Tensor::empty({channels_, height_, width_});
  std::memcpy(out.data(), p, sizeof(float) * static_cast<size_t>(image_numel()));
  return out;
}

Tensor ImageDataset::labels() const {
  std::vector<float> values(labels_.begin(), labels_.end());
  return from_vector(values, Shape{size()});
}

// ---- DataLoader -----------------------------------------------------------------------------

DataLoader::DataLoader(const ImageDataset& dataset, const LoaderOptions& options)
    : dataset_(dataset), options_(options) {
  const int64_t n = dataset.size(), b = options.batch_size;
  DRIFT_CHECK(b >= 1, "DataLoader: batch size must be at least 1, got " << b);
  DRIFT_CHECK(n >= 1, "DataLoader: the dataset '" << dataset.name() << "' is empty");
  batches_per_epoch_ = options.drop_last ? n / b : (n + b - 1) / b;
  DRIFT_CHECK(batches_per_epoch_ >= 1, "DataLoader: batch size "
                                           << b << " is larger than the dataset '" << dataset.name()
                                           << "' (" << n
                                           << " pictures) and drop_last leaves no batch; use a "
                                              "smaller batch or drop_last = false");
  start_epoch(0);
}

std::vector<int64_t> DataLoader::order(int64_t epoch) const {
  DRIFT_CHECK(epoch >= 0, "DataLoader: epoch " << epoch << " < 0");
  const int64_t n = dataset_.size();
  std::vector<int64_t> indices(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) indices[static_cast<size_t>(i)] = i;
  if (!options_.shuffle) return indices;
  // Fisher-Yates (Knuth, TAOCP vol. 2, Algorithm P): every permutation equally likely.
  SplitMix64 rng = stream(options_.seed, epoch, 0);
  for (int64_t i = n - 1; i > 0; --i)
    std::swap(indices[static_cast<size_t>(i)], indices[rng.below(static_cast<uint64_t>(i) + 1)]);
  return indices;
}

std::vector<bool> DataLoader::flips(int64_t epoch) const {
  DRIFT_CHECK(epoch >= 0, "DataLoader: epoch " << epoch << " < 0");
  std::vector<bool> flip(static_cast<size_t>(dataset_.size()), false);
  if (!options_.random_flip) return flip;
  SplitMix64 rng = stream(options_.seed, epoch, 1);  // its own stream: the order is unchanged
  for (size_t i = 0; i < flip.size(); ++i) flip[i] = (rng.next() >> 63) != 0;
  return flip;
}

void DataLoader::start_epoch(int64_t epoch) {
  epoch_ = epoch;
  batch_in_epoch_ = 0;
  order_ = order(epoch);
  flips_ = flips(epoch);
}

void DataLoader::seek(int64_t batches) {
  DRIFT_CHECK(batches >= 0, "DataLoader::seek: " << batches << " batches < 0");
  // The state after `batches` calls of next(): at an epoch's end, that epoch is done (the
  // next call starts the following one), as in an uninterrupted run.
  const int64_t epoch = batches == 0 ? 0 : (batches - 1) / batches_per_epoch_;
  if (epoch != epoch_ || order_.empty()) start_epoch(epoch);
  batch_in_epoch_ = batches - epoch * batches_per_epoch_;
}

Batch DataLoader::next() {
  if (epoch_done()) start_epoch(epoch_ + 1);
  const int64_t n = dataset_.size();
  const int64_t first = batch_in_epoch_ * options_.batch_size;
  const int64_t count = std::min(options_.batch_size, n - first);
  const int64_t C = dataset_.channels(), H = dataset_.height(), W = dataset_.width();
  const size_t image_bytes = sizeof(float) * static_cast<size_t>(dataset_.image_numel());

  Batch batch;
  batch.epoch = epoch_;
  batch.images = Tensor::empty({count, C, H, W});
  batch.indices.resize(static_cast<size_t>(count));
  batch.flipped.resize(static_cast<size_t>(count));
  std::vector<float> labels(static_cast<size_t>(count));
  float* out = batch.images.data();
  for (int64_t j = 0; j < count; ++j) {
    const size_t position = static_cast<size_t>(first + j);
    const int64_t index = order_[position];
    const float* src = dataset_.image_data(index);
    float* dst = out + j * dataset_.image_numel();
    if (!flips_[position]) {
      std::memcpy(dst, src, image_bytes);
    } else {
      for (int64_t row = 0; row < C * H; ++row)  // each row of each channel, right to left
        std::reverse_copy(src + row * W, src + (row + 1) * W, dst + row * W);
    }
    batch.indices[static_cast<size_t>(j)] = index;
    batch.flipped[static_cast<size_t>(j)] = flips_[position];
    labels[static_cast<size_t>(j)] = static_cast<float>(dataset_.label(index));
  }
  batch.labels = from_vector(labels, Shape{count});
  ++batch_in_epoch_;
  return batch;
}

}  // namespace diffusion
}  // namespace drift
