#include "wsss/text/clip_tokenizer.hpp"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <sstream>

#include "wsss/core/error.hpp"

namespace wsss::text {

namespace {

// The UTF-8 encoding of one code point (< 0x800 is all bytes_to_unicode needs).
std::string utf8(unsigned cp) {
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  }
  return s;
}

// bytes_to_unicode(): printable bytes stand for themselves, the other 68 bytes
// for 256, 257, ... in byte order, so that no symbol is white space or a control
// character. Returns the symbols in CLIP's vocabulary order (printable first).
void byte_symbols(std::vector<std::string>& by_byte, std::vector<std::string>& in_vocab_order) {
  std::vector<int> bs, cs;
  for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
  cs = bs;
  int n = 0;
  for (int b = 0; b < 256; ++b)
    if (std::find(bs.begin(), bs.end(), b) == bs.end()) {
      bs.push_back(b);
      cs.push_back(256 + n++);
    }
  by_byte.assign(256, "");
  in_vocab_order.clear();
  for (std::size_t i = 0; i < bs.size(); ++i) {
    by_byte[std::size_t(bs[i])] = utf8(unsigned(cs[i]));
    in_vocab_order.push_back(by_byte[std::size_t(bs[i])]);
  }
}

std::string gunzip_file(const fs::path& file) {
  if (!fs::is_regular_file(file))
    throw InputError(file, "no such file (CLIP's BPE merges, bpe_simple_vocab_16e6.txt.gz)");
  // zlib reads a file without the gzip magic "transparently" as plain bytes;
  // Python's gzip.open refuses it, and so do we.
  {
    std::FILE* f = std::fopen(file.c_str(), "rb");
    if (!f) throw InputError(file, "cannot open");
    unsigned char magic[2] = {0, 0};
    std::size_t got = std::fread(magic, 1, 2, f);
    std::fclose(f);
    if (got != 2 || magic[0] != 0x1f || magic[1] != 0x8b)
      throw InputError(file, "not a gzip file (expected CLIP's bpe_simple_vocab_16e6.txt.gz)");
  }
  gzFile gz = gzopen(file.c_str(), "rb");
  if (!gz) throw InputError(file, "cannot open");
  std::string out;
  char buf[1 << 16];
  for (;;) {
    int n = gzread(gz, buf, sizeof buf);
    if (n < 0) {
      int code = 0;
      std::string why = gzerror(gz, &code);
      gzclose(gz);
      throw InputError(file, "corrupt gzip data (" + why + ")");
    }
    if (n == 0) break;
    out.append(buf, std::size_t(n));
    if (out.size() > (64u << 20)) {  // the real file inflates to 1.4 MB
      gzclose(gz);
      throw InputError(file, "inflates to more than 64 MB: not CLIP's BPE merges");
    }
  }
  // A truncated stream reads as a short file; gzclose_r reports it.
  int rc = gzclose(gz);
  if (rc != Z_OK) throw InputError(file, "corrupt or truncated gzip data (zlib error " + std::to_string(rc) + ")");
  return out;
}

bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
// Python's str.isspace() on what is left of ASCII after ftfy.
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string shown(const std::string& text) {
  std::string s = "'";
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", u);
      s += esc;
    } else {
      s += c;
    }
  }
  return s + "'";
}

}  // namespace

std::string clip_clean_text(const std::string& text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    unsigned char u = static_cast<unsigned char>(text[i]);
    if (u >= 0x80)
      throw Error("text " + shown(text) + ": non-ASCII characters are not supported (CLIP repairs and normalises "
                  "them with ftfy, which this tokenizer does not reproduce)");
    if (text[i] == '&' && i + 1 < text.size()) {
      char n = text[i + 1];
      // html.unescape's entity pattern: &#..., or & then [^\t\n\f <&#;]
      if (n == '#' || !(n == '\t' || n == '\n' || n == '\f' || n == ' ' || n == '<' || n == '&' || n == ';'))
        throw Error("text " + shown(text) + ": '&' followed by '" + std::string(1, n) +
                    "' may be an HTML entity, which CLIP unescapes; not supported (write the character itself)");
    }
  }
  // ftfy: remove_terminal_escapes (\033\[((?:\d|;)*)([a-zA-Z])), then
  // remove_control_chars (0x00-0x08, 0x0B, 0x0E-0x1F, 0x7F).
  std::string s;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\033' && i + 1 < text.size() && text[i + 1] == '[') {
      std::size_t j = i + 2;
      while (j < text.size() && (is_digit(text[j]) || text[j] == ';')) ++j;
      if (j < text.size() && is_letter(text[j])) {
        i = j;
        continue;
      }
    }
    unsigned char u = static_cast<unsigned char>(text[i]);
    if (u <= 0x08 || u == 0x0B || (u >= 0x0E && u <= 0x1F) || u == 0x7F) continue;
    s += text[i];
  }
  // strip, collapse white space to one space, strip, lower-case.
  std::string out;
  bool pending_space = false;
  for (char c : s) {
    if (is_space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
  }
  return out;
}

