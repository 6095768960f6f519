#include "wsss/io/safetensors.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "wsss/core/error.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/npy.hpp"

namespace wsss::safetensors {

namespace {

struct DTypeEntry {
  DType dtype;
  const char* name;
  std::size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4}, {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I64, "I64", 8}, {DType::I32, "I32", 4},
    {DType::I16, "I16", 2}, {DType::I8, "I8", 1}, {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1},
};

const DTypeEntry& entry(DType dtype) {
  for (const auto& e : kDTypes)
    if (e.dtype == dtype) return e;
  throw Error("safetensors: invalid dtype value");
}

std::uint64_t read_u64_le(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

// numel * element size, or false on overflow.
bool byte_count(const std::vector<std::int64_t>& shape, std::size_t elem, std::uint64_t& out) {
  std::uint64_t n = elem;
  for (std::int64_t d : shape) {
    if (d < 0) return false;
    if (d != 0 && n > std::numeric_limits<std::uint64_t>::max() / std::uint64_t(d)) return false;
    n *= std::uint64_t(d);
  }
  out = n;
  return true;
}

template <class T>
T load_le(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // the format and every platform we build for are little-endian
  return v;
}

// Validates the 8-byte length prefix of a file of `file_size` bytes.
std::uint64_t check_header_length(const std::string& bytes, std::uint64_t file_size, const fs::path& path) {
  if (bytes.size() < 8)
    throw InputError(path, "truncated safetensors file: " + std::to_string(bytes.size()) +
                               " bytes, shorter than the 8-byte header length");
  const std::uint64_t header_len = read_u64_le(bytes.data());
  if (header_len > kMaxHeaderBytes)
    throw InputError(path, "safetensors header length " + std::to_string(header_len) +
                               " exceeds the limit of " + std::to_string(kMaxHeaderBytes) +
                               " bytes (not a safetensors file?)");
  if (header_len > file_size - 8)
    throw InputError(path, "truncated safetensors file: header needs " + std::to_string(header_len) +
                               " bytes but only " + std::to_string(file_size - 8) + " follow");
  return header_len;
}

}  // namespace

std::size_t dtype_size(DType dtype) { return entry(dtype).size; }
const char* dtype_name(DType dtype) { return entry(dtype).name; }

bool parse_dtype(std::string_view name, DType& out) {
  for (const auto& e : kDTypes)
    if (name == e.name) {
      out = e.dtype;
      return true;
    }
  return false;
}

std::int64_t TensorInfo::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

File File::read(const fs::path& path) { return parse(read_file(path), path); }

File File::parse(std::string bytes, const fs::path& path) {
  File f;
  f.path_ = path;
  f.bytes_ = std::move(bytes);
  const std::uint64_t header_len = check_header_length(f.bytes_, f.bytes_.size(), path);
  f.data_start_ = 8 + std::size_t(header_len);
  f.parse_header(f.bytes_.data() + 8, header_len, f.bytes_.size() - f.data_start_);
  return f;
}

File File::read_header(const fs::path& path) {
  std::error_code dir_ec;
  if (fs::is_directory(path, dir_ec)) throw InputError(path, "is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  std::error_code ec;
  const std::uint64_t file_size = fs::file_size(path, ec);
  if (ec) throw InputError(path, "cannot read size: " + ec.message());
  std::string prefix(8, '\0');
  in.read(prefix.data(), 8);
  prefix.resize(std::size_t(in.gcount()));
  const std::uint64_t header_len = check_header_length(prefix, file_size, path);
  File f;
  f.path_ = path;
  f.bytes_.resize(8 + std::size_t(header_len));
  std::memcpy(f.bytes_.data(), prefix.data(), 8);
  in.read(f.bytes_.data() + 8, std::streamsize(header_len));
  if (std::uint64_t(in.gcount()) != header_len) throw InputError(path, "read error in safetensors header");
  f.data_start_ = f.bytes_.size();
  f.header_only_ = true;
  f.parse_header(f.bytes_.data() + 8, header_len, file_size - f.data_start_);
  return f;
}

void File::parse_header(const char* json_begin, std::uint64_t header_len, std::uint64_t data_size) {
  const fs::path& path = path_;
  File& f = *this;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(json_begin, json_begin + header_len);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path, std::string("safetensors header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) throw InputError(path, "safetensors header is not a JSON object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw InputError(path, "safetensors __metadata__ is not a JSON object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          throw InputError(path, "safetensors __metadata__ entry " + quote_id(m.key()) + " is not a string");
        f.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto bad = [&](const std::string& why) {
      return InputError(path, "tensor '" + name + "': " + why);
    };
    if (!v.is_object()) throw bad("header entry is not a JSON object");
    TensorInfo t;
    t.name = name;
    auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string()) throw bad("missing dtype");
    if (!parse_dtype(dt->get<std::string>(), t.dtype))
      throw bad("unknown dtype '" + dt->get<std::string>() + "'");
    auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array()) throw bad("missing shape");
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned()) throw bad("shape " + sh->dump() + " holds a non-integer or negative size");
      t.shape.push_back(d.get<std::int64_t>());
    }
    auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      throw bad("data_offsets must be two non-negative integers");
    t.begin = (*off)[0].get<std::uint64_t>();
    t.end = (*off)[1].get<std::uint64_t>();
    if (t.begin > t.end) throw bad("data_offsets " + off->dump() + " are reversed");
    if (t.end > data_size)
      throw bad("data_offsets " + off->dump() + " run past the end of the data (" +
                std::to_string(data_size) + " bytes; truncated file?)");
    std::uint64_t want = 0;
    if (!byte_count(t.shape, dtype_size(t.dtype), want)) throw bad("shape " + shape_text(t.shape) + " overflows");
    if (want != t.nbytes())
      throw bad("data_offsets span " + std::to_string(t.nbytes()) + " bytes but " + dtype_name(t.dtype) +
                shape_text(t.shape) + " needs " + std::to_string(want));
    f.tensors_.push_back(std::move(t));
  }

  // Like the reference implementation, insist that the tensors tile the data
  // section exactly: overlaps would alias tensors, and holes or trailing bytes
  // would let a file smuggle other content.
  std::vector<const TensorInfo*> by_offset;
  for (const auto& t : f.tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::uint64_t cursor = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo* t : by_offset) {
    if (t->begin < cursor)
      throw InputError(path, "tensor '" + t->name + "': data_offsets overlap those of tensor '" +
                                 previous->name + "'");
    if (t->begin > cursor)
      throw InputError(path, "tensor '" + t->name + "': " + std::to_string(t->begin - cursor) +
                                 " unreferenced bytes before its data");
    cursor = t->end;
    previous = t;
  }
  if (cursor != data_size)
    throw InputError(path, std::to_string(data_size - cursor) +
                               " unreferenced bytes after the last tensor's data");

  std::sort(f.tensors_.begin(), f.tensors_.end(),
            [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
}

const TensorInfo* File::find(const std::string& name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorInfo& t, const std::string& n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

const char* File::data(const TensorInfo& tensor) const {
  if (header_only_) throw Error(path_.string() + ": tensor data requested from a header-only read");
  return bytes_.data() + data_start_ + tensor.begin;
}

std::vector<float> File::to_float(const TensorInfo& t) const {
  const std::size_t n = std::size_t(t.numel());
  const std::size_t es = dtype_size(t.dtype);
  const char* p = data(t);
  std::vector<float> out(n);
  for (std::size_t i = 0; i < n; ++i, p += es) {
    switch (t.dtype) {
      case DType::F64: out[i] = float(load_le<double>(p)); break;
      case DType::F32: out[i] = load_le<float>(p); break;
      case DType::F16: out[i] = half_to_float(load_le<std::uint16_t>(p)); break;
      case DType::BF16: {
        // bfloat16 is the upper half of a float32.
        std::uint32_t bits = std::uint32_t(load_le<std::uint16_t>(p)) << 16;
        std::memcpy(&out[i], &bits, 4);
        break;
      }
      case DType::I64: out[i] = float(load_le<std::int64_t>(p)); break;
      case DType::I32: out[i] = float(load_le<std::int32_t>(p)); break;
      case DType::I16: out[i] = float(load_le<std::int16_t>(p)); break;
      case DType::I8: out[i] = float(load_le<std::int8_t>(p)); break;
      case DType::U8: out[i] = float(load_le<std::uint8_t>(p)); break;
      case DType::BOOL: out[i] = *p ? 1.0f : 0.0f; break;
    }
  }
  return out;
}

namespace {

// Sorts the tensors and returns the padded header (length prefix included).
std::string build_header(std::vector<TensorView>& tensors, const Metadata& metadata) {
  std::sort(tensors.begin(), tensors.end(),
            [](const TensorView& a, const TensorView& b) { return a.name < b.name; });
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) {
    nlohmann::json meta = nlohmann::json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorView& t = tensors[i];
    if (t.name.empty() || t.name == "__metadata__") throw Error("safetensors: invalid tensor name '" + t.name + "'");
    if (i > 0 && tensors[i - 1].name == t.name) throw Error("safetensors: duplicate tensor name '" + t.name + "'");
    std::uint64_t n = 0;
    if (!byte_count(t.shape, dtype_size(t.dtype), n))
      throw Error("safetensors: tensor '" + t.name + "' has an invalid shape " + shape_text(t.shape));
    if (n > 0 && !t.data) throw Error("safetensors: tensor '" + t.name + "' has no data");
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string json = header.dump();
  // Spaces after the JSON are allowed by the format and keep the data aligned.
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  std::uint64_t len = json.size();
  for (int i = 0; i < 8; ++i) out[std::size_t(i)] = char((len >> (8 * i)) & 0xff);
  return out + json;
}

std::size_t view_bytes(const TensorView& t) {
  std::uint64_t n = 0;
  byte_count(t.shape, dtype_size(t.dtype), n);
  return std::size_t(n);
}

}  // namespace

std::string encode(std::vector<TensorView> tensors, const Metadata& metadata) {
  std::string out = build_header(tensors, metadata);
  for (const auto& t : tensors) out.append(static_cast<const char*>(t.data), view_bytes(t));
  return out;
}

void write(const fs::path& path, std::vector<TensorView> tensors, const Metadata& metadata) {
  // Streamed rather than encode()d so that a large model is not copied twice in memory.
  const std::string header = build_header(tensors, metadata);
  AtomicFile file(path);
  {
    std::ofstream out(file.temporary(), std::ios::binary);
    if (!out) throw_write_error(path, "cannot write", errno);
    out.write(header.data(), std::streamsize(header.size()));
    for (const auto& t : tensors) out.write(static_cast<const char*>(t.data), std::streamsize(view_bytes(t)));
    out.flush();
    if (!out) throw_write_error(path, "write failed", errno);
    out.close();
    if (!out) throw_write_error(path, "write failed", errno);
  }
  file.commit();
}

}  // namespace wsss::safetensors
