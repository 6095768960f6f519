// wsss-report: the experiment report, one self-contained HTML file.
#include "tool.hpp"
#include "wsss/core/log.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/report/report.hpp"
#include "wsss/stage/stage.hpp"

using namespace wsss;

namespace {

struct Args {
  std::string dir, out;
  report::ReportOptions options;
  cli::CommonOptions common;
};

void setup(CLI::App& app, Args& a, cli::Action& action) {
  app.add_option("EXP_DIR", a.dir, "Experiment directory (results.json and the stages' outputs)")->required();
  app.add_option("-o,--out", a.out, "Output file (default EXP_DIR/report.html)");
  app.add_option("--sample", a.options.sample, "Images in each sample grid (train and val)")
      ->capture_default_str()->check(CLI::Range(0, 1000));
  app.add_option("--panel", a.options.panel, "Longer side of each grid picture in pixels")
      ->capture_default_str()->check(CLI::Range(16, 1024));
  cli::add_common_options(app, a.common, cli::kOverwrite | cli::kSeed);
  action = [&app, &a] {
    cli::apply_common_options(app, a.common);
    const fs::path out = a.out.empty() ? report::report_file(a.dir) : fs::path(a.out);
    check_can_write(out, a.common.overwrite);
    a.options.seed = a.common.seed;
    a.options.threads = a.common.resolved_threads();
    const std::string html = report::build_report(report::read_experiment(a.dir), a.options);
    write_file_atomic(out, html);
    log::info("wrote ", out.string(), " (", (html.size() + 512) / 1024, " KiB)");
    return 0;
  };
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_tool<Args>(
      argc, argv,
      {"wsss-report",
       "Writes an experiment's report: one self-contained HTML file (no script, no external file, nothing loaded "
       "from the network) with the Table-1 table, per-class IoU bar charts (the survey's Table-2 groups for VOC's "
       "classes), each row's confusion matrices, the background-threshold sweeps, sample grids of training "
       "(image, CAM, each row's pseudo mask, GT) and validation images (each row's prediction, GT), the training "
       "curves from the trainers' train_log.jsonl, the stage times and the configuration. Rows come from "
       "EXP_DIR/results.json; docs/viz.md lists the files read and the keys that override their paths.",
       "wsss-report --overwrite exp/demo",
       "wsss-viz(1), wsss-miou(1), docs/viz.md, docs/experiment.md"},
      setup);
}
