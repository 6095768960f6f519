#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/io/png.hpp"

#include <opencv2/imgcodecs.hpp>

using namespace wsss;
using wsss_test::TempDir;

TEST_CASE("VOC palette matches the published colour map", "[png]") {
  const Palette& p = voc_palette();
  CHECK(p[0] == std::array<std::uint8_t, 3>{0, 0, 0});
  CHECK(p[1] == std::array<std::uint8_t, 3>{128, 0, 0});
  CHECK(p[2] == std::array<std::uint8_t, 3>{0, 128, 0});
  CHECK(p[3] == std::array<std::uint8_t, 3>{128, 128, 0});
  CHECK(p[4] == std::array<std::uint8_t, 3>{0, 0, 128});
  CHECK(p[15] == std::array<std::uint8_t, 3>{192, 128, 128});
  CHECK(p[20] == std::array<std::uint8_t, 3>{0, 64, 128});
  CHECK(p[255] == std::array<std::uint8_t, 3>{224, 224, 192});
}

TEST_CASE("palette masks round-trip through libspng", "[png]") {
  TempDir t;
  std::mt19937 rng(7);
  Mask m(37, 23);
  for (auto& v : m.data) v = std::uint8_t(rng() % 22 == 21 ? 255 : rng() % 21);
  write_mask(t / "m.png", m);
  Mask back = read_mask(t / "m.png");
  CHECK(back.width == 37);
  CHECK(back.height == 23);
  CHECK(back.data == m.data);
  CHECK(image_size(t / "m.png") == std::pair<int, int>{37, 23});
}

TEST_CASE("greyscale masks (OpenCV-written) read back as indices", "[png]") {
  TempDir t;
  cv::Mat rgb(5, 7, CV_8UC3, cv::Scalar(3, 3, 3));
  write_image_rgb(t / "rgb.png", rgb);
  CHECK_THROWS_WITH(read_mask(t / "rgb.png"), Catch::Contains("not RGB"));
  // A greyscale PNG through OpenCV's encoder (grey, 8-bit).
  cv::Mat grey(4, 6, CV_8UC1, cv::Scalar(9));
  grey.at<uchar>(1, 2) = 255;
  std::vector<uchar> buf;
  cv::imencode(".png", grey, buf);
  Mask m = decode_mask_png(std::string(buf.begin(), buf.end()), "g.png");
  CHECK(m.width == 6);
  CHECK(m.at(1, 2) == 255);
  CHECK(m.at(0, 0) == 9);
}

TEST_CASE("corrupt PNGs give an error naming the file", "[png]") {
  TempDir t;
  Mask m(8, 8, 1);
  std::string bytes = encode_mask_png(m);
  write_file_atomic(t / "trunc.png", bytes.substr(0, bytes.size() / 2));
  CHECK_THROWS_WITH(read_mask(t / "trunc.png"), Catch::Contains("trunc.png: corrupt"));
  write_file_atomic(t / "text.png", "not a png at all");
  CHECK_THROWS_WITH(read_mask(t / "text.png"), Catch::Contains("text.png"));
  CHECK_THROWS_AS(read_image_rgb(t / "text.png"), InputError);
}

TEST_CASE("npy float32 and float16 round-trip", "[npy]") {
  TempDir t;
  std::vector<float> v(2 * 3 * 4);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = float(i) / 7.0f - 1.0f;
  write_npy(t / "a.npy", v.data(), {2, 3, 4});
  ScoreMap a = read_npy(t / "a.npy");
  CHECK(a.shape == std::vector<std::int64_t>{2, 3, 4});
  CHECK(a.data == v);
  write_npy(t / "h.npy", v.data(), {2, 3, 4}, NpyDType::Float16);
  ScoreMap h = read_npy(t / "h.npy");
  for (std::size_t i = 0; i < v.size(); ++i) CHECK(std::abs(h.data[i] - v[i]) <= 1e-3f * (1 + std::abs(v[i])));
  // The header is padded so that data starts on a 64-byte boundary, as numpy writes it.
  std::string bytes = read_file(t / "a.npy");
  std::size_t header_len = std::uint8_t(bytes[8]) | std::uint8_t(bytes[9]) << 8;
  CHECK((10 + header_len) % 64 == 0);
  CHECK(bytes.size() == 10 + header_len + v.size() * 4);
}

