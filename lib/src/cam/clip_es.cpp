#include "wsss/cam/clip_es.hpp"

#include <opencv2/imgproc.hpp>

#include "wsss/core/error.hpp"

namespace wsss::cam {

namespace {

// Rows divided by their L2 norm (CLIP's x / x.norm(dim=-1, keepdim=True)).
torch::Tensor l2_rows(const torch::Tensor& x) { return x / x.norm(2, -1, true); }

// Token ids of the texts, zero-padded to the context: [P, context] int64.
torch::Tensor tokenize_all(const text::ClipTokenizer& tokenizer, const std::vector<std::string>& texts,
                           const std::vector<std::string>& owners, std::int64_t context) {
  torch::Tensor tokens = torch::zeros({std::int64_t(texts.size()), context}, torch::kLong);
  auto acc = tokens.accessor<std::int64_t, 2>();
  for (std::size_t i = 0; i < texts.size(); ++i) {
    std::vector<std::int32_t> ids;
    try {
      ids = tokenizer.tokenize(texts[i], int(context));
    } catch (const Error& e) {
      throw Error(owners[i] + ": " + e.what());
    }
    for (std::size_t j = 0; j < ids.size(); ++j) acc[std::int64_t(i)][std::int64_t(j)] = ids[j];
  }
  return tokens;
}

// Embeddings of the prompts, normalised as zeroshot_classifier does: each
// prompt's embedding normalised, averaged over the (one) template, normalised again.
torch::Tensor encode_normalised(const models::ClipModel& model, const torch::Tensor& tokens) {
  torch::NoGradGuard no_grad;
  torch::Tensor e = l2_rows(model.encode_text(tokens));
  return l2_rows(e);
}

// The float32 exp(logit_scale) as CLIP-ES's tensor arithmetic has it.
float logit_scale_f(const models::ClipModel& model) { return float(model.logit_scale()); }

cv::Mat to_mat(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kCPU, torch::kFloat32).contiguous();
  return cv::Mat(int(c.size(0)), int(c.size(1)), CV_32FC1, c.data_ptr<float>()).clone();
}

torch::Tensor from_mat(const cv::Mat& m) {
  return torch::from_blob(m.data, {m.rows, m.cols}, torch::kFloat32).clone();
}

}  // namespace

ClipEsText encode_prompts(const models::ClipModel& model, const text::ClipTokenizer& tokenizer,
                          const text::ClipEsPrompts& prompts) {
  const std::int64_t context = model.config().context_length;
  std::vector<std::string> fg = prompts.foreground_prompts(), bg = prompts.background_prompts(), fg_owner, bg_owner;
  for (std::size_t c = 1; c < prompts.names.size(); ++c)
    fg_owner.push_back("class '" + (c < prompts.class_names.size() ? prompts.class_names[c] : prompts.names[c]) + "'");
  for (const std::string& b : prompts.background) bg_owner.push_back("background name '" + b + "'");
  if (!prompts.file.empty()) {
    for (auto& o : fg_owner) o = prompts.file.string() + ": " + o;
    for (auto& o : bg_owner) o = prompts.file.string() + ": " + o;
  }
  ClipEsText t;
  t.foreground = encode_normalised(model, tokenize_all(tokenizer, fg, fg_owner, context));
  t.background = encode_normalised(model, tokenize_all(tokenizer, bg, bg_owner, context));
  return t;
}

torch::Tensor scale_cam(const torch::Tensor& x) {
  torch::Tensor y = x - x.min();
  // numpy: img / (1e-7 + np.max(img)) adds in float64 and divides in float32.
  const float denominator = float(1e-7 + double(y.max().item<float>()));
  return y / denominator;
}

torch::Tensor affinity_transition(const torch::Tensor& attention) {
  torch::Tensor a = attention.slice(1, 1).slice(2, 1).mean(0).to(torch::kFloat32);
  torch::Tensor t = a / a.sum(0, true);
  t = t / t.sum(1, true);
  for (int i = 0; i < 2; ++i) {
    t = t / t.sum(0, true);
    t = t / t.sum(1, true);
  }
  t = (t + t.t()) / 2;
  return torch::matmul(t, t);
}

