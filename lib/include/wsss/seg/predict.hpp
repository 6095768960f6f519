#pragma once
// Predicting with a trained DeepLab-v2 (wsss-train-seg predict): multi-scale,
// flip and CRF as deeplab-pytorch's evaluation; docs/segmentation.md.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "wsss/io/vocab.hpp"
#include "wsss/seg/deeplab.hpp"
#include "wsss/stage/stage.hpp"

namespace wsss::seg {

namespace fs = std::filesystem;

struct SegPredictOptions {
  std::vector<double> scales = {1.0, 0.5, 0.75};  // the first sets the grid the scales are fused on
  std::string fuse = "max";                         // max | mean
  bool flip = false;
  bool crf = false;                                 // deeplab CRF preset on the softmax
  // Where the PNGs go under OUT_DIR: "pred", or the PASCAL VOC evaluation
  // server's layout for the test split (voc_server_dir), ready to archive.
  bool voc_server = false;
  std::string device = "cpu";
};

// Logits [K+1, H, W] of one RGB image: for each scale the image tensor resized
// bilinearly (scale_factor, as deeplab-pytorch's MSC), logits resized to the
// first scale's logit grid and fused (max or mean), then resized bilinearly to
// H x W; with flip, the mean of that and the flipped image's, flipped back.
torch::Tensor predict_logits(DeepLabV2Impl& net, const cv::Mat& rgb, const SegPredictOptions& options,
                             const torch::Device& device);

// Class ids [H*W] from the logits: argmax of the softmax, or of the dense CRF
// marginals (deeplab preset) over all K+1 classes when options.crf.
std::vector<std::uint8_t> predict_labels(const torch::Tensor& logits, const cv::Mat& rgb, const SegPredictOptions& options);

// Loads a DeepLab-v2 model and checks that its classes are the vocabulary's.
LoadedDeepLab load_for_vocabulary(const fs::path& model, const Vocabulary& vocab);

// The folder of the VOC server's layout (comp6: trained with outside data, the
// ImageNet backbone): tar it from OUT_DIR as results/ and upload.
inline const char* kVocServerDir = "results/VOC2012/Segmentation/comp6_test_cls";

// wsss-train-seg predict: writes OUT/pred/<id>.png (palette), or with
// voc_server OUT/results/VOC2012/Segmentation/comp6_test_cls/<id>.png, and adds "pred".
std::unique_ptr<ItemProcessor> make_seg_predict_processor(const fs::path& model, const Vocabulary& vocab,
                                                          const fs::path& manifest, const fs::path& out_dir,
                                                          const SegPredictOptions& options);

}  // namespace wsss::seg
