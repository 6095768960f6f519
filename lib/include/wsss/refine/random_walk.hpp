#pragma once
// IRN's semantic random walk (jiwoon-ahn/irn misc/indexing.py propagate_to_edge and
// step/make_sem_seg_labels.py), computed with sparse transition products instead of
// IRN's dense N x N matrix squarings. See docs/refinement.md.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace wsss::refine {

struct GridOffset {
  int dy = 0, dx = 0;
  bool operator==(const GridOffset& o) const { return dy == o.dy && dx == o.dx; }
};

// IRN's PathIndex search directions, in its order: (0,x) for x in 1..r-1, then (y,x)
// for y in 1..r-1, x in -(r-1)..r-1 with x^2+y^2 < r^2. radius 5 gives 34.
std::vector<GridOffset> random_walk_directions(int radius);

// The pixels, relative to the source, whose boundary values bound the affinity towards
// `direction`: those of the bounding box at distance < 1 from the line through both
// ends (IRN's rasterised path, both ends included), destination first.
std::vector<GridOffset> random_walk_path(GridOffset direction);

struct RandomWalkParams {
  int radius = 5;      // neighbourhood: offsets with dy^2+dx^2 < radius^2
  float beta = 10;     // affinity exponent
  int exp_times = 8;   // 2^exp_times transition steps (IRN squares T exp_times times)
};

// edge: height x width boundary map in [0,1] on the stride-4 grid; cams: n_classes x
// height x width scores on the same grid. Returns rw = (cams * (1 - edge)) T^(2^exp_times)
// (n_classes x height x width), where T = A^beta column-normalised, A = 1 - max of the
// edge map along the path between two pixels for the 2 x directions offsets, 1 on the
// diagonal and 0 elsewhere (pairs leaving the image included: IRN pads with 1.0).
// Deterministic for every thread count. Throws wsss::Error on edge values outside
// [0,1] or non-finite inputs, naming the position.
std::vector<float> random_walk_propagate(const float* edge, int height, int width, const float* cams,
                                         int n_classes, const RandomWalkParams& params = {}, int threads = 1);

// IRN's labelling after the walk: bilinear upsampling by `scale` (PyTorch
// align_corners=False), crop to out_height x out_width, division by the global
// maximum over all classes, a background channel of constant bg_threshold in front,
// argmax (first on ties). Returns 0 = background, c+1 = class channel c. If no score
// is positive everything is background (IRN would divide by zero there).
std::vector<std::uint8_t> random_walk_labels(const std::vector<float>& rw, int n_classes, int height, int width,
                                             int out_height, int out_width, float bg_threshold = 0.25f,
                                             int scale = 4);

// The bilinear upsampling used above, exposed for the binaries (n_channels x H x W).
std::vector<float> upsample_bilinear(const float* in, int n_channels, int height, int width, int scale);

}  // namespace wsss::refine
