#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>

#include "test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/io/safetensors.hpp"

using namespace wsss;
namespace st = wsss::safetensors;
using wsss_test::TempDir;

namespace {

// A file assembled by hand, independently of our writer: length prefix, header, data.
std::string hand_built(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[std::size_t(i)] = char((n >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string floats_bytes(std::initializer_list<float> values) {
  std::string s;
  for (float v : values) s.append(reinterpret_cast<const char*>(&v), 4);
  return s;
}

std::string error_of(const std::string& bytes) {
  try {
    st::File::parse(bytes, "w.safetensors");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("safetensors reader parses a hand-built file", "[safetensors]") {
  const std::string header =
      R"({"__metadata__":{"arch":"resnet18","note":"x"},)"
      R"("b":{"dtype":"I64","shape":[],"data_offsets":[8,16]},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("h":{"dtype":"F16","shape":[1,2],"data_offsets":[16,20]},)"
      R"("z":{"dtype":"BF16","shape":[1],"data_offsets":[20,22]}})";
  std::string data = floats_bytes({1.5f, -2.0f});
  std::int64_t seven = 7;
  data.append(reinterpret_cast<const char*>(&seven), 8);
  std::uint16_t h1 = float_to_half(0.25f), h2 = float_to_half(-3.0f);
  data.append(reinterpret_cast<const char*>(&h1), 2);
  data.append(reinterpret_cast<const char*>(&h2), 2);
  std::uint16_t bf = 0x4049;  // upper half of 3.140625f
  data.append(reinterpret_cast<const char*>(&bf), 2);

  st::File f = st::File::parse(hand_built(header, data), "x.safetensors");
  REQUIRE(f.tensors().size() == 4);
  CHECK(f.tensors()[0].name == "a");  // sorted by name
  CHECK(f.metadata().at("arch") == "resnet18");
  CHECK(f.metadata().at("note") == "x");
  const st::TensorInfo* a = f.find("a");
  REQUIRE(a);
  CHECK(a->dtype == st::DType::F32);
  CHECK(a->shape == std::vector<std::int64_t>{2});
  CHECK(f.to_float(*a) == std::vector<float>{1.5f, -2.0f});
  const st::TensorInfo* b = f.find("b");
  REQUIRE(b);
  CHECK(b->shape.empty());
  CHECK(b->numel() == 1);
  CHECK(f.to_float(*b) == std::vector<float>{7.0f});
  CHECK(f.to_float(*f.find("h")) == std::vector<float>{0.25f, -3.0f});
  CHECK(f.to_float(*f.find("z")) == std::vector<float>{3.140625f});
  CHECK(f.find("missing") == nullptr);
}

TEST_CASE("safetensors writer round-trips and pads the header", "[safetensors]") {
  TempDir t;
  std::vector<float> w = {1, 2, 3, 4, 5, 6};
  std::vector<std::int64_t> count = {42};
  std::vector<std::uint8_t> bytes = {1, 2, 3};
  st::write(t / "m.safetensors",
            {{"zeta", st::DType::U8, {3}, bytes.data()},
             {"alpha.weight", st::DType::F32, {2, 3}, w.data()},
             {"mid", st::DType::I64, {}, count.data()}},
            {{"arch", "{\"name\":\"resnet50\"}"}});
  const std::string raw = read_file(t / "m.safetensors");
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(raw[std::size_t(i)]);
  CHECK(header_len % 8 == 0);
  CHECK(raw.size() == 8 + header_len + 24 + 8 + 3);
  // Data laid out in name order: alpha.weight first.
  float first;
  std::memcpy(&first, raw.data() + 8 + header_len, 4);
  CHECK(first == 1.0f);

  st::File f = st::File::read(t / "m.safetensors");
  REQUIRE(f.tensors().size() == 3);
  CHECK(f.tensors()[0].name == "alpha.weight");
  CHECK(f.tensors()[1].name == "mid");
  CHECK(f.tensors()[2].name == "zeta");
  CHECK(f.metadata().at("arch") == "{\"name\":\"resnet50\"}");
  CHECK(f.to_float(f.tensors()[0]) == w);
  CHECK(f.to_float(f.tensors()[1]) == std::vector<float>{42});
  CHECK(f.to_float(f.tensors()[2]) == std::vector<float>{1, 2, 3});
  // Deterministic bytes whatever the order the caller listed the tensors in.
  CHECK(st::encode({{"mid", st::DType::I64, {}, count.data()},
                    {"zeta", st::DType::U8, {3}, bytes.data()},
                    {"alpha.weight", st::DType::F32, {2, 3}, w.data()}},
                   {{"arch", "{\"name\":\"resnet50\"}"}}) == raw);
}

TEST_CASE("safetensors writer refuses duplicate names", "[safetensors]") {
  float v = 1;
  CHECK_THROWS_WITH(st::encode({{"a", st::DType::F32, {1}, &v}, {"a", st::DType::F32, {1}, &v}}),
                    Catch::Contains("duplicate tensor name 'a'"));
}

TEST_CASE("safetensors reader rejects truncated files with a clear error", "[safetensors]") {
  TempDir t;
  std::vector<float> w(10, 1.0f);
  st::write(t / "ok.safetensors", {{"layer1.0.conv1.weight", st::DType::F32, {10}, w.data()}});
  std::string full = read_file(t / "ok.safetensors");

  write_file_atomic(t / "cut.safetensors", full.substr(0, full.size() - 4));
  try {
    st::File::read(t / "cut.safetensors");
    FAIL("no error");
  } catch (const InputError& e) {
    std::string msg = e.what();
    CHECK_THAT(msg, Catch::Contains("cut.safetensors"));
    CHECK_THAT(msg, Catch::Contains("layer1.0.conv1.weight"));
    CHECK_THAT(msg, Catch::Contains("truncated"));
    CHECK(msg.find('\n') == std::string::npos);
  }
  CHECK_THAT(error_of(full.substr(0, 5)), Catch::Contains("truncated") && Catch::Contains("w.safetensors"));
  CHECK_THAT(error_of(full.substr(0, 20)), Catch::Contains("truncated safetensors file: header needs"));
  CHECK_THAT(error_of(""), Catch::Contains("truncated"));
}

TEST_CASE("safetensors reader validates the header", "[safetensors]") {
  const std::string d8 = floats_bytes({1, 2});
  CHECK_THAT(error_of(hand_built(R"({"w":{"dtype":"F8","shape":[2],"data_offsets":[0,8]}})", d8)),
             Catch::Contains("tensor 'w': unknown dtype 'F8'"));
  CHECK_THAT(error_of(hand_built(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", d8)),
             Catch::Contains("tensor 'w'") && Catch::Contains("needs 12"));
  CHECK_THAT(error_of(hand_built(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", d8)),
             Catch::Contains("tensor 'w'") && Catch::Contains("past the end"));
  CHECK_THAT(error_of(hand_built(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", d8)),
             Catch::Contains("reversed"));
  CHECK_THAT(error_of(hand_built(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                 R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                 d8)),
             Catch::Contains("tensor 'b': data_offsets overlap those of tensor 'a'"));
  CHECK_THAT(error_of(hand_built(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d8)),
             Catch::Contains("unreferenced bytes before"));
  CHECK_THAT(error_of(hand_built(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", d8)),
             Catch::Contains("unreferenced bytes after"));
  CHECK_THAT(error_of(hand_built(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", d8)),
             Catch::Contains("negative"));
  CHECK_THAT(error_of(hand_built(R"({"w":{"dtype":"F32","shape":[2]}})", d8)), Catch::Contains("data_offsets"));
  CHECK_THAT(error_of(hand_built(R"({"w":{"dtype":"F32","shape":[2],)", d8)), Catch::Contains("not valid JSON"));
  CHECK_THAT(error_of(hand_built(R"([1,2])", "")), Catch::Contains("not a JSON object"));
  CHECK_THAT(error_of(hand_built(R"({"__metadata__":{"a":1}})", "")), Catch::Contains("'a' is not a string"));

  std::string huge(8, '\0');
  huge[5] = 1;  // 2^40 bytes of header
  CHECK_THAT(error_of(huge + "{}"), Catch::Contains("exceeds the limit"));
  // Trailing spaces after the JSON are padding, not an error.
  CHECK(st::File::parse(hand_built("{}      ", ""), "e.safetensors").tensors().empty());
}

TEST_CASE("safetensors header-only read gives metadata and validates sizes", "[safetensors]") {
  TempDir t;
  std::vector<float> w(6, 2.0f);
  st::write(t / "m.safetensors", {{"w", st::DType::F32, {2, 3}, w.data()}}, {{"k", "v"}});
  st::File f = st::File::read_header(t / "m.safetensors");
  CHECK(f.metadata().at("k") == "v");
  REQUIRE(f.tensors().size() == 1);
  CHECK(f.tensors()[0].shape == std::vector<std::int64_t>{2, 3});
  CHECK_THROWS_AS(f.data(f.tensors()[0]), Error);

  std::string full = read_file(t / "m.safetensors");
  write_file_atomic(t / "cut.safetensors", full.substr(0, full.size() - 1));
  CHECK_THROWS_WITH(st::File::read_header(t / "cut.safetensors"),
                    Catch::Contains("cut.safetensors") && Catch::Contains("tensor 'w'"));
  CHECK_THROWS_WITH(st::File::read_header(t / "absent.safetensors"), Catch::Contains("absent.safetensors"));
}
