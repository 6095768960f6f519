#pragma once
// Per-class IoU in groups of classes, e.g. the survey's Table 2, which reports
// VOC's classes as person, animals, transportation and objects/items: indoor
// objects are where foundation-model pseudo masks fall behind.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "wsss/metrics/confusion.hpp"

namespace wsss {

struct ClassGroup {
  std::string name;
  std::vector<int> ids;  // class ids, in the table's order
};

// "voc-table2" (the VOC classes only; UsageError otherwise), "none", or "auto":
// voc-table2 when `classes` are VOC 2012's 21, else none.
std::vector<ClassGroup> class_groups(const std::string& spec, const std::vector<std::string>& classes);

// A group's mean IoU over its valid classes (NaN when none is valid).
double group_miou(const Scores& scores, const ClassGroup& group);

// {"name", "classes": [names], "iou": [..] (null where undefined), "miou"} per group.
nlohmann::ordered_json groups_to_json(const Scores& scores, const std::vector<ClassGroup>& groups,
                                      const std::vector<std::string>& classes);

// "group  mIoU  class IoU, class IoU, ..." lines, percent with two decimals.
std::string format_groups(const Scores& scores, const std::vector<ClassGroup>& groups,
                          const std::vector<std::string>& classes);

}  // namespace wsss
