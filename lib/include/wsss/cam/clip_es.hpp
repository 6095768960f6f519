#pragma once
// CLIP-ES (Lin et al., CVPR'23; linyq2117/CLIP-ES generate_cams_voc12.py):
// training-free class maps from CLIP, computed per image as the reference does
// (docs/clip-es.md; shared/reference/reference-implementations.md section 3):
//
//  1. input: PIL bicubic resize to (ceil(H/16)*16, ceil(W/16)*16), CLIP mean/std;
//     one scale, no flip (models::clip_image_input);
//  2. blocks 1..L-1 run once without gradients, keeping each block's
//     head-averaged attention;
//  3. GradCAM with softmax: the last block runs from its ln_1 output as a leaf;
//     the image feature is proj(ln_post(mean of the patch tokens)); scores =
//     softmax(logit_scale * cosine) over [the image's classes + the background
//     names]; for class c the gradient of its probability at the leaf, averaged
//     over the patches, weights the leaf's channels: CAM = ReLU(sum w * act),
//     then min-max normalised (pytorch-grad-cam's scale_cam_image, eps 1e-7,
//     applied twice as its per-layer and aggregate steps do);
//  4. class-aware attention affinity: A = mean of the last 8 blocks' attention
//     without the class token; A / column sums, / row sums, two more (column,
//     row) passes, (A + A^T) / 2, then A @ A; columns outside the box mask set
//     to 0 (boxes: bounding rectangles of all contours of the uint8 CAM above
//     box_threshold * max, with the reference's exclusive, border-clipped
//     extents); refined = A_masked @ cam, min-max (eps 1e-7), cv2.resize
//     (bilinear) to the image.
//
// Differences from the reference's code path that do not change the result:
// the last block's forward runs once per image rather than once per class
// (the gradients of every class come from the same graph), and the affinity
// A @ A is computed once per image rather than once per class.
#include <torch/torch.h>

#include <opencv2/core.hpp>
#include <vector>

#include "wsss/models/clip.hpp"
#include "wsss/text/clip_prompts.hpp"
#include "wsss/text/clip_tokenizer.hpp"

namespace wsss::cam {

// The prompt embeddings, computed once per run: L2-normalised rows.
struct ClipEsText {
  torch::Tensor foreground;  // [K, E]: row c-1 is class id c
  torch::Tensor background;  // [B, E]
};

// Tokenizes and encodes every class prompt and background prompt. Error naming
// the class (or background name) and the prompt when one does not tokenize
// (longer than the context, unsupported characters).
ClipEsText encode_prompts(const models::ClipModel& model, const text::ClipTokenizer& tokenizer,
                          const text::ClipEsPrompts& prompts);

struct ClipEsOptions {
  double box_threshold = 0.4;  // 0.4 VOC, 0.7 COCO (the prompts file's box_threshold)
  int affinity_blocks = 8;     // the last blocks whose attention makes the affinity
};

struct ClipEsMaps {
  std::vector<int> classes;       // class ids of the channels, as given
  torch::Tensor image_feature;    // [E]: proj(ln_post(mean of patch tokens)), not normalised
  torch::Tensor probabilities;    // [k + B]: the softmax the GradCAM targets are taken from
  torch::Tensor gradcam;          // [k, gh, gw]: GradCAM, min-max normalised
  torch::Tensor affinity;         // [N, N]: the transition matrix before the box mask (N = gh*gw)
  torch::Tensor box_masks;        // [k, gh, gw] float 0/1
  torch::Tensor refined_grid;     // [k, gh, gw]: refined map before normalisation
  torch::Tensor refined;          // [k, H, W]: the stage's output, min-max normalised and resized
};

// One image (RGB uint8) with its classes (ids 1..K, ascending, non-empty).
// `what` names the image in errors (an image smaller than one patch).
ClipEsMaps clip_es_maps(const models::ClipModel& model, const ClipEsText& text, const cv::Mat& rgb,
                        const std::vector<int>& classes, const ClipEsOptions& options, const std::string& what);

// --- the steps, exposed for tests ---

// The affinity's transition matrix from the head-averaged attention maps of the
// last blocks ([n, L, L], class token first): mean, drop the class token, the
// column/row normalisations, symmetrise, square. [N, N].
torch::Tensor affinity_transition(const torch::Tensor& attention);
// scoremap2bbox(cam, threshold, multi_contour_eval=True) turned into the mask
// the reference fills: [gh, gw] float 0/1 from a min-max normalised cam [gh, gw].
torch::Tensor box_mask(const torch::Tensor& cam, double threshold);
// pytorch-grad-cam's scale_cam_image without resize: (x - min) / (1e-7 + max(x - min)).
torch::Tensor scale_cam(const torch::Tensor& x);

// --- tags: labels for images without them ---
//
// Each class prompt against the background set: p_c = softmax over [class c,
// background names] of logit_scale * cosine with the image feature (the same
// feature as step 3), taken at c. A class is predicted when p_c >= threshold;
// 0.5 means "more likely than all background names together". When no class
// passes, the class of highest p_c is predicted when at_least_one is set
// (VOC and COCO images all hold a class). See docs/clip-es.md.
struct ClipTagOptions {
  double threshold = 0.5;
  bool at_least_one = true;
};

struct ClipTags {
  std::vector<int> labels;    // ascending class ids
  std::vector<float> scores;  // p_c for class ids 1..K (index c-1)
};

ClipTags clip_tags(const models::ClipModel& model, const ClipEsText& text, const cv::Mat& rgb,
                   const ClipTagOptions& options, const std::string& what);

}  // namespace wsss::cam
