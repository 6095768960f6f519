// wsss-cam: class activation maps exactly as IRN's make_cam computes them.
#include "per_image.hpp"
#include "tool.hpp"
#include "wsss/cam/cam_stage.hpp"
#include "wsss/core/parse.hpp"

using namespace wsss;

namespace {

struct Args {
  cli::PerImageArgs stage;
  std::string model;
  cam::CamStageOptions options;
};

void add_cam_options(CLI::App& app, Args& a) {
  app.add_option("--model", a.model, "CAM classifier from wsss-classify train (with --recam: a ReCAM model)")
      ->required();
  app.add_flag("--recam", a.options.recam,
               "ReCAM's maps: --model is a wsss-classify recam model, CAM = relu(conv(feat, W_rec x W_cls))");
  app.add_option("--lpcam", a.options.prototypes,
                 "LPCAM's maps from these prototypes (wsss-lpcam cluster) and the classifier --model");
  app.add_option("--scales", "Comma-separated input scales (default 1.0,0.5,1.5,2.0)")
      ->each([&a](const std::string& text) { a.options.scales = parse_scales(text, "--scales"); });
  app.add_flag("!--no-flip", a.options.flip, "Skip the horizontally flipped pass");
  app.add_flag("!--no-lowres", a.options.lowres, "Skip the stride-4 maps (cam_lowres, needed by the IRN random walk)");
  app.add_flag("--float16", a.options.float16, "Store score maps as float16 (half the disk)");
  app.add_flag("--preview", a.options.preview, "Also write OUT_DIR/preview/<id>.jpg: the CAMs as heat maps over the image");
  app.add_option("--cam-classes", "Classes to map: labels, pred (pred_labels) or all (default labels)")
      ->check(CLI::IsMember({"labels", "pred", "all"}))
      ->each([&a](const std::string& text) { a.options.classes = cam::parse_cam_class_source(text); });
}

void setup(CLI::App& app, Args& a, cli::Action& action) {
  cli::add_per_image_arguments(app, a.stage, "Input manifest (needs image; labels unless --cam-classes says otherwise)",
                               cli::kDevice | cli::kClasses);
  add_cam_options(app, a);
  action = [&app, &a] {
    return cli::run_per_image(app, a.stage, [&a](const cli::PerImageInputs& in) {
      a.options.device = in.args.common.device;
      return cam::make_cam_processor(a.model, in.vocab, in.manifest.path, in.args.out_dir, a.options);
    });
  };
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_tool<Args>(
      argc, argv,
      {"wsss-cam",
       "Computes class activation maps (IRN's make_cam: multi-scale, flip, ReLU, summed over scales, each class "
       "divided by its max) and writes one .npy score map per image; --recam and --lpcam compute ReCAM's and "
       "LPCAM's maps with the same scales, flips and outputs.",
       "wsss-cam -j 8 --model exp/cls/model.safetensors exp/data/train.jsonl exp/cam",
       "wsss-classify(1), wsss-lpcam(1), wsss-miou(1) --pred cam --bg-sweep, wsss-pseudo(1), docs/cam.md, "
       "docs/recam.md, docs/lpcam.md"},
      setup);
}
