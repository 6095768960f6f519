#include "wsss/models/weights.hpp"

#include <sstream>
#include <algorithm>

#include "wsss/io/atomic_file.hpp"
#include "wsss/models/checkpoint.hpp"

#include <cerrno>
#include <cstring>
#include <set>

#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/io/safetensors.hpp"

namespace wsss::models {

namespace st = wsss::safetensors;

namespace {

void collect(const torch::nn::Module& m, const std::string& prefix,
             std::vector<std::pair<std::string, torch::Tensor>>& out) {
  for (const auto& p : m.named_parameters(/*recurse=*/false)) out.emplace_back(prefix + p.key(), p.value());
  for (const auto& b : m.named_buffers(/*recurse=*/false)) out.emplace_back(prefix + b.key(), b.value());
  for (const auto& c : m.named_children()) collect(*c.value(), prefix + c.key() + ".", out);
}

std::string shape_text(torch::IntArrayRef shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string shape_text(const std::vector<std::int64_t>& shape) { return shape_text(torch::IntArrayRef(shape)); }

torch::ScalarType scalar_type(st::DType d) {
  switch (d) {
    case st::DType::F64: return torch::kFloat64;
    case st::DType::F32: return torch::kFloat32;
    case st::DType::F16: return torch::kFloat16;
    case st::DType::BF16: return torch::kBFloat16;
    case st::DType::I64: return torch::kInt64;
    case st::DType::I32: return torch::kInt32;
    case st::DType::I16: return torch::kInt16;
    case st::DType::I8: return torch::kInt8;
    case st::DType::U8: return torch::kUInt8;
    case st::DType::BOOL: return torch::kBool;
  }
  throw Error("unhandled safetensors dtype");
}

st::DType file_dtype(torch::ScalarType t, const std::string& name) {
  switch (t) {
    case torch::kFloat64: return st::DType::F64;
    case torch::kFloat32: return st::DType::F32;
    case torch::kFloat16: return st::DType::F16;
    case torch::kBFloat16: return st::DType::BF16;
    case torch::kInt64: return st::DType::I64;
    case torch::kInt32: return st::DType::I32;
    case torch::kInt16: return st::DType::I16;
    case torch::kInt8: return st::DType::I8;
    case torch::kUInt8: return st::DType::U8;
    case torch::kBool: return st::DType::BOOL;
    default: throw Error("cannot save tensor '" + name + "': unsupported dtype " + std::string(c10::toString(t)));
  }
}

std::string list_some(const std::vector<std::string>& names, std::size_t limit = 8) {
  std::string s;
  for (std::size_t i = 0; i < names.size() && i < limit; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > limit) s += ", ... (" + std::to_string(names.size() - limit) + " more)";
  return s;
}

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> state_dict(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  collect(module, "", out);
  return out;
}

std::string LoadReport::summary() const {
  std::string s = "loaded " + std::to_string(loaded.size()) + ", missing " + std::to_string(missing.size());
  if (!missing.empty()) s += " (" + list_some(missing) + ")";
  s += ", unexpected " + std::to_string(unexpected.size());
  if (!unexpected.empty()) s += " (" + list_some(unexpected) + ")";
  if (ignored_outside_prefix) s += ", ignored " + std::to_string(ignored_outside_prefix) + " outside the prefix";
  return s;
}

LoadReport load_weights(torch::nn::Module& module, const fs::path& file, const LoadOptions& options) {
  const st::File f = st::File::read(file);
  LoadReport report;
  report.file = file;
  const std::string& prefix = options.prefix;
  if (!prefix.empty())
    for (const auto& t : f.tensors())
      if (t.name.compare(0, prefix.size(), prefix) == 0) {
        report.used_prefix = true;
        break;
      }
  const std::string key_prefix = report.used_prefix ? prefix : "";

  const auto entries = state_dict(module);
  std::set<std::string> taken;
  // Check every shape before copying anything, so that a refused file leaves the module untouched.
  std::vector<std::pair<torch::Tensor, const st::TensorInfo*>> plan;
  std::string first_mismatch;
  for (const auto& [name, tensor] : entries) {
    const st::TensorInfo* info = f.find(key_prefix + name);
    if (!info) {
      report.missing.push_back(name);
      continue;
    }
    taken.insert(info->name);
    if (tensor.sizes() != torch::IntArrayRef(info->shape)) {
      throw InputError(file, "tensor '" + info->name + "': shape " + shape_text(info->shape) +
                                 " in the file but " + shape_text(tensor.sizes()) +
                                 " in the model (weights of a different architecture or width?)");
    }
    plan.emplace_back(tensor, info);
    report.loaded.push_back(name);
  }
  for (const auto& t : f.tensors()) {
    if (taken.count(t.name)) continue;
    if (report.used_prefix && t.name.compare(0, prefix.size(), prefix) != 0) {
      ++report.ignored_outside_prefix;
      continue;
    }
    report.unexpected.push_back(t.name);
  }

  const ModelSpec* expected = options.expected_spec;
  if (!expected)
    if (const auto* resnet = dynamic_cast<const ResNetImpl*>(&module)) expected = &resnet->spec();
  if (expected) {
    auto it = f.metadata().find(kMetaBackbone);
    if (it != f.metadata().end()) {
      ModelSpec file_spec;
      try {
        file_spec = ModelSpec::from_json(nlohmann::json::parse(it->second), kMetaBackbone);
      } catch (const std::exception& e) {
        throw InputError(file, std::string("bad metadata: ") + e.what());
      }
      if (!file_spec.same_weights_as(*expected)) {
        std::string first = !report.missing.empty() ? "first missing tensor '" + key_prefix + report.missing.front() + "'"
                            : !report.unexpected.empty() ? "first unexpected tensor '" + report.unexpected.front() + "'"
                                                         : "no tensor differs";
        throw InputError(file, "weights are for " + file_spec.arch + " width " + std::to_string(file_spec.base_width) +
                                   " but the model is " + expected->arch + " width " +
                                   std::to_string(expected->base_width) + " (" + first + ")");
      }
    }
  }
  if (!report.missing.empty() && !options.allow_missing)
    throw InputError(file, std::to_string(report.missing.size()) + " model tensors missing from the file, first '" +
                               key_prefix + report.missing.front() +
                               "' (weights of a different architecture, or wrong --prefix?)");

  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> sources;
  sources.reserve(plan.size());
  for (auto& [tensor, info] : plan) {
    torch::Tensor src = torch::empty(info->shape, torch::TensorOptions().dtype(scalar_type(info->dtype)));
    if (info->nbytes()) std::memcpy(src.data_ptr(), f.data(*info), info->nbytes());
    // A model with a NaN would write NaN score maps for every image.
    if (src.is_floating_point() && !torch::isfinite(src).all().item<bool>())
      throw InputError(file, "tensor '" + info->name + "' has " +
                                 std::to_string((~torch::isfinite(src)).sum().item<std::int64_t>()) +
                                 " NaN or infinite values");
    sources.push_back(src);
  }
  for (std::size_t i = 0; i < plan.size(); ++i) plan[i].first.copy_(sources[i].to(plan[i].first.scalar_type()));
  log::info(file.string(), ": ", report.summary());
  return report;
}

void save_weights(const torch::nn::Module& module, const fs::path& file, std::map<std::string, std::string> metadata,
                  const std::string& prefix) {
  const auto entries = state_dict(module);
  std::vector<torch::Tensor> keep;  // contiguous CPU copies alive until written
  std::vector<st::TensorView> views;
  keep.reserve(entries.size());
  for (const auto& [name, tensor] : entries) {
    keep.push_back(tensor.detach().to(torch::kCPU).contiguous());
    // Diverged training (NaN loss) must not leave a model that looks finished.
    if (keep.back().is_floating_point() && !torch::isfinite(keep.back()).all().item<bool>())
      throw Error(file.string() + ": tensor '" + prefix + name + "' has NaN or infinite values (training diverged? " +
                  "try a lower --lr); not written");
    views.push_back({prefix + name, file_dtype(tensor.scalar_type(), name),
                     std::vector<std::int64_t>(tensor.sizes().begin(), tensor.sizes().end()), keep.back().data_ptr()});
  }
  metadata[kMetaFormat] = kMetaFormatValue;
  st::write(file, std::move(views), metadata);
}

std::map<std::string, std::string> make_metadata(const ModelSpec& backbone, const std::vector<std::string>& class_names,
                                                 const nlohmann::json& training_options) {
  std::map<std::string, std::string> meta;
  meta[kMetaBackbone] = backbone.to_json().dump();
  if (!class_names.empty()) meta[kMetaClassNames] = nlohmann::json(class_names).dump();
  if (!training_options.is_null()) meta[kMetaTrainingOptions] = training_options.dump();
  return meta;
}

std::vector<std::string> read_class_names(const std::map<std::string, std::string>& metadata, const fs::path& file) {
  auto it = metadata.find(kMetaClassNames);
  if (it == metadata.end()) return {};
  try {
    return nlohmann::json::parse(it->second).get<std::vector<std::string>>();
  } catch (const std::exception& e) {
    throw InputError(file, std::string("bad '") + kMetaClassNames + "' metadata: " + e.what());
  }
}

std::map<std::string, std::string> read_weight_metadata(const fs::path& file) {
  return st::File::read_header(file).metadata();
}

ModelSpec read_backbone_spec(const fs::path& file) {
  const auto meta = read_weight_metadata(file);
  auto it = meta.find(kMetaBackbone);
  if (it == meta.end())
    throw InputError(file, std::string("no '") + kMetaBackbone + "' metadata: not a wsss weight file (pass the architecture explicitly)");
  try {
    return ModelSpec::from_json(nlohmann::json::parse(it->second), kMetaBackbone);
  } catch (const std::exception& e) {
    throw InputError(file, std::string("bad metadata: ") + e.what());
  }
}

ModelSpec init_backbone(const std::string& init, const std::string& arch, int width) {
  ModelSpec spec;
  spec.arch = arch;
  spec.base_width = width;
  auto meta = read_weight_metadata(init);
  if (meta.count(kMetaBackbone)) {
    const ModelSpec stored = read_backbone_spec(init);
    if (!arch.empty() && arch != stored.arch) throw UsageError("--arch " + arch + " but " + init + " holds a " + stored.arch);
    if (width != 0 && width != stored.base_width)
      throw UsageError("--width " + std::to_string(width) + " but " + init + " holds width " +
                       std::to_string(stored.base_width));
    spec.arch = stored.arch;
    spec.base_width = stored.base_width;
  }
  if (spec.arch.empty()) spec.arch = "resnet50";
  if (spec.base_width == 0) spec.base_width = 64;
  return spec;
}

void save_resume_state(torch::optim::Optimizer& optimizer, std::int64_t progress, const fs::path& file,
                       const torch::nn::Module* net, const std::map<std::string, std::string>& metadata) {
  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  archive.write("progress", torch::tensor(progress));
  if (net) {
    torch::serialize::OutputArchive weights;
    net->save(weights);
    archive.write("model", weights);
    archive.write("metadata", c10::IValue(nlohmann::json(metadata).dump()));
  }
  // Serialised in memory, then written atomically: LibTorch's file writer
  // finishes the archive in its destructor, where a failed write (a full
  // disk) aborts the process; in memory the archive also holds no file name.
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(file, bytes.str());
}

std::int64_t load_resume_state(torch::optim::Optimizer& optimizer, const fs::path& file) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(file.string());
    optimizer.load(archive);
    torch::Tensor progress;
    archive.read("progress", progress);
    return progress.item<std::int64_t>();
  } catch (const c10::Error& e) {
    throw InputError(file, std::string("unreadable resume state: ") + e.what_without_backtrace());
  }
}

namespace {

// The training options a checkpoint was written with: from the state file's
// copy of the metadata when it has one, else from checkpoint.safetensors.
nlohmann::json stored_training_options(const std::map<std::string, std::string>& meta, const fs::path& source) {
  auto stored = meta.find(kMetaTrainingOptions);
  if (stored == meta.end()) throw InputError(source, "no training options in the metadata; cannot resume");
  nlohmann::json saved = nlohmann::json::parse(stored->second, nullptr, /*allow_exceptions=*/false);
  if (!saved.is_object()) throw InputError(source, "malformed training options in the metadata");
  return saved;
}

void compare_training_options(const nlohmann::json& saved, const fs::path& source, const nlohmann::json& current,
                              const std::vector<std::string>& ignored) {
  std::string differences;
  for (const auto& item : current.items()) {
    const std::string& key = item.key();
    if (std::find(ignored.begin(), ignored.end(), key) != ignored.end()) continue;
    if (saved.contains(key) && saved[key] == item.value()) continue;
    if (!differences.empty()) differences += ", ";
    differences += key + " " + item.value().dump() + " here, " + (saved.contains(key) ? saved[key].dump() : "none") +
                   " in the checkpoint";
  }
  if (!differences.empty())
    throw Error(source.string() + ": --resume with other training options (" + differences +
                "); resume with the same options or restart with --overwrite");
}

}  // namespace

void check_resume_options(const fs::path& checkpoint, const nlohmann::json& current,
                          const std::vector<std::string>& ignored) {
  compare_training_options(stored_training_options(read_weight_metadata(checkpoint), checkpoint), checkpoint, current,
                           ignored);
}

}  // namespace wsss::models

