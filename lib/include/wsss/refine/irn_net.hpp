#pragma once
// IRN's inter-pixel relation network (jiwoon-ahn/irn net/resnet50_irn.py, edge
// branch only) and its affinity labels and loss. Its training is irn_train.hpp,
// the semantic random walk stage irn_stage.hpp (the walk itself is the
// torch-free random_walk.hpp). docs/refinement.md ("IRN: irn-train and irn")
// explains each choice.
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "wsss/models/resnet.hpp"
#include "wsss/refine/random_walk.hpp"
#include "wsss/train/distributed.hpp"

namespace wsss::refine {

namespace fs = std::filesystem;

// Value of the wsss.model metadata key of a trained edge network.
inline constexpr const char* kModelIrnEdge = "irn-edge";

// The edge (class boundary) branch of IRN on a fully frozen ResNet: every stage
// output goes through a 1x1 conv (no bias) to 32 channels, GroupNorm(4, 32) and
// ReLU, deeper stages are upsampled (bilinear) to the stride-4 grid of layer1, the
// 160 channels are concatenated and a 1x1 conv (with bias) gives one boundary
// logit. Module names follow IRN (fc_edge1.0 = conv, fc_edge1.1 = GroupNorm, ...,
// fc_edge6). The backbone runs without autograd and always in eval mode.
class IrnEdgeNetImpl : public torch::nn::Module {
 public:
  explicit IrnEdgeNetImpl(models::ModelSpec spec);

  // [B, 1, h, w] boundary logits on the stride-4 grid (h = (H-1)/4+1 for the
  // IRN spec).
  torch::Tensor forward(torch::Tensor x);
  // The 160-channel input of fc_edge6 (after the stage layers, upsampling, ReLU).
  torch::Tensor features(torch::Tensor x);
  // The backbone stays in eval mode (frozen BatchNorm) whatever `on` says.
  void train(bool on = true) override;
  // Parameters of the edge layers (the only trainable ones).
  std::vector<torch::Tensor> edge_parameters() const;

  models::ResNet backbone{nullptr};
  std::array<torch::nn::Sequential, 5> fc_edge{nullptr, nullptr, nullptr, nullptr, nullptr};
  torch::nn::Conv2d fc_edge6{nullptr};

 private:
  std::array<std::int64_t, 5> upsample_factor_{};
};
TORCH_MODULE(IrnEdgeNet);

// Loads an edge network written by irn-train: checks wsss.model, builds the
// backbone from the file's spec, loads every tensor.
IrnEdgeNet load_irn_edge_net(const fs::path& file);

// IRN's inference edge map: sigmoid(edge[0]/2 + edge[1].flip/2) of the image and
// its horizontal flip (batch [2, 3, H, W], already normalised), cropped to the
// stride-4 grid ((H-1)/4+1) x ((W-1)/4+1). Returns [h, w] on the CPU. Not padded to
// 512 (ReCAM's change, so that images larger than the crop work).
torch::Tensor irn_edge_map(IrnEdgeNet& net, const torch::Tensor& image_and_flip, const torch::Device& device);

// The IR label (0 = background, 1..K classes, 255 = unsure) sampled to a grid of
// out_h x out_w with PIL's nearest rule (source = floor((i + 0.5) * in / out)), which
// is IRN's pil_rescale(label, 0.25, order 0) for a 512 crop.
std::vector<std::uint8_t> reduce_labels_nearest(const std::uint8_t* labels, int height, int width, int out_h,
                                                int out_w);

// Pair masks of IRN's affinity labels, each [B, D, h, w] bool: for source pixel p
// and direction d (target p + d inside the grid), both labels < 255 and
//   bg_pos: equal and 0;  fg_pos: equal and > 0;  neg: different.
struct AffinityLabels {
  torch::Tensor bg_pos, fg_pos, neg;
};
// labels: [B, h, w] integer tensor.
AffinityLabels affinity_labels(const torch::Tensor& labels, const std::vector<GridOffset>& directions);

// aff[b, d, y, x] = 1 - max of `boundary` over random_walk_path(directions[d])
// from (y, x); boundary is [B, h, w] in [0, 1]. Pairs whose target leaves the grid
// get 0 (IRN's 1.0 padding); mask them out. The gradient flows to the path pixel
// holding the maximum (the first one in path order on ties).
torch::Tensor path_max_affinity(const torch::Tensor& boundary, const std::vector<GridOffset>& directions);

// IRN's affinity loss: pos = -log(aff + 1e-5) and neg = -log(1 + 1e-5 - aff), each
// averaged over its mask as sum(mask * loss) / (sum(mask) + 1e-5);
// total = (bg_pos / 2 + fg_pos / 2 + neg) / 2. In a data-parallel run the
// masks' counts are those of the whole global batch (train/distributed.hpp).
struct AffinityLoss {
  torch::Tensor total, bg_pos, fg_pos, neg;
};
AffinityLoss affinity_loss(const torch::Tensor& affinity, const AffinityLabels& labels,
                           const train::GlobalBatch& batch = {});

}  // namespace wsss::refine
