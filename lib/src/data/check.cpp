#include "wsss/data/check.hpp"

#include <algorithm>
#include <opencv2/imgcodecs.hpp>
#include <sstream>
#include <unordered_map>

#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/parallel.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/manifest.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/io/png.hpp"

namespace wsss {

bool is_label_field(const std::string& field) {
  return field == "mask" || field == "pseudo" || field == "pred" || field == "refined";
}

std::string CheckReport::format(const CheckProblem& p) const {
  return clip_message(manifest.string() + (p.line > 0 ? ":" + std::to_string(p.line) : std::string()) + ": " +
                      p.message);
}

namespace {

struct Line {
  long number;
  Record record;
};

std::string size_text(std::pair<int, int> wh) { return std::to_string(wh.first) + "x" + std::to_string(wh.second); }

bool is_score_field(const std::string& field) { return field == "cam" || field == "cam_lowres"; }

// Everything about one record that needs the file system; problems are
// appended to `out` so that a record can report several.
void check_record(const Record& record, const CheckOptions& o, const Vocabulary* vocab, std::vector<std::string>& out,
                  std::size_t& files, std::size_t& decoded, int& orientation) {
  const std::string item = "item " + quote_id(record_id(record)) + ": ";
  if (auto labels = record.find("labels"); labels != record.end()) {
    if (!labels->is_array()) {
      out.push_back(item + "\"labels\" must be an array of class ids");
    } else {
      for (const auto& v : *labels) {
        if (!v.is_number_integer()) {
          out.push_back(item + "label " + v.dump() + " is not an integer class id");
        } else if (v.get<long long>() < 1 || (vocab && v.get<long long>() > vocab->num_foreground())) {
          out.push_back(item + "label " + v.dump() + " outside 1.." +
                        (vocab ? std::to_string(vocab->num_foreground()) : std::string("K")));
        }
      }
    }
  }
  std::pair<int, int> image_wh{0, 0};
  bool have_image_size = false;
  // The image first, so that label PNGs can be compared with its size.
  std::vector<std::string> fields;
  if (record.contains("image")) fields.push_back("image");
  else if (!o.allow_no_image)
    out.push_back(item + "no \"image\" field (every stage but wsss-miou needs one; --allow-no-image accepts "
                         "evaluation-only manifests such as wsss-data synth --masks-only)");
  for (auto it = record.begin(); it != record.end(); ++it)
    if (it.key() != "image" && is_path_field(it.key())) fields.push_back(it.key());
  for (const std::string& field : fields) {
    fs::path file = record[field].get<std::string>();
    ++files;
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) {
      out.push_back(item + field + " " + file.string() + " not found");
      continue;
    }
    bool image_like = field == "image" || is_label_field(field);
    try {
      if (image_like) {
        auto wh = image_size(file);
        if (field == "image") {
          image_wh = wh;
          have_image_size = true;
        } else if (have_image_size && wh != image_wh) {
          out.push_back(item + field + " " + file.string() + " is " + size_text(wh) + " but the image is " +
                        size_text(image_wh));
        }
      }
      if (!o.decode) continue;
      if (field == "image" && !o.masks_only) {
        ++decoded;
        const std::string bytes = read_file(file);
        orientation = exif_orientation(bytes);
        cv::Mat pixels = decode_image_rgb(bytes, file);  // what every stage reads
        if (std::make_pair(pixels.cols, pixels.rows) != image_wh)
          throw InputError(file, "decodes to " + size_text({pixels.cols, pixels.rows}) + " but its header says " +
                                     size_text(image_wh));
      } else if (is_label_field(field)) {
        Mask mask = read_mask(file);
        ++decoded;
        if (vocab) {
          bool present[256] = {};
          for (std::uint8_t v : mask.data) present[v] = true;
          for (int v = vocab->size(); v < 256; ++v)
            if (present[v] && v != vocab->ignore)
              out.push_back(item + field + " " + file.string() + ": value " + std::to_string(v) + " above K=" +
                            std::to_string(vocab->num_foreground()) + " and not the ignore id " +
                            std::to_string(vocab->ignore));
        }
      } else if (is_score_field(field) && file.extension() == ".npy") {
        read_npy(file);
        ++decoded;
      }
    } catch (const std::exception& e) {
      out.push_back(item + field + ": " + e.what());
    }
  }
}

}  // namespace

