#include "wsss/io/vocab.hpp"

#include <unordered_map>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "wsss/core/error.hpp"
#include "wsss/core/parse.hpp"
#include "wsss/io/atomic_file.hpp"

namespace wsss {

namespace {

const std::vector<std::string> kVoc12 = {
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"};

// COCO's 80 thing categories in category-id order: contiguous ids 1..80.
const std::vector<std::string> kCoco = {
    "background", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse",
    "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie",
    "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove",
    "skateboard", "surfboard", "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon",
    "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut",
    "cake", "chair", "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush"};

// The built-in synthetic data set (wsss-data synth). "train" always stands on
// rails, which are background: the co-occurrence that makes CAMs leak.
const std::vector<std::string> kSynth = {"background", "ball", "box", "kite", "star", "ring", "train"};

}  // namespace

int Vocabulary::id_of(const std::string& n) const {
  for (int i = 0; i < size(); ++i)
    if (classes[i] == n) return i;
  return -1;
}

namespace {

// What every vocabulary must satisfy, however it was written.
Vocabulary checked(Vocabulary v, const fs::path& file) {
  if (v.classes.size() < 2 || v.classes.size() > 255)
    throw InputError(file, "vocabulary needs background plus 1..254 classes, not " + std::to_string(v.classes.size()) +
                               " names (masks are 8-bit and 255 is the ignore id)");
  if (v.ignore < v.size() || v.ignore > 255) throw InputError(file, "ignore id must be >= the number of classes and <= 255");
  // A name is how users, prompts and reports address a class: it must name one id.
  std::unordered_map<std::string, int> first_id;
  for (int id = 0; id < v.size(); ++id) {
    if (v.classes[id].empty()) throw InputError(file, "class " + std::to_string(id) + " has an empty name");
    auto [it, inserted] = first_id.emplace(v.classes[id], id);
    if (!inserted)
      throw InputError(file, "class name " + quote_id(v.classes[id]) + " appears twice (ids " +
                                 std::to_string(it->second) + " and " + std::to_string(id) + ")");
  }
  return v;
}

// The plain list many VOC-format sets ship as classes.txt: one name per line,
// background first; blank lines only at the end; CRLF and a UTF-8 BOM accepted.
Vocabulary vocabulary_from_lines(const std::string& text, const fs::path& file) {
  Vocabulary v;
  v.name = "custom";
  std::size_t pos = text.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0;
  long line = 0, blank_line = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string name = text.substr(pos, end - pos);
    pos = end + 1;
    ++line;
    while (!name.empty() && (name.back() == '\r' || name.back() == ' ' || name.back() == '\t')) name.pop_back();
    name.erase(0, name.find_first_not_of(" \t"));
    if (name.empty()) {
      if (!blank_line) blank_line = line;
      continue;
    }
    if (blank_line) throw InputError(file, blank_line, "blank line inside the class list (one name per line)");
    if (!is_valid_utf8(name))
      throw InputError(file, line, "class name is not valid UTF-8 (names are written into JSON manifests and results)");
    v.classes.push_back(name);
  }
  return v;
}

}  // namespace

Vocabulary Vocabulary::load(const fs::path& file) {
  std::string text = read_file(file);
  const std::size_t first = text.find_first_not_of(" \t\r\n", text.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0);
  if (first == std::string::npos || text[first] != '{') return checked(vocabulary_from_lines(text, file), file);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(file, std::string("malformed JSON: ") + e.what());
  }
  Vocabulary v;
  try {
    if (j.value("format", "") != "wsss-classes") throw InputError(file, "not a wsss class vocabulary (format != wsss-classes)");
    // Compared as JSON: reading a huge number as an int first is undefined (fuzz_classes).
    if (!j.contains("version") || j["version"] != 1) throw InputError(file, "unsupported vocabulary version");
    v.name = j.value("name", "");
    if (!j.contains("classes") || !j["classes"].is_array()) throw InputError(file, "needs a \"classes\" list of names");
    for (std::size_t i = 0; i < j["classes"].size(); ++i) {
      if (!j["classes"][i].is_string())
        throw InputError(file, "class " + std::to_string(i) + " is " + clip_message(j["classes"][i].dump(), 40) +
                                   ", not a name");
      v.classes.push_back(j["classes"][i].get<std::string>());
    }
    if (j.contains("ignore") && !j["ignore"].is_number_integer())
      throw InputError(file, "\"ignore\" must be an integer class id, not " + clip_message(j["ignore"].dump(), 40));
    v.ignore = j.value("ignore", 255);
    // "voc" (or no palette) is VOC's colour map; a list gives [r, g, b] per id
    // from 0, the ids it leaves out keeping VOC's colours.
    if (j.contains("palette")) {
      const auto& pal = j["palette"];
      if (pal.is_array()) {
        if (pal.size() > 256) throw InputError(file, "palette has " + std::to_string(pal.size()) + " entries, at most 256");
        for (std::size_t i = 0; i < pal.size(); ++i) {
          const auto& e = pal[i];
          bool ok = e.is_array() && e.size() == 3;
          for (std::size_t c = 0; ok && c < 3; ++c) ok = e[c].is_number_unsigned() && e[c].get<unsigned>() <= 255;
          if (!ok)
            throw InputError(file, "palette entry " + std::to_string(i) + " is " + clip_message(e.dump(), 40) +
                                       ", not [r, g, b] with integers 0..255");
          for (int c = 0; c < 3; ++c) v.palette[i][std::size_t(c)] = e[std::size_t(c)].get<std::uint8_t>();
        }
      } else if (pal != "voc") {
        throw InputError(file, "palette must be \"voc\" or a list of [r, g, b], not " + clip_message(pal.dump(), 40));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(file, std::string("bad vocabulary: ") + e.what());
  }
  return checked(std::move(v), file);
}

std::string Vocabulary::to_json() const {
  nlohmann::ordered_json j;
  j["format"] = "wsss-classes";
  j["version"] = 1;
  j["name"] = name;
  j["classes"] = classes;
  j["ignore"] = ignore;
  bool voc = palette == voc_palette();
  if (voc) {
    j["palette"] = "voc";
  } else {
    auto pal = nlohmann::ordered_json::array();
    for (const auto& c : palette) pal.push_back({c[0], c[1], c[2]});
    j["palette"] = pal;
  }
  std::string out = "{\n";
  bool first = true;
  // One key per line, the class list one name per line: readable and diffable.
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!first) out += ",\n";
    first = false;
    out += "  \"" + it.key() + "\": " + it.value().dump();
  }
  return out + "\n}\n";
}

