// point_mlp.cpp — the 2-D noise predictor (see point_mlp.h).
#include "diffusion/models/point_mlp.h"

#include <sstream>

#include "autograd/ops.h"
#include "tensor/error.h"

namespace drift {
namespace diffusion {

PointMLP::PointMLP(int64_t hidden_, int64_t layers, int64_t embed_dim_, Generator* generator)
    : hidden(hidden_), embed_dim(embed_dim_) {
  DRIFT_CHECK(hidden >= 1 && layers >= 1 && embed_dim >= 2 && embed_dim % 2 == 0,
              "PointMLP: need hidden >= 1, layers >= 1 and an even embed_dim >= 2, got "
                  << hidden << ", " << layers << ", " << embed_dim);
  embedding = register_module("embedding", std::make_shared<nn::SinusoidalEmbedding>(embed_dim));
  for (int64_t i = 0; i < layers; ++i)
    hidden_layers.push_back(register_module(
        "layer" + std::to_string(i),
        std::make_shared<nn::Linear>(i == 0 ? 2 + embed_dim : hidden, hidden, true, generator)));
  out = register_module("out", std::make_shared<nn::Linear>(hidden, 2, true, generator));
}

Tensor PointMLP::forward(const Tensor& x_t, const Tensor& t) {
  DRIFT_CHECK(x_t.defined() && x_t.ndim() == 2 && x_t.size(1) == 2,
              "PointMLP: expected points x_t shaped [B, 2], got "
                  << (x_t.defined() ? drift::describe(x_t) : "undefined"));
  DRIFT_CHECK(t.defined() && t.ndim() == 1 && t.size(0) == x_t.size(0),
              "PointMLP: expected " << x_t.size(0) << " timesteps shaped [B], got "
                                    << (t.defined() ? drift::describe(t) : "undefined"));
  Tensor h = cat({x_t, embedding->forward(t)}, 1);  // [B, 2 + embed_dim]
  for (auto& layer : hidden_layers) h = silu(layer->forward(h));
  return out->forward(h);  // ε̂ [B, 2]
}

std::string PointMLP::describe() const {
  std::ostringstream s;
  s << "PointMLP(hidden " << hidden << ", " << hidden_layers.size() << " layers, embedding "
    << embed_dim << ")";
  return s.str();
}

}  // namespace diffusion
}  // namespace drift
