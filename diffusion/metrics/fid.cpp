// fid.cpp — the FID classifier, its training, and the report (fid.h).
#include "diffusion/metrics/fid.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "diffusion/tools/progress.h"
#include "nn/checkpoint.h"
#include "nn/functional.h"
#include "nn/optim.h"
#include "tensor/error.h"

namespace drift {
namespace diffusion {

FidClassifier::FidClassifier(Generator* generator) {
  conv1 =
      register_module("conv1", std::make_shared<nn::Conv2d>(1, 32, 3, 1, 1, 1, true, generator));
  conv2 =
      register_module("conv2", std::make_shared<nn::Conv2d>(32, 64, 3, 1, 1, 1, true, generator));
  fc = register_module("fc", std::make_shared<nn::Linear>(64 * 7 * 7, kFeatures, true, generator));
  head =
      register_module("head", std::make_shared<nn::Linear>(kFeatures, kClasses, true, generator));
}

Tensor FidClassifier::features(const Tensor& x) {
  DRIFT_CHECK(x.ndim() == 4 && x.size(1) == 1 && x.size(2) == 28 && x.size(3) == 28,
              "FidClassifier: expected pictures [N, 1, 28, 28], got " << drift::describe(x));
  Tensor h = nn::F::max_pool2d(relu(conv1->forward(x)), 2);  // [N, 32, 14, 14]
  h = nn::F::max_pool2d(relu(conv2->forward(h)), 2);         // [N, 64, 7, 7]
  return relu(fc->forward(flatten(h, 1)));                   // [N, 128]
}

Tensor FidClassifier::logits_from_features(const Tensor& f) {
  return head->forward(f);
}

const std::vector<std::string>& class_names(const std::string& dataset) {
  static const std::vector<std::string> digits = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  static const std::vector<std::string> fashion = {
      "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return dataset == "fashion-mnist" ? fashion : digits;
}

namespace {

// The classifier's features of `x` [N, 1, 28, 28], in batches, as N rows of 128 numbers;
// the top class probability and the class of each row go to `confidence` and `label`.
std::vector<float> features_of(FidClassifier& c, const Tensor& x, std::vector<float>* confidence,
                               std::vector<int64_t>* label) {
  NoGradGuard no_grad;
  std::vector<float> rows;
  for (int64_t start = 0; start < x.size(0); start += 500) {
    const Tensor part = slice(x, 0, start, std::min(x.size(0), start + 500));
    Tensor f = c.features(part);
    const std::vector<float> v = f.to_vector();
    rows.insert(rows.end(), v.begin(), v.end());
    if (confidence) {
      const Tensor p = softmax(c.logits_from_features(f), 1);
      const std::vector<float> top = max(p, 1).to_vector(), cls = argmax(p, 1).to_vector();
      confidence->insert(confidence->end(), top.begin(), top.end());
      for (float k : cls) label->push_back(int64_t(k));
    }
  }
  return rows;
}

GaussianFit fit_features(FidClassifier& c, const Tensor& x,
                         std::vector<float>* confidence = nullptr,
                         std::vector<int64_t>* label = nullptr) {
  return fit_gaussian(features_of(c, x, confidence, label), x.size(0), FidClassifier::kFeatures);
}

Tensor first(const ImageDataset& data, int64_t n) {
  DRIFT_CHECK(n <= data.size(), "FID: asked for " << n << " pictures of " << data.name()
                                                  << ", which has " << data.size());
  return slice(data.images(), 0, 0, n);
}

}  // namespace

double classifier_accuracy(FidClassifier& classifier, const ImageDataset& data) {
  std::vector<float> confidence;
  std::vector<int64_t> label;
  features_of(classifier, data.images(), &confidence, &label);  // the same batched pass
  int64_t right = 0;
  for (int64_t i = 0; i < data.size(); ++i) right += label[size_t(i)] == data.label(i);
  return double(right) / double(data.size());
}

std::unique_ptr<FidClassifier> load_or_train_fid_classifier(const std::string& path,
                                                            const std::string& dataset,
                                                            const ImageDataset& train,
                                                            const ImageDataset& test,
                                                            int64_t epochs) {
  Generator gen(20260101);
  auto classifier = std::make_unique<FidClassifier>(&gen);
  if (std::filesystem::exists(path)) {
    const auto settings = nn::load_weights(path, *classifier);
    auto it = settings.find("dataset");
    DRIFT_CHECK(it != settings.end() && it->second == dataset,
                path << ": this FID classifier was trained on "
                     << (it == settings.end() ? "an unknown data set" : it->second) << ", not "
                     << dataset << " (delete the file to train a new one)");
    std::printf("FID classifier: %s (trained earlier)\n", path.c_str());
  } else {
    std::printf("FID classifier: training it once on %s (%lld epochs), then reused from %s\n",
                dataset.c_str(), static_cast<long long>(epochs), path.c_str());
    DataLoader loader(train, {128, 7});
    nn::Adam adam(classifier->parameters(), 1e-3);
    const int64_t steps = epochs * loader.batches_per_epoch();
    Progress progress("training the classifier", steps);
    for (int64_t s = 0; s < steps; ++s) {
      Batch b = loader.next();
      Tensor loss = cross_entropy(classifier->forward(b.images), b.labels);
      adam.zero_grad();
      loss.backward();
      adam.step();
      progress.step(loss.item());
    }
    progress.finish();
    nn::save_weights(path, *classifier, {{"dataset", dataset}, {"epochs", std::to_string(epochs)}});
  }
  std::printf("    test accuracy %.2f%% on %lld held-out pictures\n",
              100.0 * classifier_accuracy(*classifier, test), static_cast<long long>(test.size()));
  return classifier;
}

double fid(FidClassifier& classifier, const Tensor& a, const Tensor& b) {
  const GaussianFit fa = fit_features(classifier, a), fb = fit_features(classifier, b);
  return frechet_distance(fa.mean, fa.covariance, fb.mean, fb.covariance);
}

FidReport fid_report(FidClassifier& classifier, const Tensor& samples, const ImageDataset& train,
                     const ImageDataset& test, int64_t reference_count,
                     const std::string& dataset) {
  FidReport r;
  r.dataset = dataset;
  r.samples = samples.size(0);
  r.reference = reference_count;
  const GaussianFit reference = fit_features(classifier, first(train, reference_count));
  std::vector<float> confidence;
  std::vector<int64_t> label;
  const Tensor pictures = samples.cpu();
  int64_t not_finite = 0;
  const int64_t per_sample = pictures.numel() / std::max<int64_t>(1, pictures.size(0));
  const std::vector<float> values = pictures.to_vector();
  for (int64_t i = 0; i < pictures.size(0); ++i)
    for (int64_t j = 0; j < per_sample; ++j)
      if (!std::isfinite(values[size_t(i * per_sample + j)])) {
        ++not_finite;
        break;
      }
  DRIFT_CHECK(not_finite == 0, "fid_report: " << not_finite << " of " << pictures.size(0)
                                              << " samples have values that are not finite "
                                                 "(the sampler diverged): no FID");
  const GaussianFit generated =
      fit_features(classifier, clamp(pictures, -1.0f, 1.0f), &confidence, &label);
  const GaussianFit held_out = fit_features(classifier, first(test, r.samples));
  r.fid =
      frechet_distance(generated.mean, generated.covariance, reference.mean, reference.covariance);
  r.floor =
      frechet_distance(held_out.mean, held_out.covariance, reference.mean, reference.covariance);
  r.class_share.assign(size_t(FidClassifier::kClasses), 0.0);
  for (size_t i = 0; i < label.size(); ++i) {
    r.mean_confidence += confidence[i] / double(label.size());
    r.class_share[size_t(label[i])] += 1.0 / double(label.size());
  }
  return r;
}

std::string FidReport::describe() const {
  std::ostringstream os;
  char line[400];
  std::snprintf(line, sizeof line,
                "    FID %.2f  (%lld samples against %lld training pictures; held-out real "
                "pictures score %.2f, the floor)\n    classifier confidence on the samples: "
                "%.3f\n    classes:",
                fid, static_cast<long long>(samples), static_cast<long long>(reference), floor,
                mean_confidence);
  os << line;
  const std::vector<std::string>& names = class_names(dataset);
  for (size_t k = 0; k < class_share.size(); ++k) {
    std::snprintf(line, sizeof line, " %s %.0f%%%s", names[k].c_str(), 100.0 * class_share[k],
                  k + 1 < class_share.size() ? "," : "\n");
    os << line;
  }
  return os.str();
}

}  // namespace diffusion
}  // namespace drift
