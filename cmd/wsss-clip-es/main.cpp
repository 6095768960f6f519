// wsss-clip-es: training-free class maps from CLIP (CLIP-ES), or CLIP's labels
// for unlabelled images; the computation lives in lib/src/cam/clip_es*.cpp.
#include "per_image.hpp"
#include "tool.hpp"
#include "wsss/cam/clip_es_stage.hpp"

using namespace wsss;

namespace {

struct Args {
  cli::PerImageArgs stage;
  cam::ClipEsStageOptions options;
};

void setup(CLI::App& app, Args& a, cli::Action& action) {
  cli::add_per_image_arguments(app, a.stage, "Input manifest (needs image; labels in cams mode)",
                               cli::kDevice | cli::kClasses);
  auto& o = a.options;
  app.add_option("--model", o.model, "OpenAI's CLIP file (ViT-B-16.pt) or safetensors with its tensor names")
      ->required();
  app.add_option("--bpe", o.bpe, "CLIP's bpe_simple_vocab_16e6.txt.gz (default: beside the model)");
  app.add_option("--prompts", o.prompts, "CLIP-ES prompt table (default: data_manifests/<vocabulary>/clip_es.json)");
  app.add_option("--mode", "cams (score maps of the labels) or tags (labels from CLIP) (default cams)")
      ->check(CLI::IsMember({"cams", "tags"}))
      ->each([&o](const std::string& text) { o.mode = text == "tags" ? cam::ClipEsMode::Tags : cam::ClipEsMode::Cams; });
  app.add_option("--box-threshold", o.box_threshold,
                 "Fraction of the CAM's max bounding the refinement (default: the prompt table's, 0.4 VOC, 0.7 COCO)")
      ->check(cli::range(0, 1));
  app.add_option("--tag-threshold", o.tags.threshold,
                 "tags: a class is found when softmax([class, background]) gives it at least this (default 0.5)")
      ->check(cli::range(0, 1));
  app.add_flag("!--allow-no-tags", o.tags.at_least_one,
               "tags: leave an image without labels when no class passes (default: its best class)");
  app.add_flag("--float16", o.float16, "Store score maps as float16 (as the reference saves them)");
  action = [&app, &a] {
    return cli::run_per_image(app, a.stage, [&a](const cli::PerImageInputs& in) {
      a.options.device = in.args.common.device;
      return cam::make_clip_es_processor(in.vocab, in.manifest.path, in.args.out_dir, a.options);
    });
  };
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_tool<Args>(
      argc, argv,
      {"wsss-clip-es",
       "CLIP-ES (CVPR'23) with OpenAI's CLIP ViT-B/16: per image, GradCAM of CLIP's softmax over the image's classes "
       "and the class-related background names, refined by the attention affinity of the last 8 blocks; one .npy "
       "score map per image (cam, cam_classes). --mode tags instead writes the classes CLIP finds as the record's "
       "labels.",
       "wsss-clip-es -j 2 --model ViT-B-16.pt exp/data/train.jsonl exp/clip_es",
       "wsss-miou(1) --pred cam --bg-power 1, wsss-refine(1) crf, wsss-sam(1), docs/clip-es.md"},
      setup);
}
