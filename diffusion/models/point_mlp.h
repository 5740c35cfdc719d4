// point_mlp.h — a noise predictor for points in the plane, chapter 8's 2-D toy: small enough
// to train in seconds, so its learned score field can be drawn against the true one.
//
//   e = SinusoidalEmbedding(embed_dim)(t)                    (the transformer's sin/cos of t)
//   h = SiLU(Linear(2 + embed_dim → hidden)([x_t, e]))
//   h = SiLU(Linear(hidden → hidden)(h))                     (layers - 1 times)
//   ε̂ = Linear(hidden → 2)(h)
//
// x_t is [B, 2] (the points themselves: NoiseScheduler::add_noise and the samplers' steps
// work on any shape), t is [B]. Its score estimate is −ε̂ / √(1−ᾱ_t) (score_from_eps).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "diffusion/models/noise_predictor.h"
#include "nn/layers.h"
#include "tensor/random.h"

namespace drift {
namespace diffusion {

class PointMLP : public NoisePredictor {
 public:
  explicit PointMLP(int64_t hidden = 128, int64_t layers = 3, int64_t embed_dim = 32,
                    Generator* generator = nullptr);
  using NoisePredictor::forward;
  Tensor forward(const Tensor& x_t, const Tensor& t) override;  // [B, 2], [B] → ε̂ [B, 2]
  std::string describe() const override;

  const int64_t hidden, embed_dim;
  std::shared_ptr<nn::SinusoidalEmbedding> embedding;
  std::vector<std::shared_ptr<nn::Linear>> hidden_layers;  // the first takes [x_t, e]
  std::shared_ptr<nn::Linear> out;
};

}  // namespace diffusion
}  // namespace drift
