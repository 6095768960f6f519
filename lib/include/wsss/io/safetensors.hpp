#pragma once
// The safetensors weight format (https://github.com/huggingface/safetensors),
// read and written without torch so that any tool can inspect weight files:
//
//   u64 little-endian N | N bytes of JSON header | raw tensor bytes
//
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin,
// end)} (offsets relative to the start of the raw bytes) plus an optional
// "__metadata__" object of string -> string. Reading validates everything a
// hostile or truncated file could get wrong and reports it as one InputError
// naming the file and the tensor.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace wsss::safetensors {

namespace fs = std::filesystem;

// All dtypes are little-endian, as the format prescribes.
enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

std::size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // "F32", ...
// False when `name` is not a dtype we know (the caller reports it).
bool parse_dtype(std::string_view name, DType& out);

// The reference implementation refuses headers above 100 MB; so do we, because
// a corrupt length would otherwise make us allocate gigabytes.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

using Metadata = std::map<std::string, std::string>;

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;  // byte range within the data section
  std::int64_t numel() const;
  std::uint64_t nbytes() const { return end - begin; }
};

// A whole file held in memory (weight files are read once, at startup).
class File {
 public:
  // Throws InputError naming `path` (and the tensor) on any malformed content.
  static File read(const fs::path& path);
  // Parses bytes already in memory; `path` only names them in errors.
  static File parse(std::string bytes, const fs::path& path);
  // Reads and validates only the header (tensor list and metadata), e.g. to
  // learn the architecture of a large weight file; data() then throws.
  static File read_header(const fs::path& path);

  const fs::path& path() const { return path_; }
  // Sorted by name.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  const Metadata& metadata() const { return metadata_; }
  // Raw little-endian bytes of one tensor (nbytes() long).
  const char* data(const TensorInfo& tensor) const;
  // The values of any numeric tensor converted to float (F16/BF16 widened).
  std::vector<float> to_float(const TensorInfo& tensor) const;

 private:
  void parse_header(const char* json, std::uint64_t json_size, std::uint64_t data_size);

  fs::path path_;
  std::string bytes_;
  std::size_t data_start_ = 0;
  bool header_only_ = false;
  std::vector<TensorInfo> tensors_;
  Metadata metadata_;
};

// One tensor to write; `data` must hold numel * dtype_size bytes, little-endian.
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  const void* data = nullptr;
};

// Serialises tensors sorted by name (the byte layout follows the same order),
// with the header padded by spaces to a multiple of 8 bytes so that the data
// section stays 8-byte aligned. Throws Error on duplicate or empty names.
std::string encode(std::vector<TensorView> tensors, const Metadata& metadata = {});
// encode() written atomically (temporary file + rename).
void write(const fs::path& path, std::vector<TensorView> tensors, const Metadata& metadata = {});

}  // namespace wsss::safetensors