ClipTokenizer ClipTokenizer::load(const fs::path& bpe_file) {
  std::string content = gunzip_file(bpe_file);
  ClipTokenizer t;
  t.file_ = bpe_file;
  std::vector<std::string> base;
  byte_symbols(t.byte_symbol_, base);

  // CLIP: merges = lines[1 : 48894 + 1], each split on white space.
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(kClipMerges);
  std::size_t pos = 0;
  long line_no = 0;
  while (merges.size() < kClipMerges && pos <= content.size()) {
    std::size_t end = content.find('\n', pos);
    if (end == std::string::npos) end = content.size();
    std::string line = content.substr(pos, end - pos);
    ++line_no;
    pos = end + 1;
    if (end == content.size() && line.empty()) break;  // the newline ending the file
    if (line_no == 1) {
      // CLIP skips this line unread; its file has '"bpe_simple_vocab_16e6.txt#version: 0.2'.
      if (line.find("#version") == std::string::npos)
        throw InputError(bpe_file, 1, "expected a \"#version\" header: not CLIP's BPE merges file");
      continue;
    }
    std::istringstream ss(line);
    std::string a, b, extra;
    if (!(ss >> a >> b) || (ss >> extra))
      throw InputError(bpe_file, line_no, "expected one merge \"A B\", got " + shown(line));
    merges.emplace_back(std::move(a), std::move(b));
    if (end == content.size()) break;
  }
  if (merges.size() < kClipMerges)
    throw InputError(bpe_file, "holds " + std::to_string(merges.size()) + " merges; CLIP's vocabulary needs " +
                                   std::to_string(kClipMerges) + " (a truncated file?)");

  // Vocabulary in CLIP's order; a later duplicate takes the id, as Python's
  // dict(zip(vocab, range(...))) does.
  std::vector<std::string> vocab = base;
  for (const std::string& s : base) vocab.push_back(s + "</w>");
  for (const auto& [a, b] : merges) vocab.push_back(a + b);
  vocab.push_back("<|startoftext|>");
  vocab.push_back("<|endoftext|>");
  t.decoder_ = vocab;
  t.encoder_.reserve(vocab.size());
  for (std::size_t i = 0; i < vocab.size(); ++i) t.encoder_[vocab[i]] = std::int32_t(i);
  t.ranks_.reserve(merges.size());
  for (std::size_t i = 0; i < merges.size(); ++i) t.ranks_[merges[i].first + " " + merges[i].second] = std::int32_t(i);
  return t;
}

std::vector<std::string> ClipTokenizer::bpe(const std::string& token) const {
  // Split the byte-encoded token into its symbols (UTF-8 code points); the last
  // one carries the end-of-word marker.
  std::vector<std::string> word;
  for (std::size_t i = 0; i < token.size();) {
    std::size_t len = (static_cast<unsigned char>(token[i]) & 0x80) ? 2 : 1;
    word.push_back(token.substr(i, len));
    i += len;
  }
  if (word.empty()) return word;
  word.back() += "</w>";
  while (word.size() > 1) {
    // The adjacent pair of lowest rank; all its occurrences merge left to right.
    std::int32_t best = INT32_MAX;
    std::string first, second;
    for (std::size_t i = 0; i + 1 < word.size(); ++i) {
      auto it = ranks_.find(word[i] + " " + word[i + 1]);
      if (it != ranks_.end() && it->second < best) {
        best = it->second;
        first = word[i];
        second = word[i + 1];
      }
    }
    if (best == INT32_MAX) break;
    std::vector<std::string> merged;
    merged.reserve(word.size());
    for (std::size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(word[i]);
        i += 1;
      }
    }
    word.swap(merged);
  }
  return word;
}

