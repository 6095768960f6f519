#pragma once
// Weight files: any torch::nn::Module's parameters AND buffers (BatchNorm
// running statistics, num_batches_tracked) to and from safetensors, named as
// PyTorch's state_dict() would name them, with string metadata saying what the
// file holds (see docs/models.md).
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "wsss/models/resnet.hpp"

namespace wsss::models {

namespace fs = std::filesystem;

// Metadata keys of our weight files (values are strings; JSON where noted).
inline constexpr const char* kMetaFormat = "wsss.format";                       // "wsss-weights-1"
inline constexpr const char* kMetaFormatValue = "wsss-weights-1";
inline constexpr const char* kMetaBackbone = "wsss.backbone";                   // ModelSpec JSON
inline constexpr const char* kMetaClassNames = "wsss.class_names";              // JSON array of strings
inline constexpr const char* kMetaTrainingOptions = "wsss.training_options";    // JSON object

// The module's tensors in PyTorch state_dict() order: modules in pre-order,
// each module's parameters then its buffers.
std::vector<std::pair<std::string, torch::Tensor>> state_dict(const torch::nn::Module& module);

struct LoadOptions {
  // Name prefix of the module's tensors in the file, e.g. "backbone.". A file
  // with no tensor under the prefix is read without it (a torchvision file).
  std::string prefix;
  // Module tensors absent from the file are an error unless allowed (a file of
  // a shallower network would otherwise "load" with half the blocks random).
  bool allow_missing = false;
  // A file whose wsss.backbone metadata names different weights (another arch
  // or width) is refused. Defaults to the module's own spec when the module is a ResNet.
  const ModelSpec* expected_spec = nullptr;
};

struct LoadReport {
  fs::path file;
  bool used_prefix = false;             // tensors were found under options.prefix
  std::vector<std::string> loaded;      // module names (without prefix) copied from the file
  std::vector<std::string> missing;     // module names not in the file
  std::vector<std::string> unexpected;  // file names nobody took (under the prefix when used_prefix)
  std::size_t ignored_outside_prefix = 0;  // file tensors outside the prefix (other heads)
  std::string summary() const;             // "loaded 318, missing 0, unexpected 2 (fc.bias, fc.weight)"
};

// Copies every tensor of `module` from the safetensors file, converting dtypes
// (F16/BF16/F64 -> float32, ...), and logs the report. Throws InputError naming
// the file and the tensor on a shape mismatch (with both shapes), on missing
// tensors unless allowed, and on an architecture mismatch.
LoadReport load_weights(torch::nn::Module& module, const fs::path& file, const LoadOptions& options = {});

// Writes the module's state_dict (each name prefixed by `prefix`) atomically,
// with kMetaFormat added to `metadata`.
void save_weights(const torch::nn::Module& module, const fs::path& file,
                  std::map<std::string, std::string> metadata = {}, const std::string& prefix = "");

// Metadata for save_weights: the backbone spec, and class names / training
// options when given (training_options is stored as compact JSON unless null).
std::map<std::string, std::string> make_metadata(const ModelSpec& backbone,
                                                 const std::vector<std::string>& class_names = {},
                                                 const nlohmann::json& training_options = nullptr);
// The class names stored by make_metadata (empty when absent); InputError names `file` when malformed.
std::vector<std::string> read_class_names(const std::map<std::string, std::string>& metadata, const fs::path& file);

// The architecture and width of a backbone initialised from the weight file
// `init` (arch and base_width set, the rest default): the file's own spec when
// it holds one (a wsss weight file, e.g. a CAM classifier), `arch` and `width`
// given as well must then agree with it (UsageError naming both); else `arch`
// and `width` (torchvision files carry no spec), "" and 0 meaning resnet50 x 64.
ModelSpec init_backbone(const std::string& init, const std::string& arch, int width);

// Metadata of a weight file (for reading the spec, class names... before building the model).
std::map<std::string, std::string> read_weight_metadata(const fs::path& file);
// The backbone spec stored in a weight file; throws InputError if there is none.
ModelSpec read_backbone_spec(const fs::path& file);

}  // namespace wsss::models
