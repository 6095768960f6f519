#pragma once
// PIL's Image.resize for 8-bit images, bit for bit: the separable convolution of
// Pillow's Resample.c (filter support scaled by the reduction factor, so shrinking
// is antialiased; 22-bit fixed-point coefficients; horizontal pass first, rounded
// to uint8 between the passes). Reference pipelines that resize through PIL
// (segment_anything's ResizeLongestSide: torchvision resize of a PIL image,
// bilinear) are reproduced exactly, which OpenCV's INTER_LINEAR is not: it does
// not antialias when shrinking and rounds its 11-bit coefficients differently.
#include <opencv2/core.hpp>

namespace wsss {

enum class PilFilter { Bilinear, Bicubic };  // PIL.Image.BILINEAR, PIL.Image.BICUBIC (a = -0.5)

// `image`: CV_8UC1, CV_8UC3 or CV_8UC4 (channels are independent). `size`: width x height >= 1.
cv::Mat pil_resize(const cv::Mat& image, cv::Size size, PilFilter filter = PilFilter::Bilinear);

}  // namespace wsss
