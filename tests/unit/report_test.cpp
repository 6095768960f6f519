// The experiment report: SVG charts (marks counted, values placed, text
// escaped) and the whole page built from a tiny experiment directory written
// here with the real evaluation (every section present, the expected numbers of
// rows, charts and pictures, nothing loaded from outside the page, the same
// bytes twice).
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <regex>

#include "test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/eval/miou.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/report/report.hpp"
#include "wsss/report/svg.hpp"

using namespace wsss;
using namespace wsss::report;
using wsss_test::TempDir;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// The text between `open` and the next `close` after it.
std::string between(const std::string& text, const std::string& open, const std::string& close) {
  const std::size_t a = text.find(open);
  if (a == std::string::npos) return "";
  const std::size_t b = text.find(close, a);
  return text.substr(a, b == std::string::npos ? std::string::npos : b - a);
}

Vocabulary vocab3() {
  Vocabulary v;
  v.name = "test";
  v.classes = {"background", "cat", "dog"};
  return v;
}

// A split of n 8x6 images: the left half cat (or dog for odd i), GT in "mask".
std::vector<Record> split(const fs::path& dir, const std::string& prefix, int n) {
  std::vector<Record> records;
  for (int i = 0; i < n; ++i) {
    const std::string id = prefix + std::to_string(i);
    Mask gt(8, 6);
    for (int y = 0; y < 6; ++y)
      for (int x = 0; x < 4; ++x) gt.at(y, x) = std::uint8_t(1 + i % 2);
    write_mask(dir / "masks" / (id + ".png"), gt);
    write_image_rgb(dir / "images" / (id + ".png"), cv::Mat(6, 8, CV_8UC3, cv::Scalar(20 * i, 90, 160)));
    Record r;
    r["id"] = id;
    r["image"] = (dir / "images" / (id + ".png")).string();
    r["labels"] = {1 + i % 2};
    r["mask"] = (dir / "masks" / (id + ".png")).string();
    records.push_back(r);
  }
  write_manifest(dir / "manifest.jsonl", records);
  vocab3().save(dir / "classes.json");
  return records;
}

// A copy of `records` with `field` masks that label `cols` left columns as the GT's class.
void masks(const fs::path& dir, std::vector<Record> records, const std::string& field, int cols) {
  for (Record& r : records) {
    Mask m(8, 6);
    const int c = r["labels"][0].get<int>();
    for (int y = 0; y < 6; ++y)
      for (int x = 0; x < cols; ++x) m.at(y, x) = std::uint8_t(c);
    const fs::path file = dir / field / (record_id(r) + ".png");
    write_mask(file, m);
    r[field] = file.string();
  }
  write_manifest(dir / "manifest.jsonl", records);
  vocab3().save(dir / "classes.json");
}

void evaluate(const fs::path& manifest, const std::string& pred, const fs::path& out, const std::string& sweep = "") {
  MiouOptions o;
  o.pred_field = pred;
  if (!sweep.empty()) {
    o.sweep = parse_sweep(sweep);
    o.sweep_text = sweep;
  }
  const Manifest m = read_manifest(manifest.string());
  write_file_atomic(out, format_miou_json(evaluate_manifest(m, vocab3(), o)));
}

