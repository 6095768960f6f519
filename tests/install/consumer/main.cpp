// Uses the installed library as an embedding program would: its own progress
// handler (none printed by the library unless installed), explicit provenance,
// a manifest read and a per-image stage run.
#include <cstdio>
#include <iostream>

#include "wsss/core/progress.hpp"
#include "wsss/io/manifest.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/scores/score_map.hpp"
#include "wsss/stage/stage.hpp"

namespace {

struct CountPixels : wsss::ItemProcessor {
  std::vector<wsss::fs::path> outputs(const wsss::Record&) const override { return {}; }
  std::vector<std::string> fields() const override { return {"pixels"}; }
  wsss::Record process(const wsss::Record& r, std::uint64_t) override {
    wsss::Mask mask = wsss::read_mask(wsss::record_path(r, "mask", "in"));
    wsss::Record out;
    out["pixels"] = mask.width * mask.height;
    return out;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: consumer MANIFEST OUT_DIR\n");
    return 2;
  }
  std::size_t updates = 0;
  wsss::ProgressHandler handler;
  handler.interval_seconds = 0;
  handler.show = [&updates](const wsss::ProgressUpdate&) { ++updates; };
  wsss::set_progress_handler(handler);
  wsss::Manifest manifest = wsss::read_manifest(argv[1]);
  wsss::StageOptions options;
  options.out_dir = argv[2];
  options.provenance.program = "consumer";
  options.provenance.argv = {argv[0], argv[1], argv[2]};
  CountPixels counter;
  wsss::Vocabulary vocab = wsss::builtin_vocabulary("synth");
  wsss::StageSummary summary = wsss::run_stage(counter, manifest, options, &vocab);
  std::cout << "records " << manifest.records.size() << " done " << summary.done << " progress-updates " << updates
            << "\n";
  return summary.ok ? 0 : 1;
}
