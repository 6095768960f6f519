#include "wsss/io/png.hpp"

#include <spng.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>

#include "wsss/core/error.hpp"
#include "wsss/io/atomic_file.hpp"

namespace wsss {

namespace {

struct SpngCtx {
  spng_ctx* ctx;
  explicit SpngCtx(int flags) : ctx(spng_ctx_new(flags)) {
    if (!ctx) throw Error("libspng: cannot allocate a context");
  }
  ~SpngCtx() { spng_ctx_free(ctx); }
};

const char* colour_type_name(int t) {
  switch (t) {
    case SPNG_COLOR_TYPE_GRAYSCALE: return "greyscale";
    case SPNG_COLOR_TYPE_TRUECOLOR: return "RGB";
    case SPNG_COLOR_TYPE_INDEXED: return "palette";
    case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA: return "greyscale+alpha";
    case SPNG_COLOR_TYPE_TRUECOLOR_ALPHA: return "RGBA";
  }
  return "unknown";
}

}  // namespace

const Palette& voc_palette() {
  static const Palette palette = [] {
    Palette p{};
    for (int i = 0; i < 256; ++i) {
      int r = 0, g = 0, b = 0, c = i;
      for (int j = 0; j < 8; ++j) {
        r |= ((c >> 0) & 1) << (7 - j);
        g |= ((c >> 1) & 1) << (7 - j);
        b |= ((c >> 2) & 1) << (7 - j);
        c >>= 3;
      }
      p[i] = {std::uint8_t(r), std::uint8_t(g), std::uint8_t(b)};
    }
    return p;
  }();
  return palette;
}

Mask decode_mask_png(const std::string& bytes, const fs::path& name) {
  SpngCtx s(0);
  // Masks are small; limits guard against decompression bombs in corrupt files.
  spng_set_image_limits(s.ctx, 1u << 15, 1u << 15);
  spng_set_png_buffer(s.ctx, bytes.data(), bytes.size());
  spng_ihdr ihdr{};
  if (int rc = spng_get_ihdr(s.ctx, &ihdr))
    throw InputError(name, std::string("corrupt or non-PNG file: ") + spng_strerror(rc));
  bool indexed = ihdr.color_type == SPNG_COLOR_TYPE_INDEXED;
  bool grey = ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE;
  if (!indexed && !grey)
    throw InputError(name, std::string("mask must be a single-channel palette or greyscale PNG, not ") +
                               colour_type_name(ihdr.color_type));
  if (ihdr.bit_depth > 8)
    throw InputError(name, "mask must be 8-bit, not " + std::to_string(ihdr.bit_depth) + "-bit");
  Mask mask(int(ihdr.width), int(ihdr.height));
  if (ihdr.bit_depth == 8) {
    // SPNG_FMT_PNG keeps the file's own format: palette indices or grey values.
    if (int rc = spng_decode_image(s.ctx, mask.data.data(), mask.data.size(), SPNG_FMT_PNG, 0))
      throw InputError(name, std::string("corrupt PNG: ") + spng_strerror(rc));
    return mask;
  }
  // Packed 1/2/4-bit samples: decode rows as stored and unpack (values are ids, not scaled).
  std::size_t len = 0;
  if (int rc = spng_decoded_image_size(s.ctx, SPNG_FMT_PNG, &len))
    throw InputError(name, std::string("corrupt PNG: ") + spng_strerror(rc));
  std::vector<std::uint8_t> packed(len);
  if (int rc = spng_decode_image(s.ctx, packed.data(), len, SPNG_FMT_PNG, 0))
    throw InputError(name, std::string("corrupt PNG: ") + spng_strerror(rc));
  int depth = ihdr.bit_depth;
  std::size_t row_bytes = len / ihdr.height;
  int per_byte = 8 / depth, mask_bits = (1 << depth) - 1;
  for (int y = 0; y < mask.height; ++y) {
    const std::uint8_t* row = packed.data() + y * row_bytes;
    for (int x = 0; x < mask.width; ++x) {
      int shift = 8 - depth * (x % per_byte + 1);
      mask.at(y, x) = std::uint8_t((row[x / per_byte] >> shift) & mask_bits);
    }
  }
  return mask;
}

Mask read_mask(const fs::path& file) { return decode_mask_png(read_file(file), file); }

std::string encode_mask_png(const Mask& mask, const Palette& palette) {
  if (mask.width <= 0 || mask.height <= 0 || mask.data.size() != std::size_t(mask.width) * mask.height)
    throw Error("encode_mask_png: invalid mask dimensions");
  SpngCtx s(SPNG_CTX_ENCODER);
  spng_set_option(s.ctx, SPNG_ENCODE_TO_BUFFER, 1);
  spng_ihdr ihdr{};
  ihdr.width = std::uint32_t(mask.width);
  ihdr.height = std::uint32_t(mask.height);
  ihdr.bit_depth = 8;
  ihdr.color_type = SPNG_COLOR_TYPE_INDEXED;
  spng_set_ihdr(s.ctx, &ihdr);
  spng_plte plte{};
  plte.n_entries = 256;
  for (int i = 0; i < 256; ++i) plte.entries[i] = {palette[i][0], palette[i][1], palette[i][2], 255};
  spng_set_plte(s.ctx, &plte);
  if (int rc = spng_encode_image(s.ctx, mask.data.data(), mask.data.size(), SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE))
    throw Error(std::string("PNG encoding failed: ") + spng_strerror(rc));
  std::size_t len = 0;
  int err = 0;
  void* buf = spng_get_png_buffer(s.ctx, &len, &err);
  if (!buf) throw Error(std::string("PNG encoding failed: ") + spng_strerror(err));
  std::string out(static_cast<const char*>(buf), len);
  std::free(buf);
  return out;
}

void write_mask(const fs::path& file, const Mask& mask, const Palette& palette) {
  write_file_atomic(file, encode_mask_png(mask, palette));
}

std::pair<int, int> image_size(const fs::path& file) {
  std::error_code ec;
  if (fs::is_directory(file, ec)) throw InputError(file, "is a directory, not a file");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(file, "cannot open");
  unsigned char head[32] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (in.gcount() >= 24 && std::memcmp(head, png_sig, 8) == 0) {
    auto be32 = [&](int o) {
      return std::uint32_t(head[o]) << 24 | std::uint32_t(head[o + 1]) << 16 | std::uint32_t(head[o + 2]) << 8 |
             std::uint32_t(head[o + 3]);
    };
    // PNG allows 1..2^31-1 (found by fuzzing: a corrupt header gave a negative size).
    const std::uint32_t w = be32(16), h = be32(20);
    if (w == 0 || h == 0 || w > 0x7fffffffu || h > 0x7fffffffu)
      throw InputError(file, "corrupt PNG header: size " + std::to_string(w) + "x" + std::to_string(h));
    return {int(w), int(h)};
  }
  if (in.gcount() >= 2 && head[0] == 0xFF && head[1] == 0xD8) {
    // Walk JPEG segments to the first start-of-frame marker.
    in.clear();
    in.seekg(2);
    for (;;) {
      int c = in.get();
      if (c == EOF) break;
      if (c != 0xFF) continue;
      int marker;
      do marker = in.get(); while (marker == 0xFF);
      if (marker == EOF) break;
      if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;
      unsigned char lenb[2];
      if (!in.read(reinterpret_cast<char*>(lenb), 2)) break;
      int seglen = lenb[0] << 8 | lenb[1];
      bool sof = (marker >= 0xC0 && marker <= 0xCF) && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
      if (sof) {
        unsigned char f[5];
        if (!in.read(reinterpret_cast<char*>(f), 5)) break;
        const int w = f[3] << 8 | f[4], h = f[1] << 8 | f[2];
        if (w == 0 || h == 0) throw InputError(file, "corrupt JPEG: frame size " + std::to_string(w) + "x" + std::to_string(h));
        return {w, h};
      }
      in.seekg(seglen - 2, std::ios::cur);
    }
    throw InputError(file, "corrupt JPEG: no frame header");
  }
  throw InputError(file, "not a PNG or JPEG file");
}

}  // namespace wsss