// EXP with rows "a" (pseudo masks and predictions) and "b" (predictions only,
// its pseudo masks overridden to a path that does not exist).
fs::path experiment(const TempDir& tmp) {
  const fs::path exp = tmp / "exp";
  const std::vector<Record> train = split(exp / "train", "t", 3), val = split(exp / "val", "v", 2);
  std::vector<Record> cam = train;
  for (Record& r : cam) {
    std::vector<float> map(6 * 8, 0.f);
    for (int y = 0; y < 6; ++y)
      for (int x = 0; x < 8; ++x) map[std::size_t(y * 8 + x)] = x < 4 ? 0.9f - 0.1f * float(x) : 0.1f;
    const fs::path file = exp / "cam" / "cam" / (record_id(r) + ".npy");
    write_npy(file, map.data(), {1, 6, 8});
    r["cam"] = file.string();
    r["cam_classes"] = r["labels"];
  }
  write_manifest(exp / "cam" / "manifest.jsonl", cam);
  vocab3().save(exp / "cam" / "classes.json");
  masks(exp / "pseudo-a", train, "pseudo", 3);
  masks(exp / "pred-a", val, "pred", 2);
  masks(exp / "pred-b", val, "pred", 4);
  evaluate(exp / "pseudo-a" / "manifest.jsonl", "pseudo", exp / "eval" / "pseudo-a.json");
  evaluate(exp / "pred-a" / "manifest.jsonl", "pred", exp / "eval" / "seg-a.json");
  evaluate(exp / "pred-b" / "manifest.jsonl", "pred", exp / "eval" / "seg-b.json");
  evaluate(exp / "cam" / "manifest.jsonl", "cam", exp / "eval" / "cam-sweep.json", "0.05:0.95:0.05");
  write_file_atomic(exp / "eval" / "cam-threshold.txt", "0.3\n");
  std::string log;
  for (int i = 1; i <= 4; ++i)
    log += "{\"kind\":\"step\",\"iteration\":" + std::to_string(i) + ",\"epoch\":1,\"loss\":" +
           std::to_string(1.0 / i) + ",\"lr\":0.1,\"seconds\":" + std::to_string(i) + "}\n";
  log += "{\"kind\":\"validation\",\"iteration\":4,\"epoch\":1,\"mAP\":0.75,\"per_class\":[],\"seconds\":5}\n";
  write_file_atomic(exp / "cls" / "train_log.jsonl", log);
  write_file_atomic(exp / "cls" / "meta.json",
                    R"({"program":"wsss-classify","argv":["wsss-classify","train","x y"],"final_loss":0.52})");
  write_file_atomic(exp / "times" / "classify", "3.5\n");
  write_file_atomic(exp / "config.json", R"({"rows":["a","b"],"seed":0})");
  write_file_atomic(exp / "results.json", R"({"format":"wsss-table1","version":1,"baseline_miou_train":12.5,"rows":[
    {"row":"a","label":"A & <b>","pseudo_miou_train":50.5,"seg_miou_val":40,"seconds_pseudo":3,"seconds_seg":4,"stages":"x"},
    {"row":"b","label":"B","pseudo_manifest":"elsewhere/none.jsonl","pseudo_miou_train":null,"seg_miou_val":30}]})");
  return exp;
}

}  // namespace

TEST_CASE("bar charts draw one bar per finite value, scaled to the axis", "[report]") {
  BarChart c;
  c.title = "t <1>";
  c.categories = {"x", "y", "z"};
  c.series = {"s1", "s2"};
  c.values = {{10, 50, std::nan("")}, {100, 0, 25}};
  c.y_max = 100;
  const std::string svg = bar_chart_svg(c);
  CHECK(count(svg, "class=\"bar\"") == 5);
  CHECK(count(svg, "data-kind=\"bar\"") == 1);
  CHECK(svg.find("t &lt;1&gt;") != std::string::npos);
  // Heights are proportional to the values: 100 is ten times 10.
  std::regex bar("class=\"bar\" x=\"[0-9.]+\" y=\"[0-9.]+\" width=\"[0-9.]+\" height=\"([0-9.]+)\"");
  std::vector<double> heights;
  for (std::sregex_iterator it(svg.begin(), svg.end(), bar), end; it != end; ++it) heights.push_back(std::stod((*it)[1]));
  REQUIRE(heights.size() == 5);
  // Category-major: x:s1, x:s2, y:s1, y:s2, z:s2.
  CHECK(heights[1] == Approx(10 * heights[0]).margin(0.2));
  CHECK(heights[2] == Approx(5 * heights[0]).margin(0.2));
  CHECK(heights[3] == 0);
}

