// test_fid.cpp — the FID's pieces: the Jacobi eigendecomposition and matrix square root
// (against scipy.linalg.sqrtm, tests/fixtures/gen_fid.py), the Fréchet distance (0 for a set
// against itself, the closed form for diagonal Gaussians, scipy's value for two feature
// sets), and the classifier (trained on a slice of MNIST when it is found).
#include <doctest/doctest.h>

#include <cmath>
#include <iostream>

#include "diffusion/metrics/fid.h"
#include "diffusion/metrics/linalg.h"
#include "tensor/error.h"
#include "tests/helpers.h"
#include "tests/temp_dir.h"

using namespace drift;
using namespace drift::diffusion;

namespace {

std::vector<double> as_doubles(const Tensor& t) {
  const std::vector<float> v = t.to_vector();
  return std::vector<double>(v.begin(), v.end());
}

const Tensor& expected(const std::string& name) {
  return test::fixture("fid").at(name);
}

}  // namespace

TEST_CASE("symmetric_eigen: A = V diag(lambda) V^T with orthonormal V, ascending values") {
  const int64_t n = 7;
  Generator gen(3);
  const std::vector<float> r = randn({n, n}, Device::cpu(), &gen).to_vector();
  std::vector<double> a(size_t(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      a[size_t(i * n + j)] = r[size_t(i * n + j)] + r[size_t(j * n + i)];
  const SymmetricEigen e = symmetric_eigen(a, n);
  for (int64_t k = 1; k < n; ++k) CHECK(e.values[size_t(k - 1)] <= e.values[size_t(k)]);
  double worst_reconstruction = 0, worst_orthonormal = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double back = 0, dot = 0;
      for (int64_t k = 0; k < n; ++k) {
        back += e.vectors[size_t(i * n + k)] * e.values[size_t(k)] * e.vectors[size_t(j * n + k)];
        dot += e.vectors[size_t(k * n + i)] * e.vectors[size_t(k * n + j)];
      }
      worst_reconstruction = std::max(worst_reconstruction, std::fabs(back - a[size_t(i * n + j)]));
      worst_orthonormal = std::max(worst_orthonormal, std::fabs(dot - (i == j ? 1.0 : 0.0)));
    }
  CHECK(worst_reconstruction < 1e-12);
  CHECK(worst_orthonormal < 1e-12);
  a[1] += 0.5;  // no longer symmetric
  CHECK_THROWS_WITH_AS(symmetric_eigen(a, n), doctest::Contains("not symmetric"), Error);
}

TEST_CASE("sqrtm_psd matches scipy.linalg.sqrtm (full rank and rank-deficient)") {
  for (const std::string name : {"5", "32", "rank3"}) {
    INFO(name);
    const Tensor& a = expected("sqrtm." + name + ".a");
    const int64_t n = a.size(0);
    const std::vector<double> root = sqrtm_psd(as_doubles(a), n);
    const std::vector<double> want = as_doubles(expected("sqrtm." + name + ".root"));
    double worst = 0;
    for (size_t i = 0; i < root.size(); ++i) worst = std::max(worst, std::fabs(root[i] - want[i]));
    CHECK(worst < 2e-4);  // the fixture is read back as float32
  }
  CHECK_THROWS_WITH_AS(sqrtm_psd({1.0, 0.0, 0.0, -1.0}, 2), doctest::Contains("not positive"),
                       Error);
}

TEST_CASE("frechet_distance: 0 for a set against itself, the closed form, scipy's FID") {
  const GaussianFit a = fit_gaussian(expected("fid.a").to_vector(), 200, 16);
  const GaussianFit b = fit_gaussian(expected("fid.b").to_vector(), 200, 16);
  CHECK(std::fabs(frechet_distance(a.mean, a.covariance, a.mean, a.covariance)) < 1e-9);
  CHECK(frechet_distance(a.mean, a.covariance, b.mean, b.covariance) ==
        doctest::Approx(expected("fid.value").to_vector()[0]).epsilon(1e-5));
  // Diagonal Gaussians: d² = ‖μ1 − μ2‖² + Σ (√a_i − √b_i)².
  const std::vector<double> mu1 = {1, 2, 3}, mu2 = {0, 2, 5};
  const std::vector<double> s1 = {4, 0, 0, 0, 1, 0, 0, 0, 9}, s2 = {1, 0, 0, 0, 1, 0, 0, 0, 16};
  CHECK(frechet_distance(mu1, s1, mu2, s2) == doctest::Approx(1 + 4 + 1 + 0 + 1));
  CHECK_THROWS_WITH_AS(frechet_distance(mu1, s1, {0, 0}, s2), doctest::Contains("do not fit"),
                       Error);
}

TEST_CASE("the FID classifier learns MNIST, saves and reloads, and scores a set against itself 0") {
  ImageDataset train, test;
  try {
    train = ImageDataset::load("mnist", "train", DataSearch::defaults(""), 2048);
    test = ImageDataset::load("mnist", "test", DataSearch::defaults(""), 1000);
  } catch (const Error& e) {
    std::cout << "[skipped] MNIST not found: " << e.what() << "\n";
    MESSAGE("skipped: MNIST not found");
    return;
  }
  test::TempDir dir("fid");
  const std::string path = dir.path("classifier.safetensors");
  std::unique_ptr<FidClassifier> trained =
      load_or_train_fid_classifier(path, "mnist", train, test, 2);
  CHECK(classifier_accuracy(*trained, test) > 0.8);  // 32 steps on 2,048 digits (chance: 0.1)
  std::unique_ptr<FidClassifier> loaded = load_or_train_fid_classifier(path, "mnist", train, test);
  const Tensor x = slice(test.images(), 0, 0, 300);
  CHECK_CLOSE(loaded->features(x), trained->features(x), 0.0, 0.0);
  CHECK(std::fabs(fid(*loaded, x, x)) < 1e-6);
  CHECK(fid(*loaded, x, slice(test.images(), 0, 300, 600)) > 0.0);
  CHECK_THROWS_WITH_AS(load_or_train_fid_classifier(path, "fashion-mnist", train, test),
                       doctest::Contains("trained on mnist"), Error);
  const FidReport r = fid_report(*loaded, x, train, test, 1000, "mnist");
  CHECK(r.samples == 300);
  double total = 0;
  for (double s : r.class_share) total += s;
  CHECK(total == doctest::Approx(1.0));
  CHECK(r.mean_confidence > 0.5);
  CHECK(r.describe().find("FID") != std::string::npos);
  // Scored as pictures: a sampler's overshoot beyond [-1, 1] counts as the clamped pixel.
  const FidReport overshoot = fid_report(*loaded, x * 5.0f, train, test, 1000, "mnist");
  CHECK(overshoot.fid ==
        fid_report(*loaded, clamp(x * 5.0f, -1.0f, 1.0f), train, test, 1000, "mnist").fid);
  std::vector<float> v = x.to_vector();
  v[7] = NAN;
  v[28 * 28 * 5] = INFINITY;
  CHECK_THROWS_WITH_AS(fid_report(*loaded, from_vector(v, x.shape()), train, test, 1000, "mnist"),
                       doctest::Contains("2 of 300 samples have values that are not finite"),
                       Error);
}
