// strip.h — pictures of a process over time: a strip of frames x_T, ..., x_0 kept while a
// sampling loop runs, one row per sample, and the tiles they are drawn as.
//
//   Strip strip{strip_levels(T, 100), /*rows=*/4, {}};
//   ... in the loop:  strip.keep(t, x);
//   strip.save(out + "/steps.png", TileStyle{/*scale=*/8, 0});   // or page.save_png(...,
//   strip.image(style), ...)
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "diffusion/tools/image.h"
#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

// The levels a strip shows: T, T - every, T - 2 every, ..., and always 0 (the result).
inline std::vector<int64_t> strip_levels(int64_t T, int64_t every) {
  std::vector<int64_t> levels;
  for (int64_t level = T; level > 0; level -= every) levels.push_back(level);
  levels.push_back(0);
  return levels;
}

// Which of x_0..x_last a grid of `columns` pictures per row shows: all of them when they fit
// in `rows` rows, else `rows` rows' worth, evenly spread and always ending at x_last.
inline std::vector<int64_t> shown_steps(int64_t last, int64_t columns, int64_t rows = 5) {
  const int64_t most = rows * columns;
  std::vector<int64_t> steps;
  for (int64_t i = 0; i < std::min(last + 1, most); ++i)
    steps.push_back(last + 1 <= most ? i : i * last / (most - 1));
  return steps;
}

// Model-range pictures [N, C, H, W] as viewable tiles: back to [0, 1] (clamped), then either
// enlarged `scale` times by repeating pixels (tiny pictures) or shrunk to `tile` pixels by
// picking pixels (so noise is shown as strong as it is).
struct TileStyle {
  int64_t scale = 1;  // > 1: upscale_nearest by this factor
  int64_t tile = 0;   // > 0 and smaller than the picture: shrink to this side
};

inline Tensor as_tiles(const Tensor& x, const TileStyle& style) {
  Tensor pictures = unnormalize_to_zero_to_one(x).cpu();
  if (style.scale > 1) return upscale_nearest(pictures, style.scale);
  if (style.tile > 0 && style.tile < pictures.size(-1))
    return resize(pictures, style.tile, style.tile, ResizeFilter::Nearest);
  return pictures;
}

// Rows of tiles [1, C, H, W] as one picture, one row under the other with white gaps: the
// layout of a figure that compares (x_t over the x_0 it implies; one process per row). Rows
// shorter than the longest, or than `columns`, are filled with white tiles so that the
// columns line up.
inline Tensor tile_rows(const std::vector<std::vector<Tensor>>& rows, size_t columns = 0) {
  Shape shape;
  for (const std::vector<Tensor>& row : rows) {
    columns = std::max(columns, row.size());
    if (!row.empty()) shape = row[0].shape();
  }
  std::vector<Tensor> tiles;
  for (const std::vector<Tensor>& row : rows)
    for (size_t i = 0; i < columns; ++i) tiles.push_back(i < row.size() ? row[i] : ones(shape));
  return make_grid(cat(tiles, 0), static_cast<int64_t>(columns), 2, 1.0f);
}

// `count` of the tiles, evenly spread from the first to the last (all of them, when there
// are no more than `count`): five stages of a process for an overview.
inline std::vector<Tensor> pick_evenly(const std::vector<Tensor>& tiles, size_t count) {
  const size_t n = tiles.size();
  if (n <= count || count < 2)
    return std::vector<Tensor>(tiles.begin(), tiles.begin() + std::min(n, count));
  std::vector<Tensor> picked;
  for (size_t i = 0; i < count; ++i)
    picked.push_back(tiles[(i * (n - 1) + (count - 1) / 2) / (count - 1)]);  // rounded
  return picked;
}

// The frames a strip shows: the first `rows` samples at each level of `levels`.
struct Strip {
  std::vector<int64_t> levels;
  int64_t rows;
  std::vector<Tensor> frames;  // one [rows, C, H, W] per kept level, in sampling order

  void keep(int64_t level, const Tensor& x) {
    if (std::find(levels.begin(), levels.end(), level) != levels.end())
      frames.push_back(slice(x, 0, 0, rows).clone());
  }
  // One row per sample, one column per level: x_T on the left, x_0 on the right.
  Tensor image(const TileStyle& style) const {
    std::vector<Tensor> tiles;
    for (int64_t r = 0; r < rows; ++r)
      for (const Tensor& frame : frames)
        tiles.push_back(as_tiles(slice(frame, 0, r, r + 1), style));
    return make_grid(cat(tiles, 0), static_cast<int64_t>(frames.size()), 2, 1.0f);
  }
  void save(const std::string& path, const TileStyle& style) const { save_png(path, image(style)); }
  std::string describe() const {
    std::string text = "columns x_" + std::to_string(levels.front());
    for (size_t i = 1; i < levels.size(); ++i) text += ", x_" + std::to_string(levels[i]);
    return text;
  }
  // The spread of the kept frames, from 1 (pure noise) towards the picture's own:
  // "x_24 1.00 x_20 0.93 ... x_0 0.44" (the standard deviation of the pixels of each frame).
  std::string spread() const {
    std::string text;
    char one[48];
    for (size_t i = 0; i < frames.size(); ++i) {
      std::snprintf(one, sizeof one, "%sx_%lld %.2f", i ? " " : "",
                    static_cast<long long>(levels[i]), pixel_stats(frames[i]).std);
      text += one;
    }
    return text;
  }
};

}  // namespace diffusion
}  // namespace drift
