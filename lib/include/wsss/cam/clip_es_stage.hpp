#pragma once
// The CLIP-ES per-image stage (wsss-clip-es, docs/clip-es.md): one model,
// tokenizer and set of prompt embeddings per run, then per image either
//   cams: the CAA-refined maps of the record's labels -> cam/<id>.npy with the
//         fields cam, cam_classes (the format of wsss-cam's maps), or
//   tags: the classes CLIP finds (cam::clip_tags) -> the record's labels
//         (the old ones kept as labels_gt) and clip_scores (p_c of ids 1..K).
#include <filesystem>
#include <memory>
#include <string>

#include "wsss/cam/clip_es.hpp"
#include "wsss/stage/stage.hpp"
#include "wsss/io/vocab.hpp"

namespace wsss::cam {

namespace fs = std::filesystem;

enum class ClipEsMode { Cams, Tags };

struct ClipEsStageOptions {
  fs::path model;    // OpenAI's ViT-B-16.pt (TorchScript) or safetensors with its names
  fs::path bpe;      // empty: bpe_simple_vocab_16e6.txt.gz beside the model
  fs::path prompts;  // empty: data_manifests/<vocabulary>/clip_es.json
  double box_threshold = -1;  // < 0: the prompts file's (0.4 VOC, 0.7 COCO)
  int affinity_blocks = 8;
  ClipEsMode mode = ClipEsMode::Cams;
  ClipTagOptions tags;
  bool float16 = false;
  std::string device = "cpu";
};

// The BPE file to use: `bpe` when given, else bpe_simple_vocab_16e6.txt.gz in
// the model's directory; InputError naming what was looked for otherwise.
fs::path resolve_clip_bpe(const fs::path& model, const fs::path& bpe);

std::unique_ptr<ItemProcessor> make_clip_es_processor(const Vocabulary& vocab, const fs::path& manifest,
                                                      const fs::path& out_dir, const ClipEsStageOptions& options);

}  // namespace wsss::cam
