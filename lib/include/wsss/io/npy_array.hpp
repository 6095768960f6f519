#pragma once
// .npy arrays of another rank than a score map's [k, H, W]: a saliency map
// [H, W] (pseudo/saliency.hpp). The reader is read_npy's (io/npy.hpp), with its
// checks (dtype, order, truncation, NaN/Inf); only the rank differs.
#include <cstddef>
#include <filesystem>

#include "wsss/io/npy.hpp"

namespace wsss {

// An .npy array of `rank` dimensions (0: any of 1 to 3), its shape in
// ScoreMap::shape as stored. InputError naming the file otherwise.
ScoreMap read_npy_array(const std::filesystem::path& file, bool allow_non_finite = false, std::size_t rank = 0);

}  // namespace wsss