TEST_CASE("line charts split at gaps, mark a position, and ticks are round", "[report]") {
  LineChart c;
  c.title = "sweep";
  c.series.push_back({"m", {0, 1, 2, 3, 4}, {1, 2, std::nan(""), 4, 5}, true});
  c.marker_x = 3;
  c.marker_label = "chosen 3";
  const std::string svg = line_chart_svg(c);
  CHECK(count(svg, "<polyline class=\"series\"") == 2);
  CHECK(count(svg, "class=\"point\"") == 4);
  CHECK(count(svg, "<line class=\"marker\"") == 1);
  CHECK(svg.find("chosen 3") != std::string::npos);
  CHECK(nice_ticks(0, 100) == std::vector<double>{0, 20, 40, 60, 80, 100});
  const std::vector<double> t = nice_ticks(0.05, 0.6);  // a step of 0.11 rounds up to 0.2
  REQUIRE(t.size() == 3);
  CHECK(t[0] == Approx(0.2));
  CHECK(t[2] == Approx(0.6));
  CHECK(nice_ticks(0.05, 0.6, 10).size() == 6);  // 0.1 .. 0.6
  CHECK(nice_ticks(-30, 130) == std::vector<double>{0, 50, 100});  // steps of 32 round up to 50
  CHECK(nice_ticks(3, 3).size() == 1);
}

TEST_CASE("matrix charts colour each row by its share and name every cell", "[report]") {
  MatrixChart m;
  m.title = "confusion";
  m.labels = {"bg", "cat"};
  m.counts = {{3, 1}, {0, 0}};
  const std::string svg = matrix_svg(m);
  CHECK(count(svg, "class=\"cell\"") == 4);
  CHECK(svg.find("GT bg, predicted cat: 1 pixels (25.0% of the GT&#39;s)") != std::string::npos);
  CHECK(svg.find("fill=\"#f7fbff\"") != std::string::npos);  // an empty share is white
}

TEST_CASE("the report holds every section of a tiny experiment, self-contained", "[report]") {
  TempDir tmp;
  const fs::path exp = experiment(tmp);
  const Experiment e = read_experiment(exp);
  REQUIRE(e.rows.size() == 2);
  CHECK(e.rows[1].pseudo_manifest == exp / "elsewhere/none.jsonl");
  CHECK(e.rows[0].seg_eval == exp / "eval" / "seg-a.json");
  ReportOptions o;
  o.threads = 2;
  const std::string html = build_report(e, o);
  // Table 1: the baseline and both rows, text escaped.
  const std::string table = between(html, "<table id=\"table1\"", "</table>");
  CHECK(count(table, "<tr data-row=") == 2);
  CHECK(count(table, "<tr class=\"baseline\">") == 1);
  CHECK(table.find("A &amp; &lt;b&gt;") != std::string::npos);
  CHECK(table.find("<td>50.50</td><td>40</td><td>3s</td><td>4s</td>") != std::string::npos);
  CHECK(table.find("<th>pseudo-mask mIoU (train)</th>") != std::string::npos);
  // Charts: per-class IoU (pseudo, seg) and stage times; matrices: a's two, b's one;
  // lines: the sweep, the classifier's loss and validation.
  CHECK(count(html, "data-kind=\"bar\"") == 3);
  CHECK(count(html, "data-kind=\"matrix\"") == 3);
  CHECK(count(html, "data-kind=\"line\"") == 3);
  CHECK(html.find("chosen 0.3") != std::string::npos);
  // The segmentation chart has two series (rows a and b), the pseudo one only a.
  const std::string per_class = between(html, "<section id=\"per-class\"", "</section>");
  CHECK(count(per_class, "data-series=\"1\"") == 1);
  CHECK(count(per_class, "data-series=\"2\"") == 1);
  // Grids: 3 training images x (image, CAM, a's pseudo mask, GT), 2 validation
  // images x (image, a's and b's predictions, GT).
  const std::string train = between(html, "<table class=\"grid\" id=\"grid-train\"", "</table>");
  const std::string val = between(html, "<table class=\"grid\" id=\"grid-val\"", "</table>");
  CHECK(count(train, "<tr><th class=\"id\">") == 3);
  CHECK(count(train, "<img ") == 12);
  CHECK(count(val, "<tr><th class=\"id\">") == 2);
  CHECK(count(val, "<img ") == 8);
  CHECK(count(html, "src=\"data:image/jpeg;base64,") == 3 + 3 + 2);
  CHECK(count(html, "src=\"data:image/png;base64,") == 3 + 3 + 4 + 2);
  // Nothing but data URIs as sources, no script, no link, no style sheet file.
  CHECK(count(html, "src=\"") == count(html, "src=\"data:"));
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("<link") == std::string::npos);
  CHECK(html.find("url(") == std::string::npos);
  // Training, times, configuration and commands.
  CHECK(html.find("wsss-classify train") != std::string::npos);
  CHECK(html.find("mAP 0.75") != std::string::npos);
  CHECK(html.find("&quot;seed&quot;: 0") != std::string::npos);
  CHECK(html.find("wsss-classify train &#39;x y&#39;") != std::string::npos);
  // The same inputs give the same bytes.
  CHECK(build_report(read_experiment(exp), o) == html);
}

