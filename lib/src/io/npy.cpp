#include "wsss/io/npy.hpp"
#include "wsss/io/npy_array.hpp"

#include <cmath>
#include <limits>

#include <cmath>
#include <cstring>
#include <regex>

#include "wsss/core/error.hpp"
#include "wsss/io/atomic_file.hpp"

namespace wsss {

std::uint16_t float_to_half(float value) {
  std::uint32_t x;
  std::memcpy(&x, &value, 4);
  std::uint32_t sign = (x >> 16) & 0x8000u;
  std::uint32_t exp = (x >> 23) & 0xffu;
  std::uint32_t mant = x & 0x7fffffu;
  if (exp == 0xff) return std::uint16_t(sign | 0x7c00u | (mant ? 0x200u : 0u));  // Inf / NaN
  int e = int(exp) - 127 + 15;
  if (e >= 0x1f) return std::uint16_t(sign | 0x7c00u);  // overflow to Inf
  if (e <= 0) {
    if (e < -10) return std::uint16_t(sign);  // underflow to zero
    mant |= 0x800000u;                        // subnormal: shift in the implicit bit
    int shift = 14 - e;
    std::uint32_t half = mant >> shift;
    std::uint32_t rem = mant & ((1u << shift) - 1);
    std::uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;  // round to nearest even
    return std::uint16_t(sign | half);
  }
  std::uint32_t half = sign | (std::uint32_t(e) << 10) | (mant >> 13);
  std::uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) ++half;  // may carry into the exponent: correct
  return std::uint16_t(half);
}