torch::Tensor box_mask(const torch::Tensor& cam, double threshold) {
  const int h = int(cam.size(0)), w = int(cam.size(1));
  // (scoremap * 255).astype(np.uint8): float32 product, truncated.
  torch::Tensor scaled = (cam.to(torch::kCPU, torch::kFloat32) * 255.0f).contiguous();
  cv::Mat u8(h, w, CV_8UC1);
  const float* s = scaled.data_ptr<float>();
  for (int i = 0; i < h * w; ++i) u8.data[i] = static_cast<std::uint8_t>(static_cast<int>(s[i]));
  double max_value = 0;
  cv::minMaxLoc(u8, nullptr, &max_value);
  cv::Mat binary;
  cv::threshold(u8, binary, double(int(threshold * max_value)), 255, cv::THRESH_BINARY);
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(binary, contours, cv::RETR_TREE, cv::CHAIN_APPROX_SIMPLE);
  torch::Tensor mask = torch::zeros({h, w}, torch::kFloat32);
  // The reference clips x1, y1 to width-1 / height-1 and fills [y0:y1, x0:x1)
  // (exclusive): the last row and column of a box, and of the grid, stay 0.
  for (const auto& contour : contours) {
    cv::Rect r = cv::boundingRect(contour);
    int x1 = std::min(r.x + r.width, w - 1), y1 = std::min(r.y + r.height, h - 1);
    if (x1 > r.x && y1 > r.y) mask.slice(0, r.y, y1).slice(1, r.x, x1).fill_(1.0f);
  }
  return mask;
}