void Vocabulary::save(const fs::path& file) const { write_file_atomic(file, to_json()); }

Vocabulary vocabulary_for(const fs::path& manifest_dir, const std::string& override_file) {
  if (!override_file.empty()) {
    if (override_file.find('/') == std::string::npos && !fs::exists(override_file)) {
      // A bare name ("voc12") selects a built-in vocabulary.
      return builtin_vocabulary(override_file);
    }
    return Vocabulary::load(override_file);
  }
  fs::path beside = manifest_dir / kVocabularyFile;
  if (!fs::exists(beside))
    throw InputError(beside, "no class vocabulary beside the manifest (give --classes FILE or a built-in name)");
  return Vocabulary::load(beside);
}

Vocabulary builtin_vocabulary(const std::string& name) {
  Vocabulary v;
  v.name = name;
  if (name == "voc12") v.classes = kVoc12;
  else if (name == "coco") v.classes = kCoco;
  else if (name == "synth") v.classes = kSynth;
  else throw UsageError("unknown built-in vocabulary '" + name + "' (voc12, coco, synth)");
  return v;
}

fs::path find_data_manifest(const std::string& relative) {
  if (const char* env = std::getenv("WSSS_DATA_MANIFESTS"); env && *env) {
    fs::path p = fs::path(env) / relative;
    return fs::exists(p) ? p : fs::path();
  }
  std::error_code ec;
  fs::path dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
  for (int up = 0; !ec && up <= 3 && !dir.empty(); ++up, dir = dir.parent_path()) {
    for (const fs::path& base : {dir / "data_manifests", dir / "share" / "wsss" / "data_manifests"})
      if (fs::exists(base / relative)) return (base / relative).lexically_normal();
    if (dir == dir.root_path()) break;
  }
  return {};
}

}  // namespace wsss
