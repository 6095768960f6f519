#include "wsss/text/clip_prompts.hpp"

#include <nlohmann/json.hpp>

#include "wsss/core/error.hpp"
#include "wsss/io/atomic_file.hpp"

namespace wsss::text {

using json = nlohmann::json;

std::string apply_template(const std::string& templ, const std::string& name) {
  std::size_t at = templ.find("{}");
  if (at == std::string::npos) return templ;
  return templ.substr(0, at) + name + templ.substr(at + 2);
}

std::vector<std::string> ClipEsPrompts::foreground_prompts() const {
  std::vector<std::string> out;
  for (std::size_t c = 1; c < names.size(); ++c) out.push_back(apply_template(templ, names[c]));
  return out;
}

std::vector<std::string> ClipEsPrompts::background_prompts() const {
  std::vector<std::string> out;
  for (const std::string& b : background) out.push_back(apply_template(templ, b));
  return out;
}

namespace {

bool blank(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }

}  // namespace

ClipEsPrompts ClipEsPrompts::load(const fs::path& file, const Vocabulary& vocab) {
  json j;
  try {
    j = json::parse(read_file(file));
  } catch (const json::exception& e) {
    throw InputError(file, std::string("malformed JSON: ") + e.what());
  }
  if (!j.is_object() || j.value("format", "") != "wsss-clip-es")
    throw InputError(file, "not a wsss-clip-es file (\"format\": \"wsss-clip-es\" expected)");
  if (!j.contains("version") || j["version"] != 1) throw InputError(file, "unsupported wsss-clip-es version");
  ClipEsPrompts p;
  p.file = file;
  p.names = vocab.classes;
  p.class_names = vocab.classes;
  if (j.contains("template")) {
    if (!j["template"].is_string()) throw InputError(file, "\"template\" must be a string");
    p.templ = j["template"].get<std::string>();
  }
  // str.format with one positional field: exactly one "{}" and no other braces.
  std::size_t at = p.templ.find("{}");
  if (at == std::string::npos || p.templ.find_first_of("{}", at + 2) != std::string::npos ||
      p.templ.find_first_of("{}") != at)
    throw InputError(file, "template '" + p.templ + "' must hold exactly one \"{}\" and no other braces");
  if (j.contains("box_threshold")) {
    if (!j["box_threshold"].is_number()) throw InputError(file, "\"box_threshold\" must be a number");
    p.box_threshold = j["box_threshold"].get<double>();
    if (!(p.box_threshold > 0 && p.box_threshold < 1))
      throw InputError(file, "box_threshold " + j["box_threshold"].dump() + " must lie in (0, 1)");
  }
  if (j.contains("classes")) {
    if (!j["classes"].is_object()) throw InputError(file, "\"classes\" must be an object of class name -> text");
    for (const auto& [key, value] : j["classes"].items()) {
      int c = vocab.id_of(key);
      if (c < 1) throw InputError(file, "classes: " + quote_id(key) + " is not a class of vocabulary '" + vocab.name + "'");
      if (!value.is_string() || blank(value.get<std::string>()))
        throw InputError(file, "classes: " + quote_id(key) + " needs a non-empty text");
      p.names[std::size_t(c)] = value.get<std::string>();
    }
  }
  if (!j.contains("background") || !j["background"].is_array() || j["background"].empty())
    throw InputError(file, "needs a non-empty \"background\" array of names");
  for (std::size_t i = 0; i < j["background"].size(); ++i) {
    const json& b = j["background"][i];
    if (!b.is_string() || blank(b.get<std::string>()))
      throw InputError(file, "background[" + std::to_string(i) + "] must be a non-empty string");
    p.background.push_back(b.get<std::string>());
  }
  return p;
}

ClipEsPrompts ClipEsPrompts::for_vocabulary(const Vocabulary& vocab) {
  fs::path file = find_data_manifest(vocab.name + "/clip_es.json");
  if (file.empty())
    throw UsageError("no data_manifests/" + vocab.name + "/clip_es.json for vocabulary '" + vocab.name +
                     "': pass the CLIP-ES prompts file (class texts and background names; docs/clip-es.md)");
  return load(file, vocab);
}

}  // namespace wsss::text
