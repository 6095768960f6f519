#include "wsss/pseudo/merge.hpp"

#include <cmath>

#include "wsss/core/error.hpp"

namespace wsss::pseudo {

MergeOptions MergeOptions::parse(const std::string& text) {
  MergeOptions o;
  std::string rule = text;
  const std::string suffix = "+ignore";
  if (rule.size() > suffix.size() && rule.compare(rule.size() - suffix.size(), suffix.size(), suffix) == 0) {
    o.ignore_contested = true;
    rule.resize(rule.size() - suffix.size());
  }
  if (rule == "max-id") o.rule = MergeRule::MaxId;
  else if (rule == "score") o.rule = MergeRule::Score;
  else if (rule == "smallest") o.rule = MergeRule::Smallest;
  else throw UsageError("merge rule '" + text + "': expected max-id, score or smallest, optionally with +ignore");
  return o;
}

std::string MergeOptions::name() const {
  std::string n = rule == MergeRule::MaxId ? "max-id" : rule == MergeRule::Score ? "score" : "smallest";
  return ignore_contested ? n + "+ignore" : n;
}

Mask merge_masks(const std::vector<InstanceMask>& masks, int width, int height, const MergeOptions& options) {
  const std::size_t n = std::size_t(width) * std::size_t(height);
  if (options.ignore < 1 || options.ignore > 255) throw Error("merge: ignore id " + std::to_string(options.ignore) + " is not 1..255");
  std::vector<std::size_t> area(masks.size(), 0);
  for (std::size_t m = 0; m < masks.size(); ++m) {
    const InstanceMask& im = masks[m];
    if (im.mask.size() != n)
      throw Error("merge: mask " + std::to_string(m) + " has " + std::to_string(im.mask.size()) + " pixels, the image " +
                  std::to_string(width) + "x" + std::to_string(height));
    if (im.class_id < 1 || im.class_id > 254 || im.class_id == options.ignore)
      throw Error("merge: mask " + std::to_string(m) + " has class id " + std::to_string(im.class_id));
    if (!std::isfinite(im.score)) throw Error("merge: mask " + std::to_string(m) + " has a non-finite score");
    for (std::uint8_t v : im.mask) area[m] += v != 0;
  }
  // Whether mask a beats mask b at a pixel both cover. Every rule ends its ties
  // on the class id, so the result does not depend on the order of the masks
  // (two masks that tie on everything carry the same class).
  auto beats = [&](std::size_t a, std::size_t b) {
    const InstanceMask &x = masks[a], &y = masks[b];
    switch (options.rule) {
      case MergeRule::MaxId:
        break;
      case MergeRule::Score:
        if (x.score != y.score) return x.score > y.score;
        break;
      case MergeRule::Smallest:
        if (area[a] != area[b]) return area[a] < area[b];
        if (x.score != y.score) return x.score > y.score;
        break;
    }
    return x.class_id > y.class_id;
  };
  constexpr std::int32_t kNone = -1;
  std::vector<std::int32_t> winner(n, kNone);
  std::vector<std::uint8_t> contested(options.ignore_contested ? n : 0, 0);
  for (std::size_t m = 0; m < masks.size(); ++m) {
    const std::uint8_t* px = masks[m].mask.data();
    for (std::size_t p = 0; p < n; ++p) {
      if (!px[p]) continue;
      std::int32_t& w = winner[p];
      if (w == kNone) {
        w = std::int32_t(m);
        continue;
      }
      if (options.ignore_contested && masks[std::size_t(w)].class_id != masks[m].class_id) contested[p] = 1;
      if (beats(m, std::size_t(w))) w = std::int32_t(m);
    }
  }
  Mask out(width, height, 0);
  for (std::size_t p = 0; p < n; ++p) {
    if (winner[p] == kNone) continue;
    out.data[p] = options.ignore_contested && contested[p] ? std::uint8_t(options.ignore)
                                                           : std::uint8_t(masks[std::size_t(winner[p])].class_id);
  }
  return out;
}

}  // namespace wsss::pseudo