std::vector<std::int32_t> ClipTokenizer::encode(const std::string& text) const {
  const std::string s = clip_clean_text(text);
  std::vector<std::int32_t> ids;
  auto emit = [&](const std::string& piece) {
    std::string encoded;
    for (unsigned char c : piece) encoded += byte_symbol_[c];
    for (const std::string& symbol : bpe(encoded)) {
      auto it = encoder_.find(symbol);
      if (it == encoder_.end())
        throw InputError(file_, "symbol " + shown(symbol) + " of text " + shown(text) +
                                    " is not in the vocabulary: not CLIP's BPE merges");
      ids.push_back(it->second);
    }
  };
  static const std::string kSpecial[] = {"<|startoftext|>", "<|endoftext|>"};
  for (std::size_t i = 0; i < s.size();) {
    bool special = false;
    for (std::size_t k = 0; k < 2; ++k)
      if (s.compare(i, kSpecial[k].size(), kSpecial[k]) == 0) {
        ids.push_back(k == 0 ? kClipStartOfText : kClipEndOfText);
        i += kSpecial[k].size();
        special = true;
        break;
      }
    if (special) continue;
    char c = s[i];
    if (c == '\'') {
      static const char* kContractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
      std::size_t len = 0;
      for (const char* k : kContractions) {
        std::size_t n = std::char_traits<char>::length(k);
        if (s.compare(i, n, k) == 0) {
          len = n;
          break;
        }
      }
      if (len) {
        emit(s.substr(i, len));
        i += len;
        continue;
      }
    }
    std::size_t j = i + 1;
    if (is_letter(c)) {
      while (j < s.size() && is_letter(s[j])) ++j;
    } else if (is_digit(c)) {
      // one digit per piece: \p{N} without '+'
    } else if (is_space(c)) {
      ++i;  // no alternative matches white space
      continue;
    } else {
      while (j < s.size() && !is_letter(s[j]) && !is_digit(s[j]) && !is_space(s[j])) ++j;
    }
    emit(s.substr(i, j - i));
    i = j;
  }
  return ids;
}

std::vector<std::int32_t> ClipTokenizer::tokenize(const std::string& text, int context_length) const {
  std::vector<std::int32_t> ids = {kClipStartOfText};
  std::vector<std::int32_t> body = encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  ids.push_back(kClipEndOfText);
  if (ids.size() > std::size_t(context_length))
    throw Error("text " + shown(text) + " is " + std::to_string(ids.size()) +
                " tokens with the start and end tokens, more than CLIP's context length " +
                std::to_string(context_length));
  return ids;
}

std::string ClipTokenizer::decode(const std::vector<std::int32_t>& ids) const {
  // Symbols back to bytes: invert the byte table.
  std::unordered_map<std::string, unsigned char> to_byte;
  for (int b = 0; b < 256; ++b) to_byte[byte_symbol_[std::size_t(b)]] = static_cast<unsigned char>(b);
  std::string out;
  for (std::int32_t id : ids) {
    if (id < 0 || std::size_t(id) >= decoder_.size()) throw Error("token id " + std::to_string(id) + " is out of range");
    std::string sym = decoder_[std::size_t(id)];
    if (id == kClipStartOfText || id == kClipEndOfText) {
      out += sym;
      continue;
    }
    bool end_of_word = sym.size() >= 4 && sym.compare(sym.size() - 4, 4, "</w>") == 0;
    if (end_of_word) sym.resize(sym.size() - 4);
    for (std::size_t i = 0; i < sym.size();) {
      std::size_t len = (static_cast<unsigned char>(sym[i]) & 0x80) ? 2 : 1;
      auto it = to_byte.find(sym.substr(i, len));
      out += it == to_byte.end() ? '?' : char(it->second);
      i += len;
    }
    if (end_of_word) out += ' ';
  }
  return out;
}

}  // namespace wsss::text
