// wsss-lpcam: LPCAM's local prototypes (clustering of the CAM classifier's
// features); the maps themselves are wsss-cam --lpcam.
#include <chrono>

#include "tool.hpp"
#include "wsss/cam/lpcam.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/parse.hpp"
#include "wsss/core/progress.hpp"

using namespace wsss;

namespace {

struct ClusterArgs {
  std::string manifest, out_dir, model;
  cli::CommonOptions common;
  cam::ClusterOptions options;
};
struct Args {
  ClusterArgs cluster;
};

void add_cluster(CLI::App& app, ClusterArgs& a, cli::Action& action) {
  auto* c = app.add_subcommand("cluster", "Cluster the classifier's features into class and context prototypes");
  cli::describe(*c, "LPCAM's clustering (zhaozhengChen/LPCAM, make_lpcam.py): for each class, the layer-4 feature "
                    "positions (scale 1, no flip) of the images carrying it are split by their CAM into foreground "
                    "(> --cam-threshold) and context; k-means with cosine distance on each set; foreground centres "
                    "the classifier scores above --class-prob become class prototypes, context centres within "
                    "--context-prob context prototypes. Writes OUT_DIR/prototypes.safetensors (last), classes.json "
                    "and meta.json. Defaults are LPCAM's (docs/lpcam.md).",
                "wsss-lpcam cluster -j 8 --model exp/cls/model.safetensors exp/cam/manifest.jsonl exp/lpcam-proto",
                "wsss-cam(1) --lpcam, docs/lpcam.md");
  auto& o = a.options;
  c->add_option("manifest", a.manifest, "Training manifest with image, labels and CAMs (wsss-cam's output)")
      ->required();
  c->add_option("out_dir", a.out_dir, "Output directory")->required();
  c->add_option("--model", a.model, "The CAM classifier whose CAMs the manifest holds (wsss-classify train)")
      ->required();
  c->add_option("--clusters", o.kmeans.clusters, "K-means centres per class and set (LPCAM: 12)")
      ->capture_default_str()->check(cli::at_least(1));
  c->add_option("--cam-threshold", o.cam_threshold, "CAM above: foreground, below: context (LPCAM: 0.1)")
      ->capture_default_str()->check(cli::range(0, 1));
  c->add_option("--class-prob", o.class_prob,
                "Keep a foreground centre when softmax(centre . W)[class] is above this (LPCAM: 0.9)")
      ->capture_default_str()->check(cli::range(0, 1));
  c->add_option("--context-prob", "Keep a context centre when its probability is within LO:HI (LPCAM: 0.05:0.9)")
      ->each([&o](const std::string& text) {
        auto [lo, hi] = parse_interval(text, "--context-prob");
        o.context_low = lo;
        o.context_high = hi;
      });
  c->add_option("--tol", o.kmeans.tol,
                "Stop k-means when (sum of the centres' shifts)^2 is below this (kmeans_pytorch's rule; LPCAM: 5)")
      ->capture_default_str()->check(cli::at_least(0));
  c->add_option("--max-iter", o.kmeans.max_iter, "At most this many k-means iterations (the reference has no cap)")
      ->capture_default_str()->check(cli::at_least(1));
  c->add_option("--max-points", o.max_points,
                "Cluster a seeded sample of at most this many feature positions per class and set (0 = all; "
                "memory: 2 x classes x this x channels x 4 bytes)")
      ->capture_default_str()->check(cli::at_least(0));
  c->add_option("--cam-field", o.cam_field, "The manifest's score-map field to split the features with")
      ->capture_default_str();
  cli::add_common_options(*c, a.common, cli::kOverwrite | cli::kSeed | cli::kDevice | cli::kClasses);
  c->callback([&action, c, &a] {
    action = [c, &a] {
      const auto start = std::chrono::steady_clock::now();
      cli::apply_common_options(*c, a.common);
      a.options.seed = a.common.seed;
      a.options.device = a.common.device;
      a.options.overwrite = a.common.overwrite;
      a.options.threads = a.common.resolved_threads();
      a.options.provenance = a.common.provenance;
      a.options.validate();
      Manifest manifest = read_manifest(a.manifest);
      Vocabulary vocab = vocabulary_for(manifest.dir, a.common.classes);
      cam::cluster_prototypes(manifest, vocab, a.model, a.out_dir, a.options);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      log::info("wrote ", cam::prototypes_file(a.out_dir).string(), "; done 1, skipped 0, failed 0 of 1 in ",
                format_duration(seconds));
      return 0;
    };
  });
}

void setup(CLI::App& app, Args& args, cli::Action& action) {
  app.require_subcommand(1);
  add_cluster(app, args.cluster, action);
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_tool<Args>(argc, argv,
                             {"wsss-lpcam",
                              "LPCAM (Chen & Sun, CVPR 2023): clusters the CAM classifier's features into class and "
                              "context prototypes; wsss-cam --lpcam turns them into class maps.",
                              "wsss-lpcam cluster --model exp/cls/model.safetensors exp/cam/manifest.jsonl exp/proto",
                              "wsss-cam(1) --lpcam, docs/lpcam.md"},
                             setup);
}
