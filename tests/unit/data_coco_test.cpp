#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <random>

#include "test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/data/coco.hpp"
#include "wsss/io/atomic_file.hpp"

using namespace wsss;
using wsss_test::TempDir;

namespace {

// Independent oracle: pycocotools' rleEncode (column-major runs starting with
// a 0-run) and rleToString, written from maskApi.c.
std::vector<std::uint32_t> encode_runs(const Mask& m) {
  std::vector<std::uint32_t> counts;
  std::uint8_t prev = 0;
  std::uint32_t run = 0;
  for (int x = 0; x < m.width; ++x)
    for (int y = 0; y < m.height; ++y) {
      std::uint8_t v = m.at(y, x) ? 1 : 0;
      if (v != prev) {
        counts.push_back(run);
        run = 0;
        prev = v;
      }
      ++run;
    }
  counts.push_back(run);
  return counts;
}

std::string rle_to_string(const std::vector<std::uint32_t>& counts) {
  std::string s;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    long x = long(counts[i]);
    if (i > 2) x -= long(counts[i - 2]);
    bool more = true;
    while (more) {
      char c = char(x & 0x1f);
      x >>= 5;
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      s += char(c + 48);
    }
  }
  return s;
}

Mask random_blobs(int w, int h, std::mt19937& rng) {
  Mask m(w, h, 0);
  std::uniform_int_distribution<int> X(0, w - 1), Y(0, h - 1), L(1, 60);
  for (int k = 0; k < 6; ++k) {
    int x0 = X(rng), y0 = Y(rng), dx = L(rng), dy = L(rng);
    for (int y = y0; y < std::min(h, y0 + dy); ++y)
      for (int x = x0; x < std::min(w, x0 + dx); ++x) m.at(y, x) = 1;
  }
  for (int k = 0; k < 30; ++k) m.at(Y(rng), X(rng)) ^= 1;
  return m;
}

}  // namespace

TEST_CASE("compressed RLE strings decode to the runs pycocotools encoded", "[coco][rle]") {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 40; ++trial) {
    int w = 1 + int(rng() % 300), h = 1 + int(rng() % 200);
    Mask m = random_blobs(w, h, rng);
    auto runs = encode_runs(m);
    std::string text = rle_to_string(runs);
    REQUIRE(coco::decode_rle_counts(text) == runs);

    // Decoding and painting reproduces the mask exactly, column-major.
    coco::Rle rle{h, w, coco::decode_rle_counts(text)};
    Mask painted(w, h, 0);
    coco::paint_rle(painted, rle, 7);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) REQUIRE(painted.at(y, x) == (m.at(y, x) ? 7 : 0));
  }
  // Large runs and negative differences (sign-extended groups).
  std::vector<std::uint32_t> runs = {0, 100000, 3, 1, 70000, 2, 5, 1u << 20, 0, 9};
  REQUIRE(coco::decode_rle_counts(rle_to_string(runs)) == runs);
  // Hand-checked: counts [5, 3] encode as '5' (48+5) and '3' (48+3).
  REQUIRE(coco::decode_rle_counts("53") == std::vector<std::uint32_t>{5, 3});
  REQUIRE(coco::decode_rle_counts("").empty());
}

TEST_CASE("bad compressed RLE strings are errors", "[coco][rle]") {
  CHECK_THROWS_WITH(coco::decode_rle_counts("5\x7f"), Catch::Contains("invalid character"));
  CHECK_THROWS_WITH(coco::decode_rle_counts("5P"), Catch::Contains("ends inside a count"));  // 'P' has the more bit
  // A negative first count.
  CHECK_THROWS_WITH(coco::decode_rle_counts(std::string(1, char(48 + 0x1f))), Catch::Contains("out of range"));
}

TEST_CASE("uncompressed RLE paints column-major and checks its total", "[coco][rle]") {
  // 3x2 (h x w): column 0 = rows 0..2, column 1 = rows 0..2. Runs: 1 zero, 2 ones, 1 zero, 2 ones.
  coco::Rle rle{3, 2, {1, 2, 1, 2}};
  Mask m(2, 3, 0);
  coco::paint_rle(m, rle, 4);
  CHECK(m.at(0, 0) == 0);
  CHECK(m.at(1, 0) == 4);
  CHECK(m.at(2, 0) == 4);
  CHECK(m.at(0, 1) == 0);
  CHECK(m.at(1, 1) == 4);
  CHECK(m.at(2, 1) == 4);
  coco::Rle short_rle{3, 2, {1, 2}};
  CHECK_THROWS_WITH(coco::paint_rle(m, short_rle, 1), Catch::Contains("cover 3 pixels"));
  coco::Rle wrong_size{2, 3, {6}};
  CHECK_THROWS_WITH(coco::paint_rle(m, wrong_size, 1), Catch::Contains("differs from image"));
}

TEST_CASE("polygons fill their integer rectangle inclusively", "[coco][polygon]") {
  Mask m(20, 10, 0);
  coco::paint_polygons(m, {{2, 3, 8, 3, 8, 6, 2, 6}}, 9);
  for (int y = 0; y < 10; ++y)
    for (int x = 0; x < 20; ++x) REQUIRE(m.at(y, x) == ((x >= 2 && x <= 8 && y >= 3 && y <= 6) ? 9 : 0));
  // Vertices are rounded half to even (numpy's round): 2.5 -> 2, 8.5 -> 8.
  Mask r(20, 10, 0);
  coco::paint_polygons(r, {{2.5, 3.2, 8.5, 3.2, 8.5, 5.6, 2.5, 5.6}}, 9);
  CHECK(r.data == m.data);
  CHECK_THROWS_WITH(coco::paint_polygons(m, {{1, 2, 3}}, 1), Catch::Contains("odd number"));
  CHECK_THROWS_WITH(coco::paint_polygons(m, {{1, 2, 3, 4}}, 1), Catch::Contains("at least 3"));
}