ClipEsMaps clip_es_maps(const models::ClipModel& model, const ClipEsText& text, const cv::Mat& rgb,
                        const std::vector<int>& classes, const ClipEsOptions& options, const std::string& what) {
  const auto& cfg = model.config();
  if (classes.empty()) throw Error(what + ": CLIP-ES needs at least one class");
  const std::int64_t K = text.foreground.size(0);
  for (int c : classes)
    if (c < 1 || c > K) throw Error(what + ": class id " + std::to_string(c) + " is outside 1.." + std::to_string(K));
  if (options.affinity_blocks < 1) throw Error("affinity_blocks must be at least 1");

  const torch::Tensor input = models::clip_image_input(rgb, cfg.patch_size, what);
  const std::int64_t gh = input.size(2) / cfg.patch_size, gw = input.size(3) / cfg.patch_size, N = gh * gw;
  const std::int64_t L = cfg.vision_layers;

  // Blocks 1..L-1 without gradients, keeping their attention.
  std::vector<torch::Tensor> attention;
  torch::Tensor x;
  {
    torch::NoGradGuard no_grad;
    x = model.embed_image(input);
    for (std::int64_t i = 0; i + 1 < L; ++i) {
      torch::Tensor a;
      x = model.visual_block(i, x, &a);
      attention.push_back(a);
    }
  }

  // The last block from its ln_1 output as the leaf GradCAM hooks.
  ClipEsMaps out;
  out.classes = classes;
  torch::AutoGradMode grad_mode(true);
  torch::Tensor leaf;
  {
    torch::NoGradGuard no_grad;
    leaf = model.visual_ln1(L - 1, x);
  }
  leaf.requires_grad_(true);
  torch::Tensor last_attention;
  torch::Tensor y = model.visual_block_after_ln1(L - 1, x, leaf, &last_attention);
  torch::Tensor feature = model.image_head(y, /*patch_mean=*/true);
  std::vector<std::int64_t> rows;
  for (int c : classes) rows.push_back(c - 1);
  torch::Tensor targets = torch::cat({text.foreground.index_select(0, torch::tensor(rows, torch::kLong).to(
                                          text.foreground.device())), text.background}, 0);
  // forward_last_layer: both sides normalised again, (scale * image) @ text^T, softmax.
  torch::Tensor image_n = feature.unsqueeze(0) / feature.unsqueeze(0).norm(2, 1, true);
  torch::Tensor text_n = targets / targets.norm(2, 1, true);
  torch::Tensor probs = torch::softmax(torch::matmul(logit_scale_f(model) * image_n, text_n.t()), -1)[0];
  out.image_feature = feature.detach();
  out.probabilities = probs.detach();

  const torch::Tensor act = leaf.detach().slice(0, 1);  // [N, D] patch tokens
  std::vector<torch::Tensor> gradcams;
  for (std::size_t k = 0; k < classes.size(); ++k) {
    torch::Tensor grad = torch::autograd::grad({probs[std::int64_t(k)]}, {leaf}, {}, /*retain_graph=*/true)[0];
    torch::NoGradGuard no_grad;
    torch::Tensor weights = grad.slice(0, 1).mean(0);  // spatial mean per channel
    torch::Tensor cam = torch::relu(torch::matmul(act, weights)).view({gh, gw});
    // scale_cam_image per layer, then again after the (one-layer) aggregate.
    gradcams.push_back(scale_cam(torch::relu(scale_cam(cam))));
  }
  torch::NoGradGuard no_grad;
  out.gradcam = torch::stack(gradcams, 0);

  // Class-aware attention affinity.
  attention.push_back(last_attention.detach());
  const std::int64_t n_aff = std::min<std::int64_t>(options.affinity_blocks, std::int64_t(attention.size()));
  std::vector<torch::Tensor> last(attention.end() - n_aff, attention.end());
  out.affinity = affinity_transition(torch::stack(last, 0));
  std::vector<torch::Tensor> masks, refined_grid, refined;
  for (std::size_t k = 0; k < classes.size(); ++k) {
    torch::Tensor cam = out.gradcam[std::int64_t(k)];
    torch::Tensor mask = box_mask(cam, options.box_threshold).to(out.affinity.device());
    torch::Tensor r = torch::matmul(out.affinity * mask.view({1, N}), cam.reshape({N, 1})).view({gh, gw});
    masks.push_back(mask);
    refined_grid.push_back(r);
    cv::Mat full;
    cv::resize(to_mat(scale_cam(r)), full, cv::Size(rgb.cols, rgb.rows), 0, 0, cv::INTER_LINEAR);
    refined.push_back(from_mat(full));
  }
  out.box_masks = torch::stack(masks, 0);
  out.refined_grid = torch::stack(refined_grid, 0);
  out.refined = torch::stack(refined, 0);
  return out;
}

ClipTags clip_tags(const models::ClipModel& model, const ClipEsText& text, const cv::Mat& rgb,
                   const ClipTagOptions& options, const std::string& what) {
  torch::NoGradGuard no_grad;
  const auto& cfg = model.config();
  torch::Tensor x = model.embed_image(models::clip_image_input(rgb, cfg.patch_size, what));
  for (std::int64_t i = 0; i < cfg.vision_layers; ++i) x = model.visual_block(i, x);
  torch::Tensor feature = model.image_head(x, /*patch_mean=*/true);
  torch::Tensor image_n = (logit_scale_f(model) * (feature / feature.norm())).unsqueeze(0);
  torch::Tensor fg = torch::matmul(image_n, l2_rows(text.foreground).t())[0];  // [K]
  torch::Tensor bg = torch::matmul(image_n, l2_rows(text.background).t())[0];  // [B]
  // softmax over [class c, background] at c = sigmoid(s_c - logsumexp(background)).
  torch::Tensor p = torch::sigmoid(fg - torch::logsumexp(bg, 0)).to(torch::kCPU).contiguous();
  ClipTags tags;
  tags.scores.assign(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
  for (std::size_t c = 0; c < tags.scores.size(); ++c)
    if (tags.scores[c] >= options.threshold) tags.labels.push_back(int(c) + 1);
  if (tags.labels.empty() && options.at_least_one && !tags.scores.empty())
    tags.labels.push_back(int(std::max_element(tags.scores.begin(), tags.scores.end()) - tags.scores.begin()) + 1);
  return tags;
}

}  // namespace wsss::cam
