#pragma once
// OpenAI's CLIP (ViT image tower and text tower) computed in C++ from the
// released weights, so that CLIP-ES (cam/clip_es.hpp) can run the image at its
// own resolution, read every block's attention and take gradients at the last
// block's ln_1 output; the scripted forward of the released files is fixed at
// 224x224 and hides all of that.
//
// Files: OpenAI's TorchScript archives (ViT-B-16.pt, ...; torch::jit::load, the
// weights taken by state_dict name), or safetensors with the same names. Float16
// weights are widened to float32; everything is computed in float32 on the CPU
// (or the device the model is moved to).
//
// Architecture, from the tensor shapes as clip.model.build_model does:
//   vision width = visual.conv1.weight[0], patch = its kernel size, layers =
//   count of visual.transformer.resblocks.N, pretrained grid = sqrt(rows of
//   visual.positional_embedding - 1); text width = ln_final.weight[0], layers =
//   count of transformer.resblocks.N, context = rows of positional_embedding,
//   vocabulary = rows of token_embedding.weight; embedding = text_projection[1].
//   Heads are width / 64 in both towers: CLIP's rule for every released model
//   (the shapes do not say), so widths must be multiples of 64.
#include <torch/torch.h>

#include <filesystem>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace wsss::models {

namespace fs = std::filesystem;

struct ClipConfig {
  std::int64_t vision_width = 0, vision_layers = 0, vision_heads = 0, patch_size = 0, grid = 0;
  std::int64_t text_width = 0, text_layers = 0, text_heads = 0, context_length = 0, vocab_size = 0;
  std::int64_t embed_dim = 0;
  // "ViT-B/16-like: vision 768 wide, 12 layers, 12 heads, patch 16, grid 14; text 512, 12 layers, 8 heads; embed 512"
  std::string describe() const;
};

// One pre-norm residual attention block (clip.model.ResidualAttentionBlock).
struct ClipBlock {
  torch::Tensor ln1_w, ln1_b, in_w, in_b, out_w, out_b, ln2_w, ln2_b, fc_w, fc_b, proj_w, proj_b;
};

// The CLIP-ES image means and standard deviations (CLIP's preprocessing).
inline constexpr float kClipMean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
inline constexpr float kClipStd[3] = {0.26862954f, 0.26130258f, 0.27577711f};

class ClipModel {
 public:
  // A TorchScript archive (a zip) or a safetensors file. InputError naming the
  // file: unreadable, not CLIP (a missing tensor, named), not a ViT CLIP (the
  // ResNet CLIPs have visual.attnpool), or a tensor of the wrong shape.
  static ClipModel load(const fs::path& file);
  // The same from tensors by state_dict name (for tests and converters).
  static ClipModel from_tensors(const std::vector<std::pair<std::string, torch::Tensor>>& tensors, const fs::path& file);

  const ClipConfig& config() const { return config_; }
  const fs::path& file() const { return file_; }
  const torch::Device& device() const { return device_; }
  void to(const torch::Device& device);

  // --- Text tower (clip.model.CLIP.encode_text) ---
  // tokens: [B, context_length] int64, zero-padded; the end token is each row's
  // largest id (as CLIP takes text.argmax(-1)). Returns [B, embed_dim], not normalised.
  torch::Tensor encode_text(const torch::Tensor& tokens) const;

  // --- Image tower, piece by piece (clip.model.VisionTransformer) ---
  // The visual positional embedding for a gh x gw grid: the pretrained grid's
  // rows resized bilinearly (align_corners = false) and rounded to float16, the
  // class row kept; exactly CLIP-ES's upsample_pos_emb. [1 + gh*gw, width].
  torch::Tensor positional_embedding(std::int64_t grid_h, std::int64_t grid_w) const;
  // Patch embedding, class token, positional embedding and ln_pre of an image
  // [1, 3, H, W] whose sides are multiples of the patch size: tokens [1 + gh*gw, width].
  // The positional embedding is CLIP-ES's (above) unless `pretrained_positions`,
  // which takes the table as it is and needs the pretrained grid.
  torch::Tensor embed_image(const torch::Tensor& image, bool pretrained_positions = false) const;
  // CLIP's own image embedding (clip.model.CLIP.encode_image) of an image at the
  // pretrained resolution: every block, ln_post and proj of the class token. [embed_dim].
  torch::Tensor encode_image(const torch::Tensor& image) const;
  // Visual block i on tokens [L, width]; when `attention` is given, also its
  // head-averaged attention weights [L, L] (nn.MultiheadAttention's need_weights).
  torch::Tensor visual_block(std::int64_t i, const torch::Tensor& x, torch::Tensor* attention = nullptr) const;
  // Block i from its input x and its ln_1 output (computed by the caller, e.g.
  // as a leaf that gradients are taken at): x + attn(ln1) then the MLP half.
  torch::Tensor visual_block_after_ln1(std::int64_t i, const torch::Tensor& x, const torch::Tensor& ln1,
                                       torch::Tensor* attention = nullptr) const;
  torch::Tensor visual_ln1(std::int64_t i, const torch::Tensor& x) const;
  // ln_post then proj of the class token (CLIP's image embedding) or of the mean
  // of the patch tokens (CLIP-ES's image feature): [embed_dim].
  torch::Tensor image_head(const torch::Tensor& tokens, bool patch_mean) const;
  // exp(logit_scale) (100 for the released models).
  double logit_scale() const { return logit_scale_; }

 private:
  torch::Tensor attention(const ClipBlock& b, const torch::Tensor& x, std::int64_t heads, const torch::Tensor& mask,
                          torch::Tensor* weights) const;
  torch::Tensor mlp(const ClipBlock& b, const torch::Tensor& x) const;

  fs::path file_;
  ClipConfig config_;
  torch::Device device_ = torch::kCPU;
  // visual
  torch::Tensor conv1_w_, class_emb_, vis_pos_, ln_pre_w_, ln_pre_b_, ln_post_w_, ln_post_b_, vis_proj_;
  std::vector<ClipBlock> visual_;
  // text
  torch::Tensor tok_emb_, txt_pos_, ln_final_w_, ln_final_b_, txt_proj_, causal_mask_;
  std::vector<ClipBlock> text_;
  double logit_scale_ = 100.0;
};

// The CLIP-ES network input of an RGB uint8 image: PIL bicubic resize (bit-exact
// with Pillow, as torchvision's Resize of a PIL image) to
// (ceil(H/patch)*patch, ceil(W/patch)*patch), /255, CLIP's mean and std:
// [1, 3, H', W'] float32 on the CPU. InputError naming `what` when a side is
// smaller than one patch.
torch::Tensor clip_image_input(const cv::Mat& rgb, std::int64_t patch, const std::string& what);

}  // namespace wsss::models
