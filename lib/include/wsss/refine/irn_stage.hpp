#pragma once
// IRN's semantic random walk as a per-image stage (step/make_sem_seg_labels.py):
// the edge network's boundary map, IRN's transition matrix and the walk
// (random_walk.hpp). docs/refinement.md ("IRN: irn").
#include <filesystem>
#include <memory>
#include <string>

#include "wsss/io/vocab.hpp"
#include "wsss/refine/random_walk.hpp"
#include "wsss/stage/stage.hpp"

namespace wsss::refine {

namespace fs = std::filesystem;

struct IrnStageOptions {
  RandomWalkParams walk;    // radius 5, beta 10, exp_times 8
  double cam_power = 1.0;   // the stride-4 maps are raised to this power first (AMN's make_sem_seg: 1.3)
  bool edges = false;       // also write OUT/edge/<id>.png
  int walk_threads = 1;
  std::string device = "cpu";
};

// How the -j threads are used: at most two workers (one decodes and walks while
// the other runs the network), the walk's sparse products on threads / workers
// threads each; and glibc's mmap threshold fixed at 1 MiB so that freed
// activations return to the kernel (docs/refinement.md). Adjusts `stage` and
// `options` for `threads` in all.
void plan_irn_threads(int threads, StageOptions& stage, IrnStageOptions& options);

// make_sem_seg_labels per image without the background decision: writes
// OUT/refined/<id>.npy ([k, H, W] float32, divided by the global max) and adds
// "refined" and "refined_classes" (and "edge"). Records need "image", "cam_lowres"
// and "cam_classes". The walk propagates the class channels only: a leading
// background channel (class 0, AMN's maps) is dropped, as AMN's make_sem_seg
// drops it (cams[1:]).
std::unique_ptr<ItemProcessor> make_irn_processor(const fs::path& model, const Vocabulary& vocab,
                                                  const fs::path& manifest, const fs::path& out_dir,
                                                  const IrnStageOptions& options);

}  // namespace wsss::refine
