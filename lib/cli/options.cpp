#include "options.hpp"

#include "validators.hpp"
#include <opencv2/core/utility.hpp>

#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/parallel.hpp"

namespace wsss::cli {

int CommonOptions::resolved_threads() const { return threads > 0 ? threads : hardware_threads(); }

StageOptions CommonOptions::stage_options(const std::string& out_dir) const {
  if (overwrite && skip_existing) throw UsageError("--overwrite and --skip-existing exclude each other");
  StageOptions s;
  s.out_dir = out_dir;
  s.shard = Shard::parse(shard);
  s.overwrite = overwrite;
  s.skip_existing = skip_existing;
  s.threads = resolved_threads();
  s.max_failed = max_failed;
  s.allow_empty = allow_empty;
  s.seed = seed;
  s.provenance = provenance;
  return s;
}

void add_common_options(CLI::App& app, CommonOptions& o, unsigned groups) {
  app.add_option("-j,--threads", o.threads, "Worker threads (0 = all cores)")->capture_default_str()
      ->check(at_least(0))->group("Common");
  app.add_flag("-q,--quiet", o.quiet, "Only warnings and errors on stderr")->group("Common");
  app.add_flag("-v,--verbose", o.verbose, "More detail on stderr (repeat for more)")->group("Common");
  if (groups & kPerImage) {
    app.add_option("--shard", o.shard,
                   "Process block J of N of the sorted ids (1-based), or auto: the shard of this Slurm array task")
        ->capture_default_str()->group("Common");
    app.add_flag("--overwrite", o.overwrite, "Replace existing outputs")->group("Common");
    app.add_flag("--skip-existing", o.skip_existing, "Keep finished items and resume an interrupted run")
        ->group("Common");
    app.add_option("--max-failed", o.max_failed, "Items allowed to fail before the run fails")
        ->capture_default_str()->check(at_least(0))->group("Common");
    app.add_flag("--allow-empty", o.allow_empty, "Accept an empty input manifest")->group("Common");
  } else if (groups & kOverwrite) {
    app.add_flag("--overwrite", o.overwrite, "Replace existing outputs")->group("Common");
  }
  if (groups & kSeed)
    app.add_option("--seed", o.seed, "Random seed")->capture_default_str()->group("Common");
  if (groups & kDevice)
    app.add_option("--device", o.device, "cpu, cuda, cuda:K or auto (cuda when available)")
        ->capture_default_str()->group("Common");
  if (groups & kClasses)
    app.add_option("--classes", o.classes,
                   "Class vocabulary: a classes.json file, a classes.txt list (one name per line, background "
                   "first) or a built-in name (voc12, coco, synth); "
                   "default: classes.json beside the input manifest")->group("Common");
}

static void collect_options(const CLI::App& app, nlohmann::ordered_json& out) {
  for (const CLI::Option* opt : app.get_options()) {
    std::string name = opt->get_name(false, false);
    if (name == "--help" || name == "--help-all" || name == "--version" || name.empty()) continue;
    while (!name.empty() && name[0] == '-') name.erase(0, 1);
    auto results = opt->results();
    if (!results.empty()) {
      out[name] = results.size() == 1 ? nlohmann::ordered_json(results[0]) : nlohmann::ordered_json(results);
    } else if (!opt->get_default_str().empty()) {
      out[name] = opt->get_default_str();
    }
  }
  for (const CLI::App* sub : app.get_subcommands())
    collect_options(*sub, out[sub->get_name()] = nlohmann::ordered_json::object());
}

void apply_common_options(const CLI::App& app, CommonOptions& o) {
  if (o.quiet) log::set_level(log::Level::Warn);
  else if (o.verbose > 0) log::set_level(log::Level::Debug);
  // Our workers parallelise over items; OpenCV's own pool would oversubscribe.
  cv::setNumThreads(1);
  const CLI::App* root = &app;
  while (root->get_parent()) root = root->get_parent();
  o.provenance.program = root->get_name();
  o.provenance.argv = command_line();
  o.provenance.options = nlohmann::ordered_json::object();
  collect_options(*root, o.provenance.options);
}

}  // namespace wsss::cli
