#include "wsss/data/voc.hpp"

#include <algorithm>
#include <sstream>
#include <unordered_map>

#include "wsss/core/error.hpp"
#include "wsss/core/parse.hpp"
#include "wsss/core/log.hpp"
#include "wsss/data/import.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/png.hpp"

namespace wsss::voc {

namespace {

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string decode_entities(const std::string& s) {
  static const std::pair<const char*, char> entities[] = {
      {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    bool replaced = false;
    if (s[i] == '&')
      for (const auto& [text, ch] : entities) {
        std::size_t n = std::char_traits<char>::length(text);
        if (s.compare(i, n, text) == 0) {
          out += ch;
          i += n;
          replaced = true;
          break;
        }
      }
    if (!replaced) out += s[i++];
  }
  return out;
}

}  // namespace

std::vector<ObjectName> object_names(const std::string& xml, const fs::path& file) {
  // VOC annotations are plain element trees: a small tag scanner is enough and
  // keeps the importer free of an XML library.
  std::vector<ObjectName> names;
  std::vector<std::string> stack;
  // Per open <object>: its line and whether it had a <name> (one without is
  // an object of no class: an error, not an object silently left out).
  std::vector<std::pair<long, bool>> objects;
  std::string text;
  long line = 1, name_line = 0;
  std::size_t i = 0;
  const std::size_t n = xml.size();
  auto advance_to = [&](std::size_t to) {
    line += std::count(xml.begin() + long(i), xml.begin() + long(std::min(to, n)), '\n');
    i = to;
  };
  auto in_object_name = [&] { return stack.size() >= 2 && stack.back() == "name" && stack[stack.size() - 2] == "object"; };
  while (i < n) {
    if (xml[i] != '<') {
      std::size_t next = xml.find('<', i);
      if (next == std::string::npos) next = n;
      if (in_object_name()) text += xml.substr(i, next - i);
      advance_to(next);
      continue;
    }
    auto skip_past = [&](const char* end, const char* what) {
      std::size_t e = xml.find(end, i);
      if (e == std::string::npos) throw InputError(file, line, std::string("malformed XML: unterminated ") + what);
      return e + std::char_traits<char>::length(end);
    };
    if (xml.compare(i, 4, "<!--") == 0) { advance_to(skip_past("-->", "comment")); continue; }
    if (xml.compare(i, 2, "<?") == 0) { advance_to(skip_past("?>", "processing instruction")); continue; }
    if (xml.compare(i, 9, "<![CDATA[") == 0) {
      std::size_t end = skip_past("]]>", "CDATA section");
      if (in_object_name()) text += xml.substr(i + 9, end - 3 - (i + 9));
      advance_to(end);
      continue;
    }
    if (xml.compare(i, 2, "<!") == 0) { advance_to(skip_past(">", "declaration")); continue; }
    std::size_t close = xml.find('>', i);
    if (close == std::string::npos) throw InputError(file, line, "malformed XML: unterminated tag");
    std::string tag = xml.substr(i + 1, close - i - 1);
    long tag_line = line;
    advance_to(close + 1);
    if (!tag.empty() && tag[0] == '/') {
      std::string closing = trim(tag.substr(1));
      if (stack.empty() || stack.back() != closing)
        throw InputError(file, tag_line, "malformed XML: </" + closing + "> closes " +
                                             (stack.empty() ? std::string("nothing") : "<" + stack.back() + ">"));
      if (in_object_name()) {
        names.push_back({trim(decode_entities(text)), name_line});
        text.clear();
        if (!objects.empty()) objects.back().second = true;
      }
      if (closing == "object" && !objects.empty()) {
        if (!objects.back().second) throw InputError(file, objects.back().first, "object without a <name>");
        objects.pop_back();
      }
      stack.pop_back();
      continue;
    }
    bool self_closing = !tag.empty() && tag.back() == '/';
    if (self_closing) tag.pop_back();
    std::string element = tag.substr(0, tag.find_first_of(" \t\r\n"));
    if (element.empty()) throw InputError(file, tag_line, "malformed XML: empty tag");
    if (self_closing) {
      if (element == "name" && !stack.empty() && stack.back() == "object") {
        names.push_back({"", tag_line});
        if (!objects.empty()) objects.back().second = true;
      }
      if (element == "object") throw InputError(file, tag_line, "object without a <name>");
      continue;
    }
    stack.push_back(element);
    if (element == "object") objects.emplace_back(tag_line, false);
    if (in_object_name()) {
      text.clear();
      name_line = tag_line;
    }
  }
  if (!stack.empty()) throw InputError(file, line, "malformed XML: <" + stack.back() + "> is never closed");
  return names;
}

std::vector<int> labels_from_xml(const fs::path& xml_file, const Vocabulary& vocabulary) {
  std::vector<int> labels;
  for (const ObjectName& object : object_names(read_file(xml_file), xml_file)) {
    int id = vocabulary.id_of(object.name);
    if (id < 1)
      throw InputError(xml_file, object.line,
                       "class name '" + object.name + "' is not in the vocabulary (" + vocabulary.name +
                           (vocabulary.name == "voc12" ? "; a custom set gives its classes with --classes)" : ")"));
    labels.push_back(id);
  }
  std::sort(labels.begin(), labels.end());
  labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
  return labels;
}

std::vector<int> labels_from_mask(const fs::path& mask_file, const Vocabulary& vocabulary) {
  Mask mask = read_mask(mask_file);
  bool present[256] = {};
  for (std::uint8_t v : mask.data) present[v] = true;
  std::vector<int> labels;
  for (int v = 1; v < 255; ++v) {
    if (!present[v] || v == vocabulary.ignore) continue;
    if (v >= vocabulary.size())
      throw InputError(mask_file, "pixel value " + std::to_string(v) + " is not a class id (0.." +
                                      std::to_string(vocabulary.num_foreground()) + ", " +
                                      std::to_string(vocabulary.ignore) + ")");
    labels.push_back(v);
  }
  return labels;
}

std::vector<std::string> read_split_list(const fs::path& list_file) {
  std::istringstream in(read_file(list_file));
  std::vector<std::string> ids;
  std::unordered_map<std::string, long> seen;
  std::string line;
  long line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    std::istringstream fields(line);
    std::string first;
    if (!(fields >> first)) continue;
    std::string id = first.find('/') != std::string::npos ? fs::path(first).stem().string() : first;
    if (id.empty()) throw InputError(list_file, line_no, "no image id in '" + trim(line) + "'");
    if (!is_valid_utf8(id))
      throw InputError(list_file, line_no, "image id is not valid UTF-8 (ids are written into JSON manifests)");
    auto [it, inserted] = seen.emplace(id, line_no);
    if (!inserted)
      throw InputError(list_file, line_no, "duplicate id " + quote_id(id) + " (first on line " + std::to_string(it->second) + ")");
    ids.push_back(id);
  }
  return ids;
}

fs::path split_list_path(const VocImportOptions& o) {
  if (!o.sbd_list.empty()) return o.sbd_list;
  if (o.split == "train_aug") return o.voc_dir / "ImageSets" / "SegmentationAug" / "train_aug.txt";
  return o.voc_dir / "ImageSets" / "Segmentation" / (o.split + ".txt");
}

StageSummary import_voc(const VocImportOptions& o, const StageOptions& stage) {
  if (o.labels_from != "xml" && o.labels_from != "mask")
    throw UsageError("--labels-from must be xml or mask, not '" + o.labels_from + "'");
  if (!o.sbd_list.empty() && o.split != "train_aug") throw UsageError("--sbd-list gives the train_aug list; use it with --split train_aug");
  std::error_code ec;
  if (!fs::is_directory(o.voc_dir / "JPEGImages", ec))
    throw InputError(o.voc_dir, "not a VOC2012 folder (no JPEGImages/)");
  std::string gt_name = o.gt.empty() ? (o.split == "train_aug" ? "SegmentationClassAug" : "SegmentationClass") : o.gt;
  if (gt_name != "SegmentationClass" && gt_name != "SegmentationClassAug")
    throw UsageError("--gt must be SegmentationClass or SegmentationClassAug, not '" + gt_name + "'");
  fs::path gt_dir = fs::absolute(o.voc_dir / gt_name).lexically_normal();
  bool have_gt = fs::is_directory(gt_dir, ec);
  if (!have_gt) {
    if (!o.gt.empty() || o.labels_from == "mask") throw InputError(gt_dir, "GT folder not found");
    log::warn(gt_dir.string(), ": not found; records get no \"mask\" field");
  }

  fs::path list = split_list_path(o);
  if (!fs::exists(list, ec)) {
    if (o.split == "train_aug")
      throw InputError(list, "train_aug list not found (give it with --sbd-list FILE)");
    throw InputError(list, "split list not found (--split names a file of ImageSets/Segmentation/)");
  }
  fs::path root = fs::absolute(o.voc_dir).lexically_normal();
  std::vector<Record> records;
  for (const std::string& id : read_split_list(list)) {
    Record r;
    r["id"] = id;
    r["image"] = (root / "JPEGImages" / (id + ".jpg")).string();
    records.push_back(std::move(r));
  }
  Manifest input = in_memory_manifest(std::move(records), list, read_file(list), stage.allow_empty);
  log::info(list.string(), ": ", input.records.size(), " images; labels from ",
            o.labels_from == "xml" ? "Annotations/*.xml" : gt_name + "/*.png");

  // Labels need one small file read per image: done by the stage's workers.
  class VocLabeller : public ItemProcessor {
   public:
    VocLabeller(fs::path root, fs::path gt_dir, bool have_gt, bool from_xml, const Vocabulary& vocabulary)
        : root_(std::move(root)), gt_dir_(std::move(gt_dir)), have_gt_(have_gt), from_xml_(from_xml),
          vocabulary_(vocabulary) {}
    std::vector<fs::path> outputs(const Record&) const override { return {}; }
    // "mask" is listed so that --skip-existing keeps it; records without a GT
    // mask are simply recomputed (one small read).
    std::vector<std::string> fields() const override { return {"labels", "mask"}; }
    Record process(const Record& input, std::uint64_t) override {
      const std::string& id = record_id(input);
      fs::path image = input.at("image").get<std::string>();
      require_file(image, "image", "item " + quote_id(id));
      fs::path gt = gt_dir_ / (id + ".png");
      std::error_code ec;
      bool has_mask = have_gt_ && fs::is_regular_file(gt, ec);
      Record added;
      if (from_xml_) {
        fs::path xml = root_ / "Annotations" / (id + ".xml");
        require_file(xml, "annotation", "item " + quote_id(id));
        added["labels"] = labels_from_xml(xml, vocabulary_);
      } else {
        if (!has_mask) throw InputError(gt, "GT mask not found (needed by --labels-from mask)");
        added["labels"] = labels_from_mask(gt, vocabulary_);
      }
      if (has_mask) added["mask"] = gt.string();
      return added;
    }

   private:
    fs::path root_, gt_dir_;
    bool have_gt_, from_xml_;
    const Vocabulary& vocabulary_;
  } labeller(root, gt_dir, have_gt, o.labels_from == "xml", o.vocabulary);
  return run_stage(labeller, input, stage, &o.vocabulary);
}

}  // namespace wsss::voc
