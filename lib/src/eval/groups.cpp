#include "wsss/eval/groups.hpp"

#include <cmath>
#include <cstdio>
#include <limits>

#include "wsss/core/error.hpp"
#include "wsss/io/vocab.hpp"

namespace wsss {

namespace {

// Table 2 of the survey (Chen and Sun, "Weakly-Supervised Semantic Segmentation with
// Image-Level Labels: from Traditional Models to Foundation Models"), in its column
// order; its caption: animals, transportation, objects/items, and person apart.
const std::vector<std::pair<std::string, std::vector<std::string>>> kVocTable2 = {
    {"person", {"person"}},
    {"animals", {"bird", "cat", "cow", "dog", "horse", "sheep"}},
    {"transportation", {"aeroplane", "bicycle", "boat", "bus", "car", "motorbike", "train"}},
    {"objects/items", {"bottle", "chair", "diningtable", "pottedplant", "sofa", "tvmonitor"}},
};

std::string pct(double v) {
  if (std::isnan(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", 100.0 * v);
  return buf;
}

}  // namespace

std::vector<ClassGroup> class_groups(const std::string& spec, const std::vector<std::string>& classes) {
  const bool voc = classes == builtin_vocabulary("voc12").classes;
  if (spec == "none" || (spec == "auto" && !voc)) return {};
  if (spec != "auto" && spec != "voc-table2") throw UsageError("--groups " + spec + ": expected auto, none or voc-table2");
  if (!voc) throw UsageError("--groups voc-table2 needs the 21 VOC 2012 classes");
  Vocabulary v = builtin_vocabulary("voc12");
  std::vector<ClassGroup> groups;
  for (const auto& [name, members] : kVocTable2) {
    ClassGroup g{name, {}};
    for (const auto& m : members) g.ids.push_back(v.id_of(m));
    groups.push_back(std::move(g));
  }
  return groups;
}

double group_miou(const Scores& scores, const ClassGroup& group) {
  double sum = 0;
  int n = 0;
  for (int c : group.ids) {
    const ClassScore& cs = scores.classes.at(std::size_t(c));
    if (!cs.valid) continue;
    sum += cs.iou;
    ++n;
  }
  return n ? sum / n : std::numeric_limits<double>::quiet_NaN();
}

nlohmann::ordered_json groups_to_json(const Scores& scores, const std::vector<ClassGroup>& groups,
                                      const std::vector<std::string>& classes) {
  auto out = nlohmann::ordered_json::array();
  auto value = [](double v) { return std::isnan(v) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(v); };
  for (const ClassGroup& g : groups) {
    nlohmann::ordered_json j;
    j["name"] = g.name;
    auto names = nlohmann::ordered_json::array(), iou = nlohmann::ordered_json::array();
    for (int c : g.ids) {
      names.push_back(classes.at(std::size_t(c)));
      const ClassScore& cs = scores.classes.at(std::size_t(c));
      iou.push_back(cs.valid ? value(cs.iou) : nullptr);
    }
    j["classes"] = names;
    j["iou"] = iou;
    j["miou"] = value(group_miou(scores, g));
    out.push_back(j);
  }
  return out;
}

std::string format_groups(const Scores& scores, const std::vector<ClassGroup>& groups,
                          const std::vector<std::string>& classes) {
  std::string out;
  char line[64];
  std::snprintf(line, sizeof line, "%-15s %8s  %s\n", "group", "mIoU", "class IoU");
  out += line;
  for (const ClassGroup& g : groups) {
    std::snprintf(line, sizeof line, "%-15s %8s  ", g.name.c_str(), pct(group_miou(scores, g)).c_str());
    out += line;
    for (std::size_t i = 0; i < g.ids.size(); ++i) {
      const ClassScore& cs = scores.classes.at(std::size_t(g.ids[i]));
      out += (i ? ", " : "") + classes.at(std::size_t(g.ids[i])) + " " + pct(cs.valid ? cs.iou : std::nan(""));
    }
    out += "\n";
  }
  return out;
}

}  // namespace wsss
