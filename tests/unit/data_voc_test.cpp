#include <catch2/catch.hpp>

#include "test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/data/folder.hpp"
#include "wsss/data/voc.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/manifest.hpp"
#include "wsss/io/png.hpp"

using namespace wsss;
using wsss_test::TempDir;

TEST_CASE("VOC XML: object names only with lines (parts, comments, CDATA and entities)", "[voc]") {
  const std::string xml =
      "<?xml version=\"1.0\"?>\n"
      "<annotation>\n"
      "  <!-- <object><name>cow</name></object> -->\n"
      "  <source><name>not an object</name></source>\n"
      "  <object>\n"
      "    <name> person </name>\n"
      "    <part><name>head</name></part>\n"
      "    <difficult>1</difficult>\n"
      "  </object>\n"
      "  <object><name><![CDATA[dog]]></name></object>\n"
      "  <object attr=\"x\"><name>a&amp;b</name><truncated/></object>\n"
      "</annotation>\n";
  auto names = voc::object_names(xml, "x.xml");
  REQUIRE(names.size() == 3);
  CHECK(names[0].name == "person");
  CHECK(names[0].line == 6);
  CHECK(names[1].name == "dog");
  CHECK(names[1].line == 10);
  CHECK(names[2].name == "a&b");
  CHECK_THROWS_WITH(voc::object_names("<a>\n<object><name>x</object></a>", "y.xml"),
                    Catch::Contains("y.xml:2: malformed XML: </object> closes <name>"));
  CHECK_THROWS_WITH(voc::object_names("<a><object>", "y.xml"), Catch::Contains("never closed"));
}

TEST_CASE("VOC import on a fake VOCdevkit written with write_mask", "[voc]") {
  TempDir tmp;
  fs::path voc = tmp / "VOC2012";
  struct Item { const char* id; std::vector<const char*> names; int cls; bool gt; };
  std::vector<Item> items = {{"a1", {"cat", "person", "cat"}, 8, true}, {"b2", {"bus"}, 6, true}, {"c3", {"sofa"}, 18, false}};
  for (const auto& it : items) {
    write_image_rgb(voc / "JPEGImages" / (std::string(it.id) + ".jpg"), cv::Mat(6, 9, CV_8UC3, cv::Scalar(1, 2, 3)));
    std::string x = "<annotation>\n";
    for (const char* n : it.names) x += std::string("<object><name>") + n + "</name><difficult>1</difficult></object>\n";
    write_file_atomic(voc / "Annotations" / (std::string(it.id) + ".xml"), x + "</annotation>\n");
    if (it.gt) {
      Mask m(9, 6, 0);
      m.at(1, 1) = std::uint8_t(it.cls);
      m.at(0, 0) = 255;
      write_mask(voc / "SegmentationClass" / (std::string(it.id) + ".png"), m);
    }
  }
  write_file_atomic(voc / "ImageSets/Segmentation/train.txt", "c3\na1\nb2\n");
  StageOptions so;
  so.out_dir = tmp / "out";
  voc::VocImportOptions o;
  o.voc_dir = voc;
  StageSummary s = voc::import_voc(o, so);
  REQUIRE(s.ok);
  Manifest m = read_manifest((tmp / "out/manifest.jsonl").string());
  REQUIRE(m.records.size() == 3);
  CHECK(record_id(m.records[0]) == "a1");
  CHECK(m.records[0]["labels"].get<std::vector<int>>() == std::vector<int>{8, 15});
  CHECK(m.records[0]["mask"].get<std::string>() == (voc / "SegmentationClass/a1.png").lexically_normal().string());
  CHECK(m.records[2]["labels"].get<std::vector<int>>() == std::vector<int>{18});
  CHECK_FALSE(m.records[2].contains("mask"));
  CHECK(Vocabulary::load(tmp / "out/classes.json").name == "voc12");
  // Labels from the masks: only images with GT can be imported that way.
  CHECK(voc::labels_from_mask(voc / "SegmentationClass/a1.png", builtin_vocabulary("voc12")) == std::vector<int>{8});
  Mask bad(3, 3, 21);
  write_mask(tmp / "bad.png", bad);
  CHECK_THROWS_WITH(voc::labels_from_mask(tmp / "bad.png", builtin_vocabulary("voc12")), Catch::Contains("pixel value 21 is not a class id (0..20, 255)"));
  CHECK_THROWS_WITH(voc::labels_from_xml(tmp / "nosuch.xml", builtin_vocabulary("voc12")), Catch::Contains("nosuch.xml"));
}

TEST_CASE("split lists: ids, DeepLab paths, duplicates", "[voc]") {
  TempDir tmp;
  write_file_atomic(tmp / "l.txt", "a\n\n/JPEGImages/b.jpg /SegmentationClassAug/b.png\n");
  CHECK(voc::read_split_list(tmp / "l.txt") == std::vector<std::string>{"a", "b"});
  write_file_atomic(tmp / "d.txt", "a\nb\na\n");
  CHECK_THROWS_WITH(voc::read_split_list(tmp / "d.txt"), Catch::Contains("d.txt:3: duplicate id 'a' (first on line 1)"));
}

TEST_CASE("folder CSV: quotes, label separators, errors with lines", "[folder]") {
  auto f = folder::split_csv_line(R"("a, b.jpg", cat dog ,"x""y")", "f.csv", 4);
  REQUIRE(f.size() == 3);
  CHECK(f[0] == "a, b.jpg");
  CHECK(f[1] == "cat dog");
  CHECK(f[2] == "x\"y");
  CHECK_THROWS_WITH(folder::split_csv_line("\"a,b", "f.csv", 4), Catch::Contains("f.csv:4: unterminated"));
  Vocabulary coco = builtin_vocabulary("coco");
  CHECK(folder::parse_labels("traffic light; person;3", coco, "f.csv", 1) == std::vector<int>{1, 3, 10});
  CHECK(folder::parse_labels("person car person", coco, "f.csv", 1) == std::vector<int>{1, 3});
  CHECK(folder::parse_labels("", coco, "f.csv", 1).empty());
  CHECK_THROWS_WITH(folder::parse_labels("traffic light", coco, "f.csv", 7), Catch::Contains("f.csv:7: unknown class 'traffic'"));
  CHECK_THROWS_WITH(folder::parse_labels("0", coco, "f.csv", 2), Catch::Contains("f.csv:2: class id 0 outside 1..80"));
  CHECK_THROWS_WITH(folder::parse_labels("background", coco, "f.csv", 2), Catch::Contains("unknown class 'background'"));
}