TEST_CASE("half conversion is correctly rounded", "[npy]") {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.33325195f})
    CHECK(half_to_float(float_to_half(f)) == f);
  CHECK(std::isinf(half_to_float(float_to_half(1e6f))));
  CHECK(std::isnan(half_to_float(float_to_half(NAN))));
  // 1 + 2^-11 is exactly half-way between 1 and the next half: ties to even (1.0).
  CHECK(half_to_float(float_to_half(1.0f + 1.0f / 2048)) == 1.0f);
  CHECK(half_to_float(float_to_half(1.0f + 3.0f / 2048)) == 1.0f + 2.0f / 1024);
}

TEST_CASE("npy with NaN, wrong dtype or truncation is rejected", "[npy]") {
  TempDir t;
  std::vector<float> v = {1, NAN, 3, 4};
  write_file_atomic(t / "nan.npy", encode_npy(v.data(), {1, 2, 2}, NpyDType::Float32));  // write_npy refuses
  CHECK_THROWS_WITH(read_npy(t / "nan.npy"), Catch::Contains("NaN or Inf"));
  CHECK_NOTHROW(read_npy(t / "nan.npy", true));
  std::string ok = encode_npy(v.data(), {1, 2, 2}, NpyDType::Float32);
  write_file_atomic(t / "short.npy", ok.substr(0, ok.size() - 3));
  CHECK_THROWS_WITH(read_npy(t / "short.npy"), Catch::Contains("truncated"));
  std::string f8 = ok;
  f8.replace(f8.find("<f4"), 3, "<f8");
  write_file_atomic(t / "f8.npy", f8);
  CHECK_THROWS_WITH(read_npy(t / "f8.npy"), Catch::Contains("float32 or float16"));
}

TEST_CASE("npy headers with bad shapes are errors naming the offset, never an allocation or a bare stoll", "[npy]") {
  TempDir t;
  std::vector<float> v = {1, 2, 3, 4};
  const std::string ok = encode_npy(v.data(), {1, 2, 2}, NpyDType::Float32);
  auto with_shape = [&](const std::string& name, const std::string& shape) {
    std::string s = ok;
    const std::size_t at = s.find("(1, 2, 2)");
    s.replace(at, 9, shape);  // the header length field is not adjusted: pad instead
    if (shape.size() < 9) s.insert(at + shape.size(), 9 - shape.size(), ' ');
    else s.erase(s.find('\n') - (shape.size() - 9), shape.size() - 9);
    write_file_atomic(t / name, s);
    return t / name;
  };
  CHECK_THROWS_WITH(read_npy(with_shape("digits.npy", "(99999999999999999999,1)")),
                    Catch::Contains("bad .npy header at offset 10") && Catch::Contains("is not a size"));
  CHECK_THROWS_WITH(read_npy(with_shape("product.npy", "(4294967296,4294967296,16)")), Catch::Contains("overflows"));
  CHECK_THROWS_WITH(read_npy(with_shape("neg.npy", "(-1,2,2)")), Catch::Contains("'-1' is not a size"));
  CHECK_THROWS_WITH(read_npy(with_shape("big.npy", "(1,99999,99999)")),
                    Catch::Contains("truncated .npy data") && Catch::Contains("from offset"));
  std::string fortran = ok;
  fortran.replace(fortran.find("False"), 5, "True ");
  write_file_atomic(t / "f.npy", fortran);
  CHECK_THROWS_WITH(read_npy(t / "f.npy"), Catch::Contains("Fortran"));
}

