#include "wsss/models/sam.hpp"

#include <torch/csrc/jit/runtime/graph_executor.h>

#include <map>
#include <mutex>
#include <sstream>

#include "wsss/core/error.hpp"
#include "wsss/data/pil_resize.hpp"
#include "wsss/models/cam_net.hpp"

namespace wsss::models {

namespace {

namespace F = torch::nn::functional;
using torch::indexing::Slice;

constexpr std::int64_t kInterfaceVersion = 1;
constexpr std::int64_t kMaxBatch = 64;  // prompts per decode call: bounds the decoder's memory

const char* kEmbedSignature = "embed(image: Tensor) -> Tensor";
const char* kDecodeSignature =
    "decode(embeddings: Tensor, boxes: Tensor, points: Tensor, point_labels: Tensor, multimask: bool) "
    "-> Tuple[Tensor, Tensor]";

bool is_tensor(const c10::TypePtr& t) { return t->kind() == c10::TypeKind::TensorType; }

// Checks a method's argument kinds (after self) and its return type against the interface.
void check_method(const torch::jit::Module& m, const fs::path& file, const std::string& name,
                  const std::vector<c10::TypeKind>& args, bool returns_pair, const char* signature) {
  auto method = m.find_method(name);
  if (!method)
    throw InputError(file, "no method '" + name + "' (a SAM TorchScript file needs " + signature +
                               "; make one with scripts/export_sam.py)");
  const c10::FunctionSchema& schema = method->function().getSchema();
  bool ok = schema.arguments().size() == args.size() + 1 && schema.returns().size() == 1;
  for (std::size_t i = 0; ok && i < args.size(); ++i) ok = schema.arguments()[i + 1].type()->kind() == args[i];
  if (ok) {
    const c10::TypePtr& ret = schema.returns()[0].type();
    if (returns_pair) {
      auto tuple = ret->cast<c10::TupleType>();
      ok = tuple && tuple->elements().size() == 2 && is_tensor(tuple->elements()[0]) && is_tensor(tuple->elements()[1]);
    } else {
      ok = is_tensor(ret);
    }
  }
  if (!ok) {
    std::ostringstream os;
    os << schema;
    throw InputError(file, "method '" + name + "' is " + os.str() + ", expected " + signature);
  }
}

std::string shape_str(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

// The ResizeLongestSide arithmetic of segment_anything (Python floats, int(x + 0.5)).
cv::Size longest_side(int height, int width, int target) {
  double scale = target * 1.0 / std::max(height, width);
  return {int(width * scale + 0.5), int(height * scale + 0.5)};
}

}  // namespace

SamModel::SamModel(const fs::path& file, const std::string& device) : file_(file), device_(resolve_device(device)) {
  if (!fs::is_regular_file(file)) throw InputError(file, "no such file (the SAM TorchScript model)");
  try {
    module_ = torch::jit::load(file.string(), device_);
  } catch (const c10::Error& e) {
    throw InputError(file, "not a TorchScript file (" + first_line(e.what_without_backtrace()) +
                               "); make one with scripts/export_sam.py");
  }
  module_.eval();
  if (!module_.hasattr("sam_interface") || !module_.attr("sam_interface").isInt())
    throw InputError(file, "no int attribute 'sam_interface': not a SAM model exported for wsss (scripts/export_sam.py)");
  std::int64_t version = module_.attr("sam_interface").toInt();
  if (version != kInterfaceVersion)
    throw InputError(file, "sam_interface " + std::to_string(version) + " is not supported (this build reads " +
                               std::to_string(kInterfaceVersion) + ")");
  if (module_.hasattr("image_size")) {
    c10::IValue v = module_.attr("image_size");
    if (!v.isInt() || v.toInt() < 16 || v.toInt() > 8192)
      throw InputError(file, "attribute image_size must be an int within 16..8192");
    image_size_ = int(v.toInt());
  }
  if (module_.hasattr("input_frame")) {
    c10::IValue v = module_.attr("input_frame");
    std::string s = v.isString() ? v.toStringRef() : "";
    if (s != "pad" && s != "stretch")
      throw InputError(file, "attribute input_frame must be \"pad\" (SAM, MobileSAM) or \"stretch\" (EfficientSAM)");
    frame_ = s == "pad" ? SamFrame::Pad : SamFrame::Stretch;
  }
  using K = c10::TypeKind;
  check_method(module_, file, "embed", {K::TensorType}, false, kEmbedSignature);
  check_method(module_, file, "decode", {K::TensorType, K::TensorType, K::TensorType, K::TensorType, K::BoolType}, true,
               kDecodeSignature);
}

cv::Size SamModel::input_size(int height, int width) const {
  if (frame_ == SamFrame::Stretch) return {image_size_, image_size_};
  return longest_side(height, width, image_size_);
}

torch::Tensor SamModel::preprocess(const cv::Mat& rgb) const {
  const std::int64_t s = image_size_;
  if (frame_ == SamFrame::Pad) {
    // SamPredictor.set_image: PIL bilinear resize of the uint8 image, then
    // Sam.preprocess: (x - mean) / std in float32, zero padding bottom and right.
    cv::Mat resized = pil_resize(rgb, input_size(rgb.rows, rgb.cols), PilFilter::Bilinear);
    torch::Tensor x = torch::from_blob(resized.data, {resized.rows, resized.cols, 3}, torch::kUInt8)
                          .permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32);
    torch::Tensor mean = torch::tensor({123.675f, 116.28f, 103.53f}).view({1, 3, 1, 1});
    torch::Tensor std = torch::tensor({58.395f, 57.12f, 57.375f}).view({1, 3, 1, 1});
    x = (x - mean) / std;
    return F::pad(x, F::PadFuncOptions({0, s - resized.cols, 0, s - resized.rows}));
  }
  // EfficientSAM: ToTensor (x / 255), F.interpolate bilinear to S x S (no
  // antialiasing), then ImageNet normalisation.
  cv::Mat contiguous = rgb.isContinuous() ? rgb : rgb.clone();
  // Contiguous CHW, as ToTensor gives it: a channels-last tensor would take
  // another interpolation kernel (differences of 1e-6).
  torch::Tensor x = torch::from_blob(contiguous.data, {rgb.rows, rgb.cols, 3}, torch::kUInt8)
                        .permute({2, 0, 1}).contiguous().unsqueeze(0).to(torch::kFloat32).div(255);
  x = F::interpolate(x, F::InterpolateFuncOptions().size(std::vector<std::int64_t>{s, s})
                            .mode(torch::kBilinear).align_corners(false));
  torch::Tensor mean = torch::tensor({0.485f, 0.456f, 0.406f}).view({1, 3, 1, 1});
  torch::Tensor std = torch::tensor({0.229f, 0.224f, 0.225f}).view({1, 3, 1, 1});
  return (x - mean) / std;
}

std::array<float, 2> SamModel::to_input_frame(float x, float y, int height, int width) const {
  if (frame_ == SamFrame::Pad) {
    // apply_coords: float64 products, then torch.float.
    cv::Size n = input_size(height, width);
    return {float(double(x) * (double(n.width) / width)), float(double(y) * (double(n.height) / height))};
  }
  // EfficientSAM's get_rescaled_pts: float32 x * S / W.
  const float s = float(image_size_);
  return {(x * s) / float(width), (y * s) / float(height)};
}

torch::Tensor SamModel::postprocess(const torch::Tensor& low_res, const SamImage& image) const {
  torch::Tensor x = low_res.unsqueeze(0);
  auto opts = [](std::int64_t h, std::int64_t w, F::InterpolateFuncOptions::mode_t mode) {
    return F::InterpolateFuncOptions().size(std::vector<std::int64_t>{h, w}).mode(mode).align_corners(false);
  };
  if (frame_ == SamFrame::Pad) {
    // Sam.postprocess_masks.
    x = F::interpolate(x, opts(image_size_, image_size_, torch::kBilinear));
    x = x.index({"...", Slice(0, image.input_height), Slice(0, image.input_width)});
    x = F::interpolate(x, opts(image.height, image.width, torch::kBilinear));
  } else {
    x = F::interpolate(x, opts(image.height, image.width, torch::kBicubic));
  }
  return x[0];
}

void SamModel::check_embedding(const torch::Tensor& t) const {
  if (!t.defined() || t.dim() < 1 || t.size(0) != 1)
    throw InputError(file_, "embed returned a tensor of shape " + (t.defined() ? shape_str(t) : "undefined") +
                                ", expected a batch of one [1, ...]");
}

SamImage SamModel::embed(const cv::Mat& rgb) const {
  if (rgb.type() != CV_8UC3 || rgb.empty()) throw Error("SamModel::embed: expected a non-empty RGB uint8 image");
  // The profiling executor specialises a graph after its first runs; running it
  // unoptimised keeps every call numerically the same, whichever image is first.
  torch::jit::setGraphExecutorOptimize(false);
  torch::NoGradGuard no_grad;
  SamImage image;
  image.height = rgb.rows;
  image.width = rgb.cols;
  cv::Size in = input_size(rgb.rows, rgb.cols);
  image.input_height = in.height;
  image.input_width = in.width;
  torch::Tensor x = preprocess(rgb).to(device_);
  c10::IValue out = module_.get_method("embed")({x});
  embed_calls_++;
  if (!out.isTensor()) throw InputError(file_, "embed did not return a tensor");
  image.embeddings = out.toTensor();
  check_embedding(image.embeddings);
  return image;
}

std::vector<SamMask> SamModel::predict(const SamImage& image, const std::vector<Prompt>& prompts,
                                       bool multimask) const {
  torch::jit::setGraphExecutorOptimize(false);
  torch::NoGradGuard no_grad;
  // Prompts of one shape (box or not, number of points) form one decode batch,
  // in the order of their first appearance.
  std::map<std::pair<bool, std::size_t>, std::vector<std::size_t>> groups;
  std::vector<std::pair<bool, std::size_t>> order;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const Prompt& p = prompts[i];
    if (p.points.size() != p.point_labels.size())
      throw Error(p.origin + ": " + std::to_string(p.points.size()) + " points but " +
                  std::to_string(p.point_labels.size()) + " point labels");
    if (!p.box && p.points.empty()) throw Error(p.origin + ": a prompt needs a box or points");
    auto key = std::make_pair(bool(p.box), p.points.size());
    if (!groups.count(key)) order.push_back(key);
    groups[key].push_back(i);
  }
  std::vector<SamMask> result(prompts.size());
  for (const auto& key : order) {
    const std::vector<std::size_t>& all = groups[key];
    for (std::size_t start = 0; start < all.size(); start += kMaxBatch) {
      std::vector<std::size_t> idx(all.begin() + std::ptrdiff_t(start),
                                   all.begin() + std::ptrdiff_t(std::min(all.size(), start + kMaxBatch)));
      const std::int64_t n = std::int64_t(idx.size()), np = std::int64_t(key.second);
      torch::Tensor boxes = torch::zeros({key.first ? n : 0, 4});
      torch::Tensor points = torch::zeros({n, np, 2});
      torch::Tensor labels = torch::zeros({n, np}, torch::kInt32);
      auto b = boxes.accessor<float, 2>();
      auto pt = points.accessor<float, 3>();
      auto lb = labels.accessor<std::int32_t, 2>();
      for (std::int64_t j = 0; j < n; ++j) {
        const Prompt& p = prompts[idx[std::size_t(j)]];
        if (p.box) {
          auto a = to_input_frame(p.box->x0, p.box->y0, image.height, image.width);
          auto c = to_input_frame(p.box->x1, p.box->y1, image.height, image.width);
          b[j][0] = a[0], b[j][1] = a[1], b[j][2] = c[0], b[j][3] = c[1];
        }
        for (std::int64_t k = 0; k < np; ++k) {
          auto q = to_input_frame(p.points[std::size_t(k)][0], p.points[std::size_t(k)][1], image.height, image.width);
          pt[j][k][0] = q[0], pt[j][k][1] = q[1];
          lb[j][k] = p.point_labels[std::size_t(k)];
        }
      }
      c10::IValue out = module_.get_method("decode")(
          {image.embeddings, boxes.to(device_), points.to(device_), labels.to(device_), multimask});
      if (!out.isTuple() || out.toTupleRef().elements().size() != 2 || !out.toTupleRef().elements()[0].isTensor() ||
          !out.toTupleRef().elements()[1].isTensor())
        throw InputError(file_, "decode did not return a pair of tensors");
      torch::Tensor masks = out.toTupleRef().elements()[0].toTensor();
      torch::Tensor iou = out.toTupleRef().elements()[1].toTensor();
      const bool ok = masks.dim() == 4 && iou.dim() == 2 && masks.size(0) == n && iou.size(0) == n &&
                      masks.size(1) == iou.size(1) && masks.size(1) >= 1 && (multimask || masks.size(1) == 1) &&
                      masks.size(2) == masks.size(3) && masks.size(2) >= 1;
      if (!ok)
        throw InputError(file_, "decode returned masks " + shape_str(masks) + " and iou " + shape_str(iou) +
                                    " for " + std::to_string(n) + " prompts; expected [N,M,L,L] and [N,M] with N = " +
                                    std::to_string(n) + (multimask ? "" : " and M = 1 (multimask off)"));
      torch::Tensor iou_cpu = iou.to(torch::kCPU, torch::kFloat32).contiguous();
      for (std::int64_t j = 0; j < n; ++j) {
        SamMask& r = result[idx[std::size_t(j)]];
        const float* q = iou_cpu.data_ptr<float>() + j * iou_cpu.size(1);
        for (std::int64_t m = 1; m < iou_cpu.size(1); ++m)
          if (q[m] > q[r.index]) r.index = int(m);  // the first of equal scores, as argmax
        r.iou = q[r.index];
        torch::Tensor logits = postprocess(masks[j][r.index].to(torch::kFloat32).unsqueeze(0), image)[0];
        torch::Tensor bin = (frame_ == SamFrame::Pad ? logits.gt(0) : logits.ge(0)).to(torch::kCPU, torch::kUInt8)
                                .contiguous();
        r.mask.assign(bin.data_ptr<std::uint8_t>(), bin.data_ptr<std::uint8_t>() + bin.numel());
      }
    }
  }
  return result;
}

}  // namespace wsss::models