float half_to_float(std::uint16_t h) {
  std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do { mant <<= 1; ++e; } while (!(mant & 0x400u));
      x = sign | (std::uint32_t(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 0x1f) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

std::string encode_npy(const float* data, const std::vector<std::int64_t>& shape, NpyDType dtype) {
  std::string shape_text = "(";
  std::size_t count = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    shape_text += std::to_string(shape[i]) + (shape.size() == 1 ? "," : i + 1 < shape.size() ? ", " : "");
    count *= std::size_t(shape[i]);
  }
  shape_text += ")";
  std::string header = std::string("{'descr': '") + (dtype == NpyDType::Float16 ? "<f2" : "<f4") +
                       "', 'fortran_order': False, 'shape': " + shape_text + ", }";
  // Version 1.0: magic(6) + version(2) + len(2) + header, padded to a multiple of 64.
  std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out += char(header.size() & 0xff);
  out += char((header.size() >> 8) & 0xff);
  out += header;
  if (dtype == NpyDType::Float32) {
    out.append(reinterpret_cast<const char*>(data), count * 4);
  } else {
    std::size_t start = out.size();
    out.resize(start + count * 2);
    for (std::size_t i = 0; i < count; ++i) {
      std::uint16_t h = float_to_half(data[i]);
      std::memcpy(&out[start + 2 * i], &h, 2);
    }
  }
  return out;
}

void write_npy(const fs::path& file, const float* data, const std::vector<std::int64_t>& shape, NpyDType dtype) {
  // A NaN (a model with NaN weights, a division by zero) would pass every later
  // stage as a silently wrong mask; float16 turns anything above 65504 into inf.
  std::size_t count = 1, bad = 0;
  for (std::int64_t d : shape) count *= std::size_t(d);
  const float limit = dtype == NpyDType::Float16 ? 65504.f : std::numeric_limits<float>::max();
  for (std::size_t i = 0; i < count; ++i) bad += !(std::fabs(data[i]) <= limit);
  if (bad > 0)
    throw Error(file.string() + ": " + std::to_string(bad) + " of " + std::to_string(count) + " values are " +
                (dtype == NpyDType::Float16 ? "NaN or outside float16's range" : "NaN or infinite") +
                "; the score map is not written");
  write_file_atomic(file, encode_npy(data, shape, dtype));
}

ScoreMap read_npy(const fs::path& file, bool allow_non_finite) {
  return read_npy_array(file, allow_non_finite, 3);
}

ScoreMap read_npy_array(const fs::path& file, bool allow_non_finite, std::size_t rank) {
  std::string bytes = read_file(file);
  // Every message names the byte offset of what is wrong: headers written by
  // other tools (or cut short by a full disk) are the usual suspects.
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    throw InputError(file, bytes.size() < 6 ? "not a .npy file (" + std::to_string(bytes.size()) + " bytes)"
                                            : "not a .npy file (no \\x93NUMPY magic at offset 0)");
  int major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_len, offset;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8;
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw InputError(file, "truncated .npy header (" + std::to_string(bytes.size()) + " bytes)");
    header_len = 0;
    for (int i = 3; i >= 0; --i) header_len = header_len << 8 | static_cast<unsigned char>(bytes[8 + i]);
    offset = 12;
  } else {
    throw InputError(file, "unsupported .npy version " + std::to_string(major) + " (offset 6)");
  }
  if (header_len > bytes.size() - offset)
    throw InputError(file, "truncated .npy header: " + std::to_string(header_len) + " header bytes from offset " +
                               std::to_string(offset) + ", the file has " + std::to_string(bytes.size()) + " bytes");
  std::string header = bytes.substr(offset, header_len);
  auto bad_header = [&](const std::string& why) {
    return InputError(file, "bad .npy header at offset " + std::to_string(offset) + ": " + why);
  };
  std::smatch m;
  static const std::regex descr_re("'descr':\\s*'([^']*)'");
  static const std::regex fortran_re("'fortran_order':\\s*(True|False)");
  static const std::regex shape_re("'shape':\\s*\\(([^)]*)\\)");
  if (!std::regex_search(header, m, descr_re)) throw bad_header("no 'descr'");
  std::string descr = m[1];
  if (descr != "<f4" && descr != "<f2")
    throw InputError(file, "score maps must be float32 or float16 (little-endian, '<f4' or '<f2'), not '" +
                               clip_message(descr, 40) + "'");
  if (!std::regex_search(header, m, fortran_re)) throw bad_header("no 'fortran_order'");
  if (m[1] == "True") throw InputError(file, "score maps must be C-ordered, not Fortran-ordered (fortran_order: True)");
  if (!std::regex_search(header, m, shape_re)) throw bad_header("no 'shape'");
  ScoreMap map;
  const std::string dims = m[1];
  const std::string shape_text = "(" + clip_message(dims, 80) + ")";
  std::size_t count = 1;
  for (std::size_t pos = 0; pos < dims.size();) {
    std::size_t comma = dims.find(',', pos);
    std::string tok = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    const std::size_t b = tok.find_first_not_of(' '), e = tok.find_last_not_of(' ');
    if (b != std::string::npos) {
      tok = tok.substr(b, e - b + 1);
      if (tok.size() > 18 || tok.find_first_not_of("0123456789") != std::string::npos)
        throw bad_header("shape " + shape_text + ": '" + clip_message(tok, 20) + "' is not a size");
      const std::int64_t d = std::stoll(tok);
      map.shape.push_back(d);
      if (__builtin_mul_overflow(count, std::size_t(d), &count)) throw bad_header("shape " + shape_text + " overflows");
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (rank == 3 && map.shape.size() != 3)
    throw InputError(file, "score map must have shape [k, H, W], not " + shape_text + " (" +
                               std::to_string(map.shape.size()) + " dimensions)");
  if (map.shape.size() < 1 || map.shape.size() > 3 || (rank != 0 && map.shape.size() != rank))
    throw InputError(file, "array must have " + (rank ? std::to_string(rank) : std::string("1 to 3")) +
                               " dimensions, not " + shape_text + " (" + std::to_string(map.shape.size()) + ")");
  for (std::int64_t d : map.shape)
    if (d > std::numeric_limits<int>::max()) throw bad_header("shape " + shape_text + " is out of range");
  const std::size_t elem = descr == "<f4" ? 4 : 2;
  const std::size_t data_offset = offset + header_len;
  std::size_t need = 0;
  if (__builtin_mul_overflow(count, elem, &need) || bytes.size() - data_offset < need)
    throw InputError(file, "truncated .npy data: shape " + shape_text + " needs " + std::to_string(need) +
                               " bytes from offset " + std::to_string(data_offset) + ", the file has " +
                               std::to_string(bytes.size() - data_offset));
  map.data.resize(count);
  const char* src = bytes.data() + data_offset;
  if (count == 0) {
    // An empty map (k = 0): nothing to copy, and memcpy from data() == nullptr is undefined (found by fuzzing).
  } else if (elem == 4) {
    std::memcpy(map.data.data(), src, count * 4);
  } else {
    for (std::size_t i = 0; i < count; ++i) {
      std::uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      map.data[i] = half_to_float(h);
    }
  }
  if (!allow_non_finite) {
    for (std::size_t i = 0; i < count; ++i)
      if (!std::isfinite(map.data[i]))
        throw InputError(file, "score map holds NaN or Inf (value " + std::to_string(i) + ", at offset " +
                                   std::to_string(data_offset + i * elem) + ")");
  }
  return map;
}

}  // namespace wsss
