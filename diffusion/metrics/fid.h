// fid.h — the tutorial's part (B): how good are the samples? The Fréchet Inception Distance
// (Heusel et al. 2017) with a classifier of our own in place of Inception.
//
// A small CNN is trained once to tell the ten classes of the data set apart; its
// penultimate layer (128 numbers per picture) is then a description of what a picture looks
// like. Fit a Gaussian to those features for real pictures and one for generated ones; the
// Fréchet distance between the two Gaussians (linalg.h) is the FID: 0 when the two sets look
// alike to the classifier, larger as they differ — in quality (blurry strokes) or in variety
// (a model that draws only ones). Beside it:
//   the floor     the FID of as many held-out real pictures (the test split): what a perfect
//                 model would score with this many samples (finite samples never reach 0);
//   confidence    the classifier's mean top probability on the samples: low for pictures
//                 that are no recognisable class;
//   class shares  the share of samples the classifier puts in each class: a model that
//                 forgets classes (mode collapse) shows it here.
// Numbers are comparable only with the same classifier, data set and sample count.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "diffusion/metrics/linalg.h"
#include "diffusion/tools/dataset.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

// conv3x3(1→32) → ReLU → max-pool → conv3x3(32→64) → ReLU → max-pool → Linear(3136→128) →
// ReLU [the features] → Linear(128→10) [the logits]. Pictures [N, 1, 28, 28] in [-1, 1].
class FidClassifier : public nn::Module {
 public:
  explicit FidClassifier(Generator* generator = nullptr);
  Tensor features(const Tensor& x);                     // [N, 128]
  Tensor logits_from_features(const Tensor& features);  // [N, 10]
  Tensor forward(const Tensor& x) override { return logits_from_features(features(x)); }

  static constexpr int64_t kFeatures = 128, kClasses = 10;
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::Linear> fc, head;
};

// The class names of a data set, written once: "0".."9" or Fashion-MNIST's garments.
const std::vector<std::string>& class_names(const std::string& dataset);

// Loads the classifier for `dataset` from `path`, or trains it (Adam 1e-3, batch 128,
// `epochs` epochs of the train split, seeded), saves it there atomically and says so. Either
// way prints its accuracy on `test` (the held-out split).
std::unique_ptr<FidClassifier> load_or_train_fid_classifier(const std::string& path,
                                                            const std::string& dataset,
                                                            const ImageDataset& train,
                                                            const ImageDataset& test,
                                                            int64_t epochs = 2);

double classifier_accuracy(FidClassifier& classifier, const ImageDataset& data);

struct FidReport {
  double fid = 0;    // samples against the reference (training) pictures
  double floor = 0;  // held-out real pictures, as many as the samples, against the same
  double mean_confidence = 0;
  std::vector<double> class_share;  // per class, summing to 1
  int64_t samples = 0, reference = 0;
  std::string dataset;
  std::string describe() const;  // a few lines for the terminal and the README
};

// Scores `samples` [N, 1, 28, 28]: features of the samples, of `reference_count` training
// pictures and of N test pictures (the floor). The samples are scored as the pictures they
// are: clamped to [-1, 1], what their PNG shows (a sampler's raw output can reach ±30 where a
// model saturates, and features of such values would score the overshoot, not the picture).
// A sample with a value that is not finite (a diverged sampler) is an error naming how many.
FidReport fid_report(FidClassifier& classifier, const Tensor& samples, const ImageDataset& train,
                     const ImageDataset& test, int64_t reference_count, const std::string& dataset);

// The FID between two sets of pictures (the classifier's features, fitted Gaussians).
double fid(FidClassifier& classifier, const Tensor& a, const Tensor& b);

}  // namespace diffusion
}  // namespace drift
