#pragma once
// CLIP's byte-pair-encoding tokenizer (openai/CLIP simple_tokenizer.py), giving
// the same token ids as the Python original for the texts it accepts.
//
//   ids = <|startoftext|> + BPE(pre-tokens(clean(text))) + <|endoftext|>
//
// - The merges come from bpe_simple_vocab_16e6.txt.gz (gzip; a first line with
//   "#version" in it, which CLIP skips, then one "a b" merge per line, of which
//   CLIP uses the first 48,894). Vocabulary: the 256 byte symbols, the same with "</w>", one
//   symbol per merge, then <|startoftext|> (49406) and <|endoftext|> (49407).
// - Cleaning. CLIP runs ftfy.fix_text, html.unescape twice, collapses white
//   space and lower-cases. This tokenizer implements that exactly for ASCII text
//   (what the stage's prompts are: ASCII templates and class names): ftfy's only
//   effects on ASCII are removing terminal escape sequences (ESC [ digits/; letter)
//   and the control characters 0x00-0x08, 0x0B, 0x0E-0x1F, 0x7F, which are
//   reproduced. Two things are refused with an error naming the text, rather than
//   tokenized differently from CLIP: any non-ASCII byte (ftfy's repairs, NFC
//   normalisation and Unicode case folding need tables this code does not carry),
//   and an '&' that would start an HTML entity for Python's html.unescape (an '&'
//   followed by '#' or by any character but white space, '<', '&', ';').
// - Pre-tokenisation is CLIP's regex
//     <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+
//   applied left to right (on ASCII: letter runs, single digits, runs of other
//   non-space characters), each piece byte-encoded and merged by rank.
#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

namespace wsss::text {

namespace fs = std::filesystem;

inline constexpr int kClipContextLength = 77;
inline constexpr std::int32_t kClipStartOfText = 49406;
inline constexpr std::int32_t kClipEndOfText = 49407;
// Merges CLIP reads from the file: 49152 - 256 - 2.
inline constexpr std::size_t kClipMerges = 48894;

class ClipTokenizer {
 public:
  // Reads the gzip merges file. InputError naming `bpe_file` when it is
  // missing, not gzip, truncated or not a merges list of at least kClipMerges.
  static ClipTokenizer load(const fs::path& bpe_file);

  // The token ids of `text` without the start and end tokens. Throws Error
  // naming the text when it is outside what this tokenizer reproduces (above).
  std::vector<std::int32_t> encode(const std::string& text) const;
  // <|startoftext|> ids <|endoftext|>, not padded. Throws Error naming the text
  // (and its token count) when that is longer than `context_length`, as
  // clip.tokenize does without truncate=True.
  std::vector<std::int32_t> tokenize(const std::string& text, int context_length = kClipContextLength) const;
  // The text of ids (byte symbols decoded, "</w>" as a space), for messages and tests.
  std::string decode(const std::vector<std::int32_t>& ids) const;

  std::size_t vocab_size() const { return decoder_.size(); }
  const fs::path& file() const { return file_; }

 private:
  std::vector<std::string> bpe(const std::string& byte_encoded) const;

  fs::path file_;
  std::unordered_map<std::string, std::int32_t> encoder_;  // symbol -> id
  std::vector<std::string> decoder_;                       // id -> symbol
  std::unordered_map<std::string, std::int32_t> ranks_;    // "a b" -> merge rank
  std::vector<std::string> byte_symbol_;                   // byte -> its symbol (UTF-8)
};

// The text CLIP tokenizes after its cleaning (see above); throws Error naming
// the text for what is refused. Exposed for tests.
std::string clip_clean_text(const std::string& text);

}  // namespace wsss::text