CheckReport check_manifest(const fs::path& manifest, const CheckOptions& o) {
  CheckReport report;
  report.manifest = manifest;
  const std::string text = read_file(manifest);
  const fs::path dir = fs::absolute(manifest).parent_path();

  // Pass 1, line by line: syntax, ids and path fields. A bad line is reported
  // and skipped; later lines are still checked.
  std::vector<Line> lines;
  std::unordered_map<std::string, long> first_line;
  std::istringstream in{std::string(without_bom(text))};
  std::string line;
  long line_no = 0;
  for (; std::getline(in, line);) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    // parse_manifest validates one line exactly as every stage will read it.
    try {
      Manifest one = parse_manifest(line, manifest, dir);
      Record& record = one.records.front();
      const std::string& id = record_id(record);
      auto [pos, inserted] = first_line.emplace(id, line_no);
      if (!inserted) {
        report.problems.push_back(
            {line_no, "duplicate id " + quote_id(id) + " (first on line " + std::to_string(pos->second) + ")"});
        continue;
      }
      lines.push_back({line_no, std::move(record)});
    } catch (const InputError& e) {
      // The message is "FILE:1: ..." for the one-line text: keep what follows.
      std::string what = e.what();
      std::string prefix = manifest.string() + ":1: ";
      report.problems.push_back({line_no, what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what});
    }
  }
  report.records = lines.size();
  if (line_no == 0 || (lines.empty() && report.problems.empty())) {
    if (!o.allow_empty) report.problems.push_back({0, "empty manifest (use --allow-empty to accept)"});
  }

  std::unique_ptr<Vocabulary> vocab;
  if (!o.classes.empty() || fs::exists(dir / kVocabularyFile)) {
    vocab = std::make_unique<Vocabulary>(vocabulary_for(dir, o.classes));
    report.num_foreground = vocab->num_foreground();
  } else {
    log::warn(manifest.string(), ": no classes.json beside it and no --classes: label and mask value ranges "
              "are not checked");
  }

  // Pass 2, in parallel: the files. Results are stored per record and merged in
  // line order, so the report does not depend on the thread count.
  std::vector<std::vector<std::string>> found(lines.size());
  std::vector<std::size_t> files(lines.size(), 0), decoded(lines.size(), 0);
  std::vector<int> orientation(lines.size(), 0);
  Progress progress(o.decode ? "decoding" : "checking", lines.size(), "rec");
  parallel_for(lines.size(), o.threads, [&](std::size_t i, int) {
    check_record(lines[i].record, o, vocab.get(), found[i], files[i], decoded[i], orientation[i]);
    progress.add();
  });
  progress.finish();
  std::size_t oriented = 0, first_oriented = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (orientation[i] > 1 && oriented++ == 0) first_oriented = i;
    report.files += files[i];
    report.decoded += decoded[i];
    for (auto& message : found[i]) report.problems.push_back({lines[i].number, std::move(message)});
  }
  // Valid files, but worth knowing: a viewer shows them turned.
  if (oriented > 0)
    log::warn(manifest.string(), ":", lines[first_oriented].number, ": ", oriented,
              " image(s) carry an EXIF orientation (first: item ", quote_id(record_id(lines[first_oriented].record)),
              ", orientation ", orientation[first_oriented],
              "); wsss reads pixels as stored and ignores it, as the masks, PIL and pycocotools do (docs/formats.md)");
  std::stable_sort(report.problems.begin(), report.problems.end(),
                   [](const CheckProblem& a, const CheckProblem& b) { return a.line < b.line; });
  return report;
}

}  // namespace wsss
