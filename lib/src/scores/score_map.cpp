#include "wsss/scores/score_map.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "wsss/core/error.hpp"

namespace wsss {

namespace {

std::string size_text(int w, int h) { return std::to_string(w) + "x" + std::to_string(h); }

}  // namespace

std::vector<int> score_map_classes(const Record& record, const std::string& field, const fs::path& manifest) {
  const std::string list_field = field + "_classes";
  auto it = record.find(list_field);
  const std::string& id = record_id(record);
  if (it == record.end())
    throw InputError(manifest, "item " + quote_id(id) + ": no \"" + list_field + "\" field listing the score map's channel classes");
  if (!it->is_array()) throw InputError(manifest, "item " + quote_id(id) + ": \"" + list_field + "\" must be an array of class ids");
  std::vector<int> classes;
  for (const auto& v : *it) {
    if (!v.is_number_integer())
      throw InputError(manifest, "item " + quote_id(id) + ": \"" + list_field + "\" holds " + v.dump() + ", not a class id");
    classes.push_back(v.get<int>());
  }
  return classes;
}

void drop_background_channel(ScoreMap& map, std::vector<int>& classes) {
  if (!has_background_channel(classes)) return;
  const std::size_t plane = std::size_t(map.height() * map.width());
  if (map.shape.size() != 3 || map.data.size() < plane) throw Error("drop_background_channel: not a [k,H,W] score map");
  map.data.erase(map.data.begin(), map.data.begin() + std::ptrdiff_t(plane));
  map.shape[0] -= 1;
  classes.erase(classes.begin());
}

void drop_background_channel(RecordScores& scores) { drop_background_channel(scores.map, scores.classes); }

void check_score_map(const ScoreMap& map, const std::vector<int>& classes, int num_classes, int width, int height,
                     const fs::path& file, const std::string& against) {
  if (map.shape.size() != 3)
    throw InputError(file, "score map must have shape [k,H,W], not " + std::to_string(map.shape.size()) + " dimensions");
  if (map.channels() != std::int64_t(classes.size()))
    throw InputError(file, "score map has " + std::to_string(map.channels()) + " channels but the record lists " +
                               std::to_string(classes.size()) + " classes");
  if (map.width() != width || map.height() != height)
    throw InputError(file, "score map is " + size_text(int(map.width()), int(map.height())) + " but " + against +
                               " is " + size_text(width, height) + " (width x height)");
  for (std::size_t i = 0; i < classes.size(); ++i) {
    if (i == 0 && classes[0] == 0) continue;  // a background channel (e.g. CRF marginals) comes first
    if (classes[i] < 1 || classes[i] >= num_classes)
      throw InputError(file, "channel class " + std::to_string(classes[i]) + " outside 1.." +
                                 std::to_string(num_classes - 1));
    if (i > 0 && classes[i] <= classes[i - 1]) throw InputError(file, "channel classes must be ascending");
  }
}

void max_and_argmax(const ScoreMap& map, const std::vector<int>& classes, std::vector<float>& best,
                    std::vector<std::uint8_t>& cls) {
  const std::size_t n = std::size_t(map.height() * map.width());
  best.assign(n, -std::numeric_limits<float>::infinity());
  cls.assign(n, 0);
  for (std::int64_t ch = 0; ch < map.channels(); ++ch) {
    const float* s = map.channel(ch);
    const std::uint8_t id = std::uint8_t(classes[std::size_t(ch)]);
    for (std::size_t i = 0; i < n; ++i)
      if (s[i] > best[i]) {
        best[i] = s[i];
        cls[i] = id;
      }
  }
}


Mask score_map_to_mask(const ScoreMap& map, const std::vector<int>& classes, const BackgroundRule& rule) {
  std::vector<float> best;
  std::vector<std::uint8_t> cls;
  max_and_argmax(map, classes, best, cls);
  Mask out(int(map.width()), int(map.height()), 0);
  if (has_background_channel(classes)) {  // the map scores background itself: plain argmax
    out.data.assign(cls.begin(), cls.end());
    return out;
  }
  if (rule.kind == BackgroundRule::Threshold) {
    const float t = float(rule.value);
    for (std::size_t i = 0; i < best.size(); ++i) out.data[i] = best[i] > t ? cls[i] : 0;
  } else {
    // CLIP-ES/PSA: bg = (1 - max)^A in float32; NaN (a max above 1 with a
    // fractional A) never wins the comparison, like np.argmax's NaN-first rule.
    const float a = float(rule.value);
    for (std::size_t i = 0; i < best.size(); ++i) {
      float bg = std::pow(1.0f - best[i], a);
      out.data[i] = !std::isnan(bg) && best[i] > bg ? cls[i] : 0;
    }
  }
  return out;
}

RecordScores load_scores(const Record& record, const std::string& field, const Vocabulary& vocab,
                         const fs::path& manifest, int width, int height, const std::string& against) {
  const std::string& id = record_id(record);
  RecordScores s;
  fs::path file = record_path(record, field, manifest);
  s.classes = score_map_classes(record, field, manifest);
  s.map = read_npy(file);  // rejects NaN and Inf, naming the file
  check_score_map(s.map, s.classes, vocab.size(), width, height, file, against);
  if (record.contains("labels")) {
    std::vector<int> labels = record_labels(record, vocab.num_foreground(), manifest);
    for (int c : s.classes)
      if (c != 0 && !std::binary_search(labels.begin(), labels.end(), c))
        throw InputError(manifest, "item " + quote_id(id) + ": class " + std::to_string(c) + " (" + vocab.classes[std::size_t(c)] +
                                       ") has a score map but is not among the image's labels");
  }
  return s;
}

ChannelScores with_background(const RecordScores& scores, const BackgroundRule& rule) {
  ChannelScores out;
  const ScoreMap& m = scores.map;
  out.width = int(m.width());
  out.height = int(m.height());
  const std::size_t n = std::size_t(out.width) * std::size_t(out.height);
  if (has_background_channel(scores.classes)) {
    out.ids = scores.classes;
    out.prob = m.data;
    return out;
  }
  out.ids.push_back(0);
  out.ids.insert(out.ids.end(), scores.classes.begin(), scores.classes.end());
  out.prob.resize(n * out.ids.size());
  std::copy(m.data.begin(), m.data.end(), out.prob.begin() + std::ptrdiff_t(n));
  for (std::size_t i = 0; i < n; ++i) {
    if (rule.kind == BackgroundRule::Threshold) {
      out.prob[i] = float(rule.value);
    } else {
      float best = 0;
      for (std::size_t c = 0; c < scores.classes.size(); ++c) best = std::max(best, m.data[c * n + i]);
      out.prob[i] = std::pow(std::max(0.0f, 1.0f - best), float(rule.value));
    }
  }
  return out;
}

std::vector<std::uint8_t> argmax(const float* prob, int channels, std::size_t n) {
  std::vector<std::uint8_t> idx(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    float best = prob[i];
    for (int c = 1; c < channels; ++c) {
      float v = prob[std::size_t(c) * n + i];
      if (v > best) {
        best = v;
        idx[i] = std::uint8_t(c);
      }
    }
  }
  return idx;
}

}  // namespace wsss