TEST_CASE("a bad experiment directory is an error naming the file", "[report]") {
  TempDir tmp;
  CHECK_THROWS_WITH(read_experiment(tmp.path), Catch::Contains("results.json: no results.json"));
  write_file_atomic(tmp / "results.json", "{\"rows\": 3}");
  CHECK_THROWS_WITH(read_experiment(tmp.path), Catch::Contains("\"rows\" list"));
  write_file_atomic(tmp / "results.json", "{\"rows\": [{\"row\":\"a\"},{\"row\":\"a\"}]}");
  CHECK_THROWS_WITH(read_experiment(tmp.path), Catch::Contains("rows[1]: row 'a' given twice"));
  write_file_atomic(tmp / "results.json", "{\"rows\": [{\"label\":\"x\"}]}");
  CHECK_THROWS_WITH(read_experiment(tmp.path), Catch::Contains("rows[0]: expected an object"));
  write_file_atomic(tmp / "results.json", "{\"rows\": [{\"row\":\"a\",\"seg_eval\":3}]}");
  CHECK_THROWS_WITH(read_experiment(tmp.path), Catch::Contains("\"seg_eval\" must be a non-empty path string"));
  write_file_atomic(tmp / "results.json", "{\"rows\": [");
  CHECK_THROWS_WITH(read_experiment(tmp.path), Catch::Contains("malformed JSON"));
  // null: the experiment has none (a row without segmentation), not the default path.
  fs::create_directories(tmp / "pred-a");
  write_file_atomic(tmp / "pred-a" / "manifest.jsonl", "not a manifest\n");
  write_file_atomic(tmp / "results.json", "{\"rows\": [{\"row\":\"a\",\"pred_manifest\":null,\"seg_eval\":null}]}");
  CHECK_NOTHROW(build_report(read_experiment(tmp.path), ReportOptions()));
  fs::remove_all(tmp / "pred-a");
  // Rows without any output: a report with notes, not an error.
  write_file_atomic(tmp / "results.json", "{\"rows\": [{\"row\":\"a\"}]}");
  const std::string html = build_report(read_experiment(tmp.path), ReportOptions());
  CHECK(html.find("No training manifest") != std::string::npos);
  CHECK(html.find("No evaluation found") != std::string::npos);
  // A malformed evaluation is an error naming it.
  write_file_atomic(tmp / "eval" / "seg-a.json", "{}");
  CHECK_THROWS_WITH(build_report(read_experiment(tmp.path), ReportOptions()), Catch::Contains("seg-a.json"));
}
