// Per-group IoU as in the survey's Table 2 (VOC: person, animals,
// transportation, objects/items), checked against means taken by hand.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include "wsss/core/error.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/eval/groups.hpp"
#include "wsss/eval/miou.hpp"

using namespace wsss;

TEST_CASE("Table 2 groups cover VOC's 20 classes once, in the table's order", "[eval][groups]") {
  Vocabulary voc = builtin_vocabulary("voc12");
  auto groups = class_groups("auto", voc.classes);
  REQUIRE(groups.size() == 4);
  CHECK(groups[0].name == "person");
  CHECK(groups[1].name == "animals");
  CHECK(groups[2].name == "transportation");
  CHECK(groups[3].name == "objects/items");
  std::vector<std::string> order;
  for (const auto& g : groups)
    for (int c : g.ids) order.push_back(voc.classes[std::size_t(c)]);
  CHECK(order == std::vector<std::string>{"person", "bird", "cat", "cow", "dog", "horse", "sheep", "aeroplane",
                                          "bicycle", "boat", "bus", "car", "motorbike", "train", "bottle", "chair",
                                          "diningtable", "pottedplant", "sofa", "tvmonitor"});
  CHECK(std::set<std::string>(order.begin(), order.end()).size() == 20);
  CHECK(class_groups("none", voc.classes).empty());
  CHECK(class_groups("auto", builtin_vocabulary("coco").classes).empty());
  CHECK_THROWS_AS(class_groups("voc-table2", builtin_vocabulary("synth").classes), UsageError);
  CHECK_THROWS_AS(class_groups("table3", voc.classes), UsageError);
}

TEST_CASE("group mIoU is the mean IoU of the group's valid classes", "[eval][groups]") {
  Vocabulary voc = builtin_vocabulary("voc12");
  // A diagonal confusion with known IoUs: class c has tp = c, plus c pixels
  // predicted as background (IoU = c / 2c = 0.5) for odd c, exact for even c;
  // chair (9) and sofa (18) never appear (invalid).
  Confusion conf(21);
  conf.at(0, 0) = 1000;
  for (int c = 1; c <= 20; ++c) {
    if (c == 9 || c == 18) continue;
    conf.at(c, c) = std::uint64_t(c);
    if (c % 2) conf.at(c, 0) = std::uint64_t(c);
  }
  Scores s = compute_scores(conf);
  auto groups = class_groups("voc-table2", voc.classes);
  auto iou = [](int c) { return c % 2 ? 0.5 : 1.0; };
  // person 15: 0.5. animals bird 3, cat 8, cow 10, dog 12, horse 13, sheep 17.
  CHECK(group_miou(s, groups[0]) == Approx(0.5));
  CHECK(group_miou(s, groups[1]) == Approx((iou(3) + iou(8) + iou(10) + iou(12) + iou(13) + iou(17)) / 6));
  // objects: bottle 5, diningtable 11, pottedplant 16, tvmonitor 20 (chair, sofa invalid).
  CHECK(group_miou(s, groups[3]) == Approx((iou(5) + iou(11) + iou(16) + iou(20)) / 4));
  auto j = groups_to_json(s, groups, voc.classes);
  CHECK(j[3]["name"] == "objects/items");
  CHECK(j[3]["iou"][1].is_null());  // chair
  CHECK(j[0]["iou"][0] == Approx(0.5));
  std::string text = format_groups(s, groups, voc.classes);
  CHECK_THAT(text, Catch::Contains("person             50.00  person 50.00\n"));
  CHECK_THAT(text, Catch::Contains("chair -, diningtable 50.00"));

  MiouResult r;
  r.classes = voc.classes;
  r.confusions = {conf};
  r.groups = groups;
  CHECK(miou_to_json(r)["groups"].size() == 4);
  std::string report = format_miou_report(r);
  CHECK_THAT(report, Catch::Contains("transportation"));
  CHECK(report.substr(report.rfind("\n", report.size() - 2) + 1, 5) == "mIoU ");  // still the last line
}
