#pragma once
// Segment-Anything-family models (SAM ViT-B/L/H, MobileSAM, EfficientSAM) run
// from a TorchScript file with the reference numerics at both ends; the model
// itself is a black box behind two methods (docs/sam.md, scripts/export_sam.py):
//   embed(image: Tensor[1,3,S,S]) -> Tensor            (S = image_size, 1024)
//   decode(embeddings, boxes: Tensor[N,4] or [0,4], points: Tensor[N,P,2],
//          point_labels: Tensor[N,P] int32, multimask: bool)
//       -> (low_res_logits: Tensor[N,M,L,L], iou: Tensor[N,M])   (L = 256 for SAM)
// and the attributes sam_interface: int = 1, image_size: int (default 1024) and
// input_frame: str, "pad" (default) or "stretch".
//   "pad" (SAM, MobileSAM; segment_anything's SamPredictor): the image is resized
//     with PIL bilinear so that its long side is S (ResizeLongestSide), normalised
//     with pixel mean (123.675, 116.28, 103.53) and std (58.395, 57.12, 57.375),
//     and zero-padded at the bottom and right to S x S; prompt coordinates are
//     scaled by new/old per axis; mask logits are upscaled bilinearly to S x S,
//     cropped to the resized image, resized bilinearly to the image, and > 0.
//   "stretch" (EfficientSAM's own pipeline): the image in [0,1] is resized to
//     S x S with torch's bilinear interpolation and normalised with ImageNet's
//     mean and std; coordinates are scaled by S/W and S/H; mask logits are
//     resized bicubically to the image, and >= 0.
#include <torch/script.h>
#include <torch/torch.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "wsss/models/prompt.hpp"

namespace wsss::models {

namespace fs = std::filesystem;

enum class SamFrame { Pad, Stretch };

// One image's embedding, computed once and reused for every prompt.
struct SamImage {
  torch::Tensor embeddings;
  int height = 0, width = 0;              // the original image
  int input_height = 0, input_width = 0;  // the image inside the model's S x S input
};

struct SamMask {
  std::vector<std::uint8_t> mask;  // height*width, 0/1
  float iou = 0;                   // the model's predicted IoU of this mask
  int index = 0;                   // which of the model's M masks was taken
};

class SamModel {
 public:
  // Loads a TorchScript file and checks its interface (methods, argument and
  // return types, attributes): an InputError naming the file otherwise.
  SamModel(const fs::path& file, const std::string& device);

  const fs::path& file() const { return file_; }
  SamFrame frame() const { return frame_; }
  int image_size() const { return image_size_; }
  const torch::Device& device() const { return device_; }
  // How often embed ran (the stage logs it: one embedding per image, whatever its prompts).
  std::size_t embed_calls() const { return embed_calls_.load(); }
  torch::jit::Module& module() { return module_; }

  // The size of the image inside the model input: ResizeLongestSide's
  // get_preprocess_shape (Pad) or S x S (Stretch).
  cv::Size input_size(int height, int width) const;
  // The model input [1,3,S,S] of an RGB uint8 image (on the CPU).
  torch::Tensor preprocess(const cv::Mat& rgb) const;
  // A point of the original image in the model's input frame.
  std::array<float, 2> to_input_frame(float x, float y, int height, int width) const;
  // Logits [K,H,W] of low-resolution logits [K,L,L] (on any device).
  torch::Tensor postprocess(const torch::Tensor& low_res, const SamImage& image) const;

  SamImage embed(const cv::Mat& rgb) const;
  // One mask per prompt (a box, points, or both; prompts in the original image's
  // pixels). Prompts of the same shape go through decode together. With
  // multimask, the mask with the highest predicted IoU of the M candidates.
  std::vector<SamMask> predict(const SamImage& image, const std::vector<Prompt>& prompts,
                               bool multimask) const;

 private:
  void check_embedding(const torch::Tensor& t) const;
  fs::path file_;
  torch::Device device_;
  mutable torch::jit::Module module_;  // methods are safe to call from several threads
  SamFrame frame_ = SamFrame::Pad;
  int image_size_ = 1024;
  mutable std::atomic<std::size_t> embed_calls_{0};
};

}  // namespace wsss::models
