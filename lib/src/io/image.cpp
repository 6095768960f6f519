#include "wsss/io/image.hpp"

// libjpeg's headers need FILE and size_t declared first.
#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <jerror.h>
#include <jpeglib.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/io/atomic_file.hpp"

namespace wsss {

namespace {

bool is_jpeg(const std::string& bytes) {
  return bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
         static_cast<unsigned char>(bytes[1]) == 0xD8 && static_cast<unsigned char>(bytes[2]) == 0xFF;
}

// libjpeg's warnings that mean the entropy-coded data is damaged: libjpeg goes
// on with grey fill or garbage and OpenCV returns the picture as if nothing
// happened. The other warnings (an Adobe colour transform it does not know, a
// bogus ICC profile, a newer JFIF version, a non-sequential scan header) leave
// the pixels intact and are not failures.
bool corruption_warning(int code) {
  switch (code) {
    case JWRN_JPEG_EOF:           // truncated file
    case JWRN_HIT_MARKER:         // a segment ended early
    case JWRN_EXTRANEOUS_DATA:    // bytes where a marker should be
    case JWRN_HUFF_BAD_CODE:      // damaged Huffman data
    case JWRN_MUST_RESYNC:        // lost restart markers
    case JWRN_BOGUS_PROGRESSION:  // damaged progressive scans
      return true;
    default:
      return false;
  }
}

struct JpegErrors {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {};
};

[[noreturn]] void jpeg_stop(j_common_ptr cinfo) {
  auto* errors = reinterpret_cast<JpegErrors*>(cinfo->err);
  cinfo->err->format_message(cinfo, errors->message);
  std::longjmp(errors->jump, 1);
}

void jpeg_message(j_common_ptr cinfo, int level) {
  // level < 0 is a warning, >= 0 a trace message (never printed: libjpeg's
  // default printer writes bare lines to stderr that name no file).
  if (level < 0 && corruption_warning(cinfo->err->msg_code)) jpeg_stop(cinfo);
}

// Entropy-decodes the whole file (no inverse DCT, upsampling or colour
// conversion, so about a third of a full decode) and returns libjpeg's
// complaint, or an empty string when the data is intact.
std::string jpeg_damage(const std::string& bytes) {
  jpeg_decompress_struct cinfo;
  JpegErrors errors;
  cinfo.err = jpeg_std_error(&errors.mgr);
  errors.mgr.error_exit = jpeg_stop;
  errors.mgr.emit_message = jpeg_message;
  if (setjmp(errors.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return errors.message[0] ? errors.message : "undecodable JPEG data";
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  jpeg_read_coefficients(&cinfo);
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return {};
}

}  // namespace

cv::Mat decode_image_rgb(const std::string& bytes, const fs::path& file) {
  if (bytes.empty()) throw InputError(file, "empty image file");
  if (is_jpeg(bytes)) {
    std::string damage = jpeg_damage(bytes);
    if (!damage.empty()) throw InputError(file, "corrupt or truncated JPEG: " + damage);
  }
  cv::Mat raw(1, int(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data()));
  // As stored, like PIL's Image.open and pycocotools: see image.hpp.
  cv::Mat bgr = cv::imdecode(raw, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  if (bgr.empty()) throw InputError(file, "corrupt or unsupported image");
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

cv::Mat read_image_rgb(const fs::path& file) { return decode_image_rgb(read_file(file), file); }

int exif_orientation(const std::string& bytes) {
  if (!is_jpeg(bytes)) return 0;
  auto u8 = [&](std::size_t i) { return static_cast<unsigned char>(bytes[i]); };
  // Markers up to the first scan; APP1 "Exif\0\0" holds a TIFF structure.
  for (std::size_t p = 2; p + 4 <= bytes.size();) {
    if (u8(p) != 0xFF) return 0;
    const int marker = u8(p + 1);
    if (marker == 0xDA || marker == 0xD9) return 0;
    const std::size_t len = std::size_t(u8(p + 2)) << 8 | u8(p + 3);
    if (len < 2 || p + 2 + len > bytes.size()) return 0;
    if (marker == 0xE1 && len >= 8 + 8 && bytes.compare(p + 4, 6, std::string("Exif\0\0", 6)) == 0) {
      const std::size_t tiff = p + 10, end = p + 2 + len;
      const bool little = bytes.compare(tiff, 2, "II") == 0;
      if (!little && bytes.compare(tiff, 2, "MM") != 0) return 0;
      auto rd = [&](std::size_t at, int n) -> std::uint32_t {
        std::uint32_t v = 0;
        for (int k = 0; k < n; ++k) v |= std::uint32_t(u8(at + std::size_t(little ? k : n - 1 - k))) << (8 * k);
        return v;
      };
      const std::size_t ifd = tiff + rd(tiff + 4, 4);
      if (ifd + 2 > end) return 0;
      const std::size_t entries = rd(ifd, 2);
      for (std::size_t e = 0; e < entries && ifd + 2 + 12 * (e + 1) <= end; ++e) {
        const std::size_t at = ifd + 2 + 12 * e;
        if (rd(at, 2) == 0x0112) {  // Orientation, SHORT
          const std::uint32_t v = rd(at + 8, 2);
          return v >= 1 && v <= 8 ? int(v) : 0;
        }
      }
      return 0;
    }
    p += 2 + len;
  }
  return 0;
}

std::string encode_image_rgb(const cv::Mat& rgb, const std::string& ext, int quality) {
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  std::vector<uchar> buf;
  std::vector<int> params;
  if (quality >= 0 && (ext == ".jpg" || ext == ".jpeg")) params = {cv::IMWRITE_JPEG_QUALITY, quality};
  if (quality >= 0 && ext == ".png") params = {cv::IMWRITE_PNG_COMPRESSION, std::min(quality, 9)};
  if (!cv::imencode(ext, bgr, buf, params)) throw Error("cannot encode an image as " + ext);
  return std::string(reinterpret_cast<const char*>(buf.data()), buf.size());
}

void write_image_rgb(const fs::path& file, const cv::Mat& rgb, int png_compression) {
  std::string ext = file.extension().string();
  std::string bytes;
  try {
    bytes = encode_image_rgb(rgb, ext.empty() ? ".png" : ext, ext == ".png" ? png_compression : -1);
  } catch (const Error&) {
    throw Error(file.string() + ": cannot encode image");
  }
  write_file_atomic(file, bytes);
}

}  // namespace wsss