TEST_CASE("a score map with NaN or infinity is not written", "[npy]") {
  TempDir t;
  std::vector<float> nan = {0.5f, NAN, 0.25f, NAN};
  CHECK_THROWS_WITH(write_npy(t / "nan.npy", nan.data(), {1, 2, 2}),
                    Catch::Contains("nan.npy: 2 of 4 values are NaN or infinite"));
  CHECK_FALSE(fs::exists(t / "nan.npy"));
  std::vector<float> inf = {0.5f, INFINITY, 0.25f, 0.f};
  CHECK_THROWS(write_npy(t / "inf.npy", inf.data(), {4}));
  // float16 holds at most 65504: a larger score would become infinity.
  std::vector<float> big = {0.5f, 70000.f};
  CHECK_THROWS_WITH(write_npy(t / "big.npy", big.data(), {1, 1, 2}, NpyDType::Float16),
                    Catch::Contains("outside float16's range"));
  CHECK_NOTHROW(write_npy(t / "big.npy", big.data(), {1, 1, 2}, NpyDType::Float32));
  CHECK(read_npy(t / "big.npy").data[1] == 70000.f);
}

TEST_CASE("truncated or damaged JPEGs are errors naming the file; intact and greyscale ones decode", "[image]") {
  TempDir t;
  cv::Mat colour(48, 64, CV_8UC3);
  cv::RNG(4).fill(colour, cv::RNG::UNIFORM, 0, 256);
  std::vector<uchar> buf;
  REQUIRE(cv::imencode(".jpg", colour, buf));
  const std::string jpeg(buf.begin(), buf.end());
  REQUIRE(jpeg.compare(jpeg.size() - 2, 2, "\xFF\xD9") == 0);
  cv::Mat rgb = decode_image_rgb(jpeg, t / "ok.jpg");
  CHECK(rgb.cols == 64);
  CHECK(rgb.rows == 48);
  CHECK(rgb.type() == CV_8UC3);
  // Greyscale JPEGs are valid images: three equal channels.
  cv::Mat grey(30, 20, CV_8UC1, cv::Scalar(77));
  REQUIRE(cv::imencode(".jpg", grey, buf));
  cv::Mat grey_rgb = decode_image_rgb(std::string(buf.begin(), buf.end()), t / "grey.jpg");
  CHECK(grey_rgb.type() == CV_8UC3);
  CHECK(grey_rgb.at<cv::Vec3b>(5, 5) == cv::Vec3b(77, 77, 77));

  // Cut in half: libjpeg would fill the rest with grey and OpenCV return it.
  const std::string half = jpeg.substr(0, jpeg.size() / 2);
  CHECK_THROWS_WITH(decode_image_rgb(half, t / "half.jpg"),
                    Catch::StartsWith((t / "half.jpg").string() + ": corrupt or truncated JPEG: Premature end of JPEG file"));
  // Cut in half with an end-of-image marker put back: the old "no EOI" check passed it.
  CHECK_THROWS_WITH(decode_image_rgb(half + "\xFF\xD9", t / "cut.jpg"),
                    Catch::Contains("cut.jpg: corrupt or truncated JPEG: Corrupt JPEG data"));
  // Junk bytes where the end-of-image marker should be.
  const std::string junk = jpeg.substr(0, jpeg.size() - 2) + "\x12\x34\xFF\xD9";
  CHECK_THROWS_WITH(decode_image_rgb(junk, t / "junk.jpg"), Catch::Contains("extraneous bytes"));
  // Through the file reader as the stages use it.
  write_file_atomic(t / "half.jpg", half);
  CHECK_THROWS_WITH(read_image_rgb(t / "half.jpg"), Catch::Contains("half.jpg: corrupt or truncated JPEG"));
  CHECK_THROWS_WITH(decode_image_rgb("", t / "empty.jpg"), Catch::Contains("empty.jpg: empty image file"));
}
