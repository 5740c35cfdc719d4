// dataset.h — a labelled set of pictures in memory, and the loader that hands it out in
// shuffled batches, one epoch after another.
//
// An ImageDataset holds N pictures [N, C, H, W] in model range [-1, 1] (Ho et al. section
// 3.3) with one whole-number label each, in one contiguous CPU buffer. A DataLoader walks it
// in batches: each epoch is a fresh permutation drawn from (seed, epoch) alone, so a run
// resumed at batch k (seek(k)) sees exactly the batches an uninterrupted run would have.
//
//   ImageDataset train = ImageDataset::load("mnist", "train", DataSearch::defaults(data_dir));
//   DataLoader loader(train, {/*batch_size=*/128, /*seed=*/0});
//   loader.seek(trainer.step());                   // resuming: skip the batches already seen
//   while (trainer.running()) {
//     Batch batch = loader.next();                 // [128, 1, 28, 28] in [-1, 1], labels [128]
//     trainer.step(ddpm_loss(model, scheduler, batch.images));
//   }
//
// A batch is copied with one memcpy per picture (a mirrored picture: one reversed copy per
// row); a batch of 128 MNIST digits is 401 KB (the bench row "loader mnist b128").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "diffusion/tools/data.h"
#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

class ImageDataset {
 public:
  ImageDataset() = default;  // empty (size 0)
  // From tensors: images [N, C, H, W] with every value in [-1, 1] (copied to the CPU), labels
  // [N] holding whole numbers >= 0. `name` is used in messages.
  ImageDataset(const Tensor& images, const Tensor& labels, std::string name = "images");

  // "mnist" or "fashion-mnist", split "train" (60,000) or "test" (10,000), found with
  // find_dataset (a missing data set is an error naming every folder tried and the command
  // that gets it). Pixels are byte/255 · 2 - 1. `limit` > 0 keeps the first `limit` pictures.
  static ImageDataset load(const std::string& name, const std::string& split,
                           const DataSearch& search, int64_t limit = 0);
  static ImageDataset load(const std::string& name, const std::string& split = "train",
                           const std::string& flag_dir = "", int64_t limit = 0);

  int64_t size() const { return static_cast<int64_t>(labels_.size()); }  // N
  int64_t channels() const { return channels_; }
  int64_t height() const { return height_; }
  int64_t width() const { return width_; }
  int64_t image_numel() const { return channels_ * height_ * width_; }  // C·H·W
  const std::string& name() const { return name_; }

  // Picture i's C·H·W values (channel, row, column order), and its label.
  const float* image_data(int64_t i) const;
  int64_t label(int64_t i) const;
  // Picture i as a [C, H, W] tensor (a copy); all of them [N, C, H, W]; the labels [N].
  Tensor image(int64_t i) const;
  const Tensor& images() const { return images_; }
  Tensor labels() const;

 private:
  Tensor images_;                // [N, C, H, W] on the CPU, contiguous
  std::vector<int64_t> labels_;  // N
  int64_t channels_ = 0, height_ = 0, width_ = 0;
  std::string name_;
};

struct LoaderOptions {
  int64_t batch_size = 128;
  uint64_t seed = 0;    // with the epoch number, decides every epoch's order and flips
  bool shuffle = true;  // false: every epoch in dataset order (evaluation)
  // true (the default): every batch has exactly batch_size pictures and the N mod batch_size
  // left over are skipped this epoch (others next epoch: the order changes). Training steps
  // then all see the same batch size. false: the epoch ends with one smaller batch.
  bool drop_last = true;
  // Mirror each picture left-right with probability 1/2 (decided per picture and epoch from
  // the seed). Off by default: it suits pictures of things (Fashion-MNIST's shoes, photos),
  // not digits — a flipped 3 is no digit, and a model trained on flips draws them.
  bool random_flip = false;
};

// One batch: the pictures [B, C, H, W], their labels [B] (float32 whole numbers, drift's
// index type) and, for tests and debugging, where each came from.
struct Batch {
  Tensor images;
  Tensor labels;
  std::vector<int64_t> indices;  // dataset index of each picture
  std::vector<bool> flipped;     // whether each picture was mirrored
  int64_t epoch = 0;             // the epoch it belongs to
};

class DataLoader {
 public:
  // Keeps a reference to `dataset` (keep it alive while the loader is used). Throws when
  // batch_size < 1, the dataset is empty, or drop_last leaves no batch at all.
  DataLoader(const ImageDataset& dataset, const LoaderOptions& options = {});

  // The next batch. Every call returns one: after an epoch's last batch the next call starts
  // the next epoch. (To walk exactly one epoch: batches_per_epoch() calls, or
  // `do { ... next() ... } while (!epoch_done());`.)
  Batch next();
  // True once the current epoch's last batch has been returned (the next call to next()
  // starts epoch() + 1).
  bool epoch_done() const { return batch_in_epoch_ == batches_per_epoch_; }
  // The epoch of the batch last returned (0 before any).
  int64_t epoch() const { return epoch_; }
  // Batches in one epoch: floor(N / B) with drop_last, ceil(N / B) without.
  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  // Batches returned so far, over all epochs.
  int64_t batches_served() const { return epoch_ * batches_per_epoch_ + batch_in_epoch_; }
  // Continue as if `batches` batches had been returned (resuming at training step k: seek(k)).
  void seek(int64_t batches);

  // Epoch e's order of the dataset's indices (a permutation of 0..N-1; 0..N-1 itself without
  // shuffle), and whether each position is mirrored: functions of (seed, e) alone.
  std::vector<int64_t> order(int64_t epoch) const;
  std::vector<bool> flips(int64_t epoch) const;

  const LoaderOptions& options() const { return options_; }
  const ImageDataset& dataset() const { return dataset_; }

 private:
  void start_epoch(int64_t epoch);

  const ImageDataset& dataset_;
  LoaderOptions options_;
  int64_t batches_per_epoch_ = 0;
  int64_t epoch_ = 0;
  int64_t batch_in_epoch_ = 0;
  std::vector<int64_t> order_;  // of epoch_
  std::vector<bool> flips_;     // of epoch_
};

}  // namespace diffusion
}  // namespace drift