TEST_CASE("instances are painted in annotation order and crowd is a label but stays 0", "[coco]") {
  TempDir tmp;
  // Category ids 5 and 2 and 9 listed out of order: by id they map to 1 (2), 2 (5), 3 (9).
  write_file_atomic(tmp / "inst.json", R"({
    "images": [{"id": 3, "file_name": "a.jpg", "width": 10, "height": 8},
               {"id": 1, "file_name": "b.jpg", "width": 4, "height": 4}],
    "categories": [{"id": 5, "name": "five"}, {"id": 2, "name": "two"}, {"id": 9, "name": "nine"}],
    "annotations": [
      {"id": 1, "image_id": 3, "category_id": 5, "iscrowd": 0, "segmentation": [[0,0, 5,0, 5,5, 0,5]]},
      {"id": 2, "image_id": 3, "category_id": 2, "iscrowd": 0, "segmentation": [[3,3, 9,3, 9,7, 3,7]]},
      {"id": 3, "image_id": 3, "category_id": 9, "iscrowd": 1,
       "segmentation": {"size": [8, 10], "counts": [0, 80]}}
    ]})");
  coco::Dataset ds = coco::load_instances(tmp / "inst.json");
  REQUIRE(ds.images.size() == 2);
  CHECK(ds.images[0].id == 1);  // sorted by id
  CHECK(ds.vocabulary.classes == std::vector<std::string>{"background", "two", "five", "nine"});
  const coco::Image& im = ds.images[1];
  CHECK(coco::image_labels(im) == std::vector<int>{1, 2, 3});
  Mask m = coco::paint_semantic(im, tmp / "inst.json");
  CHECK(m.at(0, 0) == 2);   // only the first instance
  CHECK(m.at(4, 4) == 1);   // overlap: the later instance wins
  CHECK(m.at(7, 9) == 1);
  CHECK(m.at(7, 0) == 0);   // covered only by the crowd region
  for (auto v : m.data) CHECK(v != 3);
  CHECK(coco::image_labels(ds.images[0]).empty());
  Mask empty = coco::paint_semantic(ds.images[0], tmp / "inst.json");
  CHECK(empty.width == 4);
  for (auto v : empty.data) CHECK(v == 0);
  CHECK(coco::image_key(42) == "000000000042");
}

TEST_CASE("the standard 80 categories select the built-in coco vocabulary", "[coco]") {
  TempDir tmp;
  Vocabulary coco_vocab = builtin_vocabulary("coco");
  static const int ids[80] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                              22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44,
                              46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65,
                              67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90};
  nlohmann::json j;
  j["images"] = nlohmann::json::array();
  j["annotations"] = nlohmann::json::array();
  for (int k = 79; k >= 0; --k) j["categories"].push_back({{"id", ids[k]}, {"name", coco_vocab.classes[k + 1]}});
  write_file_atomic(tmp / "c.json", j.dump());
  CHECK(coco::load_instances(tmp / "c.json").vocabulary.name == "coco");
}

TEST_CASE("bad instances files name the file and the annotation", "[coco]") {
  TempDir tmp;
  auto load = [&](const std::string& text) {
    write_file_atomic(tmp / "x.json", text);
    return coco::load_instances(tmp / "x.json");
  };
  const std::string head = R"({"images":[{"id":1,"file_name":"a.jpg","width":4,"height":4}],
                               "categories":[{"id":1,"name":"a"}],"annotations":[)";
  CHECK_THROWS_WITH(load("{"), Catch::Contains("x.json: malformed JSON"));
  CHECK_THROWS_WITH(load(head + R"({"id":7,"image_id":2,"category_id":1,"segmentation":[]}]})"),
                    Catch::Contains("x.json: annotation 7: unknown image_id 2"));
  CHECK_THROWS_WITH(load(head + R"({"id":7,"image_id":1,"category_id":1,
                                    "segmentation":{"size":[4,5],"counts":[20]}}]})"),
                    Catch::Contains("annotation 7: bad segmentation: RLE size differs"));
  CHECK_THROWS_WITH(load(head + R"({"id":8,"image_id":1,"category_id":1,"segmentation":[[1,2,3]]}]})"),
                    Catch::Contains("annotation 8: bad segmentation: polygon 0 has an odd number"));
  CHECK_THROWS_WITH(load(head + R"({"id":8,"image_id":1,"category_id":1,"segmentation":[[0,0,1,1,2,2],[1,2,3,4]]}]})"),
                    Catch::Contains("annotation 8: bad segmentation: polygon 1 has 2 point(s); a polygon needs at least 3"));
  CHECK_THROWS_WITH(load(head + R"({"id":8,"image_id":1,"category_id":1,"segmentation":[[]]}]})"),
                    Catch::Contains("annotation 8: bad segmentation: polygon 0 is empty"));
  // Runs that do not cover the image: an error when loading, crowd or not
  // (crowd regions are never painted, so painting would not notice).
  for (const char* crowd : {"0", "1"})
    CHECK_THROWS_WITH(load(head + R"({"id":9,"image_id":1,"category_id":1,"iscrowd":)" + crowd + R"(,
                                     "segmentation":{"size":[4,4],"counts":[3,4]}}]})"),
                      Catch::Contains("x.json: annotation 9: bad segmentation: RLE runs cover 7 pixels, the mask has 16"));
}
