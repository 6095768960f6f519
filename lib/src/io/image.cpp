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
  cv::Mat bgr = cv::imdecode(raw, cv::IMREAD_COLOR);
  if (bgr.empty()) throw InputError(file, "corrupt or unsupported image");
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

cv::Mat read_image_rgb(const fs::path& file) { return decode_image_rgb(read_file(file), file); }

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
