#pragma once
// Each wsss-refine subcommand registers its options on the app and sets the action.
#include <string>

#include "per_image.hpp"
#include "tool.hpp"
#include "training.hpp"
#include "background.hpp"
#include "wsss/refine/crf_stage.hpp"
#include "wsss/refine/irn_stage.hpp"
#include "wsss/refine/irn_train.hpp"

namespace wsss_refine {

struct CrfArgs {
  wsss::cli::PerImageArgs stage;
  wsss::cli::BackgroundOptions background;
  wsss::refine::CrfStageOptions options;
};
struct IrnTrainArgs {
  wsss::cli::TrainArgs run;
  wsss::refine::IrnTrainOptions options;
};
struct IrnArgs {
  wsss::cli::PerImageArgs stage;
  std::string model;
  wsss::refine::IrnStageOptions options;
};
struct Args {
  CrfArgs crf;
  IrnTrainArgs irn_train;
  IrnArgs irn;
};

void add_crf(CLI::App& app, CrfArgs& args, wsss::cli::Action& action);
void add_irn_train(CLI::App& app, IrnTrainArgs& args, wsss::cli::Action& action);
void add_irn(CLI::App& app, IrnArgs& args, wsss::cli::Action& action);

}  // namespace wsss_refine