namespace wsss::models {

std::int64_t resume_training(torch::nn::Module& net, const ModelSpec& spec, torch::optim::Optimizer& optimizer,
                             const fs::path& checkpoint, const fs::path& state, const nlohmann::json& current,
                             std::int64_t max_progress, const std::vector<std::string>& ignored) {
  // A state file with the weights in it is a whole resume point (save_resume_state).
  torch::serialize::InputArchive archive, weights;
  bool self_contained = false;
  std::map<std::string, std::string> meta;
  try {
    archive.load_from(state.string());
    c10::IValue text;
    if (archive.try_read("model", weights) && archive.try_read("metadata", text) && text.isString()) {
      meta = nlohmann::json::parse(text.toStringRef()).get<std::map<std::string, std::string>>();
      self_contained = true;
    }
  } catch (const c10::Error& e) {
    throw InputError(state, std::string("unreadable resume state: ") + e.what_without_backtrace());
  } catch (const nlohmann::json::exception& e) {
    throw InputError(state, std::string("unreadable resume state metadata: ") + e.what());
  }
  if (self_contained) {
    compare_training_options(stored_training_options(meta, state), fs::exists(checkpoint) ? checkpoint : state,
                             current, ignored);
    auto backbone = meta.find(kMetaBackbone);
    if (backbone != meta.end()) {
      ModelSpec stored;
      try {
        stored = ModelSpec::from_json(nlohmann::json::parse(backbone->second), kMetaBackbone);
      } catch (const std::exception& e) {
        throw InputError(state, std::string("bad metadata: ") + e.what());
      }
      if (!stored.same_weights_as(spec))
        throw InputError(state, "weights are for " + stored.arch + " width " + std::to_string(stored.base_width) +
                                    " but the model is " + spec.arch + " width " + std::to_string(spec.base_width));
    }
    try {
      net.load(weights);
    } catch (const c10::Error& e) {
      throw InputError(state, std::string("cannot load its weights: ") + e.what_without_backtrace());
    }
  } else {
    check_resume_options(checkpoint, current, ignored);
    LoadOptions load;
    load.expected_spec = &spec;
    load_weights(net, checkpoint, load);
  }
  const std::int64_t progress = load_resume_state(optimizer, state);
  if (progress < 0 || progress > max_progress)
    throw InputError(state, "progress " + std::to_string(progress) + " out of range (0.." +
                                std::to_string(max_progress) + ")");
  return progress;
}

}  // namespace wsss::models
