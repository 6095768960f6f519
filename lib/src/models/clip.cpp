#include "wsss/models/clip.hpp"

#include <torch/script.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "wsss/core/error.hpp"
#include "wsss/data/pil_resize.hpp"
#include "wsss/io/safetensors.hpp"

namespace wsss::models {

namespace F = torch::nn::functional;
namespace st = wsss::safetensors;

std::string ClipConfig::describe() const {
  std::ostringstream os;
  os << "vision " << vision_width << " wide, " << vision_layers << " layers, " << vision_heads << " heads, patch "
     << patch_size << ", grid " << grid << "; text " << text_width << " wide, " << text_layers << " layers, "
     << text_heads << " heads, context " << context_length << ", vocabulary " << vocab_size << "; embedding "
     << embed_dim;
  return os.str();
}

namespace {

std::string shape_text(torch::IntArrayRef shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

// Block indices present under `prefix` ("visual.transformer.resblocks."); they
// must be 0..n-1.
std::int64_t count_blocks(const std::map<std::string, torch::Tensor>& by_name, const std::string& prefix,
                          const fs::path& file) {
  std::set<std::int64_t> seen;
  for (auto it = by_name.lower_bound(prefix); it != by_name.end() && it->first.rfind(prefix, 0) == 0; ++it) {
    std::string rest = it->first.substr(prefix.size());
    std::size_t dot = rest.find('.');
    try {
      seen.insert(std::stoll(rest.substr(0, dot)));
    } catch (const std::exception&) {
      throw InputError(file, "unexpected tensor '" + it->first + "'");
    }
  }
  std::int64_t n = std::int64_t(seen.size());
  if (n == 0 || *seen.begin() != 0 || *seen.rbegin() != n - 1)
    throw InputError(file, "not a CLIP model: the blocks " + prefix + "N are not numbered 0.." + std::to_string(n - 1));
  return n;
}

torch::Tensor layer_norm(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return torch::layer_norm(x, {x.size(-1)}, w, b, 1e-5);  // nn.LayerNorm's default eps, as CLIP
}

std::vector<std::pair<std::string, torch::Tensor>> read_torchscript(const fs::path& file) {
  torch::jit::Module m;
  try {
    m = torch::jit::load(file.string(), torch::kCPU);
  } catch (const c10::Error& e) {
    throw InputError(file, "not a TorchScript archive (" + first_line(e.what_without_backtrace()) +
                               "); OpenAI's CLIP files (ViT-B-16.pt) are; a state dict saved with torch.save can be "
                               "converted with scripts/pth_to_safetensors.py");
  }
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : m.named_parameters(/*recurse=*/true)) out.emplace_back(p.name, p.value.detach());
  for (const auto& b : m.named_buffers(/*recurse=*/true)) out.emplace_back(b.name, b.value.detach());
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> read_safetensors(const fs::path& file) {
  st::File f = st::File::read(file);
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const st::TensorInfo& t : f.tensors()) {
    std::vector<float> values = f.to_float(t);
    torch::Tensor v = torch::from_blob(values.data(), t.shape, torch::kFloat32).clone();
    out.emplace_back(t.name, v);
  }
  return out;
}

}  // namespace

ClipModel ClipModel::load(const fs::path& file) {
  if (!fs::is_regular_file(file)) throw InputError(file, "no such file (a CLIP model: OpenAI's ViT-B-16.pt or safetensors)");
  // TorchScript archives are zip files; safetensors start with their header length.
  char magic[4] = {0, 0, 0, 0};
  if (std::FILE* f = std::fopen(file.c_str(), "rb")) {
    std::size_t got = std::fread(magic, 1, 4, f);
    std::fclose(f);
    if (got < 4) throw InputError(file, "too short to be a CLIP model");
  } else {
    throw InputError(file, "cannot open");
  }
  bool zip = magic[0] == 'P' && magic[1] == 'K';
  return from_tensors(zip ? read_torchscript(file) : read_safetensors(file), file);
}

ClipModel ClipModel::from_tensors(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                                  const fs::path& file) {
  std::map<std::string, torch::Tensor> by_name;
  for (const auto& [name, t] : tensors) by_name[name] = t;
  if (!by_name.count("visual.conv1.weight")) {
    if (by_name.count("visual.attnpool.positional_embedding"))
      throw InputError(file, "a ResNet CLIP (visual.attnpool); CLIP-ES needs a ViT CLIP such as ViT-B/16");
    std::string example = tensors.empty() ? std::string("none") : "'" + by_name.begin()->first + "', ...";
    throw InputError(file, "not a CLIP model: no tensor 'visual.conv1.weight' (it holds " +
                               std::to_string(by_name.size()) + " tensors: " + example + ")");
  }
  // A tensor by name as float32, with its shape checked (-1: any size).
  auto take = [&](const std::string& name, std::vector<std::int64_t> shape) {
    auto it = by_name.find(name);
    if (it == by_name.end()) throw InputError(file, "not a CLIP model: no tensor '" + name + "'");
    torch::Tensor t = it->second;
    bool ok = t.dim() == std::int64_t(shape.size());
    for (std::size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || t.size(std::int64_t(i)) == shape[i];
    if (!ok) {
      for (auto& s : shape) s = s < 0 ? 0 : s;
      throw InputError(file, "tensor '" + name + "' has shape " + shape_text(t.sizes()) + ", expected " +
                                 shape_text(shape) + " (0 = any)");
    }
    if (!t.is_floating_point()) throw InputError(file, "tensor '" + name + "' is not floating point");
    return t.to(torch::kFloat32).contiguous().clone();
  };

  ClipModel m;
  m.file_ = file;
  ClipConfig& c = m.config_;
  m.conv1_w_ = take("visual.conv1.weight", {-1, 3, -1, -1});
  c.vision_width = m.conv1_w_.size(0);
  c.patch_size = m.conv1_w_.size(2);
  if (m.conv1_w_.size(3) != c.patch_size)
    throw InputError(file, "tensor 'visual.conv1.weight' has a non-square kernel " + shape_text(m.conv1_w_.sizes()));
  const std::int64_t W = c.vision_width;
  m.vis_pos_ = take("visual.positional_embedding", {-1, W});
  c.grid = std::int64_t(std::llround(std::sqrt(double(m.vis_pos_.size(0) - 1))));
  if (c.grid * c.grid + 1 != m.vis_pos_.size(0))
    throw InputError(file, "visual.positional_embedding has " + std::to_string(m.vis_pos_.size(0)) +
                               " rows, not a square grid plus the class token");
  m.class_emb_ = take("visual.class_embedding", {W});
  m.ln_pre_w_ = take("visual.ln_pre.weight", {W});
  m.ln_pre_b_ = take("visual.ln_pre.bias", {W});
  m.ln_post_w_ = take("visual.ln_post.weight", {W});
  m.ln_post_b_ = take("visual.ln_post.bias", {W});
  m.vis_proj_ = take("visual.proj", {W, -1});
  c.embed_dim = m.vis_proj_.size(1);

  m.ln_final_w_ = take("ln_final.weight", {-1});
  c.text_width = m.ln_final_w_.size(0);
  const std::int64_t T = c.text_width;
  m.ln_final_b_ = take("ln_final.bias", {T});
  m.tok_emb_ = take("token_embedding.weight", {-1, T});
  c.vocab_size = m.tok_emb_.size(0);
  m.txt_pos_ = take("positional_embedding", {-1, T});
  c.context_length = m.txt_pos_.size(0);
  m.txt_proj_ = take("text_projection", {T, c.embed_dim});
  // exp in float32, as CLIP's self.logit_scale.exp() on a float tensor.
  m.logit_scale_ = double(take("logit_scale", {}).exp().item<float>());

  for (std::int64_t width : {W, T})
    if (width % 64 != 0)
      throw InputError(file, "transformer width " + std::to_string(width) +
                                 " is not a multiple of 64 (CLIP's heads are width / 64)");
  c.vision_heads = W / 64;
  c.text_heads = T / 64;

  auto blocks = [&](const std::string& prefix, std::int64_t width, std::vector<ClipBlock>& out) {
    std::int64_t n = count_blocks(by_name, prefix, file);
    for (std::int64_t i = 0; i < n; ++i) {
      const std::string p = prefix + std::to_string(i) + ".";
      ClipBlock b;
      b.ln1_w = take(p + "ln_1.weight", {width});
      b.ln1_b = take(p + "ln_1.bias", {width});
      b.in_w = take(p + "attn.in_proj_weight", {3 * width, width});
      b.in_b = take(p + "attn.in_proj_bias", {3 * width});
      b.out_w = take(p + "attn.out_proj.weight", {width, width});
      b.out_b = take(p + "attn.out_proj.bias", {width});
      b.ln2_w = take(p + "ln_2.weight", {width});
      b.ln2_b = take(p + "ln_2.bias", {width});
      b.fc_w = take(p + "mlp.c_fc.weight", {4 * width, width});
      b.fc_b = take(p + "mlp.c_fc.bias", {4 * width});
      b.proj_w = take(p + "mlp.c_proj.weight", {width, 4 * width});
      b.proj_b = take(p + "mlp.c_proj.bias", {width});
      out.push_back(b);
    }
    return n;
  };
  c.vision_layers = blocks("visual.transformer.resblocks.", W, m.visual_);
  c.text_layers = blocks("transformer.resblocks.", T, m.text_);
  // CLIP's build_attention_mask: -inf above the diagonal.
  m.causal_mask_ = torch::full({c.context_length, c.context_length}, -std::numeric_limits<float>::infinity())
                       .triu(1);
  return m;
}

void ClipModel::to(const torch::Device& device) {
  device_ = device;
  for (torch::Tensor* t : {&conv1_w_, &class_emb_, &vis_pos_, &ln_pre_w_, &ln_pre_b_, &ln_post_w_, &ln_post_b_,
                           &vis_proj_, &tok_emb_, &txt_pos_, &ln_final_w_, &ln_final_b_, &txt_proj_, &causal_mask_})
    *t = t->to(device);
  for (auto* blocks : {&visual_, &text_})
    for (ClipBlock& b : *blocks)
      for (torch::Tensor* t : {&b.ln1_w, &b.ln1_b, &b.in_w, &b.in_b, &b.out_w, &b.out_b, &b.ln2_w, &b.ln2_b, &b.fc_w,
                               &b.fc_b, &b.proj_w, &b.proj_b})
        *t = t->to(device);
}

// nn.MultiheadAttention(x, x, x) on [B, L, D]: packed in-projection, scaled
// dot products (plus an additive mask), softmax, values, out-projection; the
// weights averaged over heads as need_weights=True returns them.
torch::Tensor ClipModel::attention(const ClipBlock& b, const torch::Tensor& x, std::int64_t heads,
                                   const torch::Tensor& mask, torch::Tensor* weights) const {
  const std::int64_t B = x.size(0), L = x.size(1), D = x.size(2), hd = D / heads;
  torch::Tensor qkv = torch::linear(x, b.in_w, b.in_b).view({B, L, 3, heads, hd}).permute({2, 0, 3, 1, 4});
  torch::Tensor q = qkv[0].reshape({B * heads, L, hd}) / std::sqrt(double(hd));
  torch::Tensor k = qkv[1].reshape({B * heads, L, hd});
  torch::Tensor v = qkv[2].reshape({B * heads, L, hd});
  torch::Tensor scores = mask.defined() ? torch::baddbmm(mask, q, k.transpose(1, 2)) : torch::bmm(q, k.transpose(1, 2));
  torch::Tensor attn = torch::softmax(scores, -1);
  torch::Tensor out = torch::bmm(attn, v).view({B, heads, L, hd}).permute({0, 2, 1, 3}).reshape({B, L, D});
  if (weights) *weights = attn.view({B, heads, L, L}).mean(1);
  return torch::linear(out, b.out_w, b.out_b);
}

torch::Tensor ClipModel::mlp(const ClipBlock& b, const torch::Tensor& x) const {
  torch::Tensor h = torch::linear(x, b.fc_w, b.fc_b);
  h = h * torch::sigmoid(1.702 * h);  // QuickGELU
  return torch::linear(h, b.proj_w, b.proj_b);
}

torch::Tensor ClipModel::encode_text(const torch::Tensor& tokens) const {
  if (tokens.dim() != 2 || tokens.size(1) != config_.context_length)
    throw Error("encode_text: tokens must be [B, " + std::to_string(config_.context_length) + "], got " +
                shape_text(tokens.sizes()));
  const std::int64_t B = tokens.size(0), C = tokens.size(1);
  torch::Tensor ids = tokens.to(device_, torch::kLong);
  torch::Tensor x = tok_emb_.index_select(0, ids.flatten()).view({B, C, config_.text_width}) + txt_pos_;
  for (const ClipBlock& b : text_) {
    x = x + attention(b, layer_norm(x, b.ln1_w, b.ln1_b), config_.text_heads, causal_mask_, nullptr);
    x = x + mlp(b, layer_norm(x, b.ln2_w, b.ln2_b));
  }
  x = layer_norm(x, ln_final_w_, ln_final_b_);
  // The end token has the largest id: its position holds the text's feature.
  torch::Tensor eot = ids.argmax(-1);
  torch::Tensor rows = torch::arange(B, torch::TensorOptions().dtype(torch::kLong).device(device_));
  return torch::matmul(x.index({rows, eot}), txt_proj_);
}

torch::Tensor ClipModel::positional_embedding(std::int64_t grid_h, std::int64_t grid_w) const {
  const std::int64_t D = config_.vision_width, g = config_.grid;
  torch::Tensor first = vis_pos_.slice(0, 0, 1);
  torch::Tensor rest = vis_pos_.slice(0, 1).t().reshape({1, D, g, g});
  rest = F::interpolate(rest, F::InterpolateFuncOptions()
                                  .size(std::vector<std::int64_t>{grid_h, grid_w})
                                  .mode(torch::kBilinear)
                                  .align_corners(false));
  rest = rest.reshape({D, grid_h * grid_w}).t();
  // CLIP-ES stores the resized table as a float16 Parameter; the rounding is
  // part of what the reference computes (on the CPU as on the GPU).
  return torch::cat({first, rest}, 0).to(torch::kHalf).to(torch::kFloat32);
}

torch::Tensor ClipModel::embed_image(const torch::Tensor& image, bool pretrained_positions) const {
  const std::int64_t p = config_.patch_size, D = config_.vision_width;
  if (image.dim() != 4 || image.size(0) != 1 || image.size(1) != 3 || image.size(2) % p || image.size(3) % p)
    throw Error("embed_image: expected [1,3,H,W] with H and W multiples of " + std::to_string(p) + ", got " +
                shape_text(image.sizes()));
  const std::int64_t gh = image.size(2) / p, gw = image.size(3) / p;
  if (pretrained_positions && (gh != config_.grid || gw != config_.grid))
    throw Error("embed_image: the pretrained positions need a " + std::to_string(config_.grid * p) + "x" +
                std::to_string(config_.grid * p) + " image, got " + shape_text(image.sizes()));
  torch::Tensor x = F::conv2d(image.to(device_), conv1_w_, F::Conv2dFuncOptions().stride(p));  // [1, D, gh, gw]
  x = x.reshape({D, gh * gw}).t();
  x = torch::cat({class_emb_.view({1, D}), x}, 0) + (pretrained_positions ? vis_pos_ : positional_embedding(gh, gw));
  return layer_norm(x, ln_pre_w_, ln_pre_b_);
}

torch::Tensor ClipModel::encode_image(const torch::Tensor& image) const {
  torch::Tensor x = embed_image(image, /*pretrained_positions=*/true);
  for (std::int64_t i = 0; i < config_.vision_layers; ++i) x = visual_block(i, x);
  return image_head(x, /*patch_mean=*/false);
}

torch::Tensor ClipModel::visual_ln1(std::int64_t i, const torch::Tensor& x) const {
  const ClipBlock& b = visual_.at(std::size_t(i));
  return layer_norm(x, b.ln1_w, b.ln1_b);
}

torch::Tensor ClipModel::visual_block_after_ln1(std::int64_t i, const torch::Tensor& x, const torch::Tensor& ln1,
                                                torch::Tensor* attn) const {
  const ClipBlock& b = visual_.at(std::size_t(i));
  torch::Tensor w;
  torch::Tensor h = x + attention(b, ln1.unsqueeze(0), config_.vision_heads, {}, attn ? &w : nullptr)[0];
  if (attn) *attn = w[0];
  return h + mlp(b, layer_norm(h, b.ln2_w, b.ln2_b));
}

torch::Tensor ClipModel::visual_block(std::int64_t i, const torch::Tensor& x, torch::Tensor* attn) const {
  return visual_block_after_ln1(i, x, visual_ln1(i, x), attn);
}

torch::Tensor ClipModel::image_head(const torch::Tensor& tokens, bool patch_mean) const {
  torch::Tensor y = layer_norm(tokens, ln_post_w_, ln_post_b_);
  torch::Tensor v = patch_mean ? y.slice(0, 1).mean(0) : y[0];
  return torch::matmul(v, vis_proj_);
}

torch::Tensor clip_image_input(const cv::Mat& rgb, std::int64_t patch, const std::string& what) {
  if (rgb.type() != CV_8UC3) throw Error(what + ": expected an 8-bit RGB image");
  if (rgb.rows < patch || rgb.cols < patch)
    throw InputError(what, std::to_string(rgb.cols) + "x" + std::to_string(rgb.rows) + " image is smaller than one " +
                               std::to_string(patch) + "x" + std::to_string(patch) + " patch");
  const int h = int((rgb.rows + patch - 1) / patch * patch), w = int((rgb.cols + patch - 1) / patch * patch);
  // Pillow returns a copy when the size is unchanged.
  cv::Mat resized = (h == rgb.rows && w == rgb.cols) ? rgb : pil_resize(rgb, cv::Size(w, h), PilFilter::Bicubic);
  if (!resized.isContinuous()) resized = resized.clone();
  // torchvision: ToTensor (float / 255), then Normalize (sub mean, div std), in float32.
  torch::Tensor x = torch::from_blob(resized.data, {h, w, 3}, torch::kUInt8).permute({2, 0, 1}).to(torch::kFloat32);
  x = x.div(255);
  torch::Tensor mean = torch::tensor({kClipMean[0], kClipMean[1], kClipMean[2]}).view({3, 1, 1});
  torch::Tensor std = torch::tensor({kClipStd[0], kClipStd[1], kClipStd[2]}).view({3, 1, 1});
  return x.sub(mean).div(std).unsqueeze(0).contiguous();
}

}  // namespace wsss::models
