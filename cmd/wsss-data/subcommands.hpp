#pragma once
// Each wsss-data subcommand registers its options on the app and sets the
// action; its option storage is one member of Args, which run_tool owns.
#include <string>
#include <vector>

#include "tool.hpp"
#include "wsss/data/coco.hpp"
#include "wsss/data/folder.hpp"
#include "wsss/data/join.hpp"
#include "wsss/data/merge.hpp"
#include "wsss/data/check.hpp"
#include "wsss/data/synth.hpp"
#include "wsss/data/voc.hpp"
#include "wsss/pseudo/oracle_boxes.hpp"

namespace wsss_data {

struct VocabArgs {
  std::string name;
};
struct SynthArgs {
  wsss::SynthOptions synth;
  std::string out_dir, size = "128x128";
  wsss::cli::CommonOptions common;
};
struct JoinArgs {
  std::string a, b, folder, output, missing = "error";
  std::vector<std::string> take;
  wsss::cli::CommonOptions common;
};
struct CocoArgs {
  std::string instances, image_dir, out_dir;
  wsss::cli::CommonOptions common;
};
struct VocArgs {
  wsss::voc::VocImportOptions voc;
  std::string voc_dir, out_dir, sbd_list;
  wsss::cli::CommonOptions common;
};
struct FolderArgs {
  std::string image_dir, csv, out_dir;
  wsss::cli::CommonOptions common;
};
struct CheckArgs {
  std::string manifest;
  wsss::CheckOptions check;
  wsss::cli::CommonOptions common;
};
struct MergeArgs {
  std::vector<std::string> inputs;
  std::string output;
  wsss::MergeOptions merge;
  wsss::cli::CommonOptions common;
};
struct BoxesArgs {
  std::string manifest, output, category_ids = "auto";
  wsss::pseudo::OracleBoxOptions boxes;
  wsss::cli::CommonOptions common;
};
struct Args {
  VocabArgs vocab;
  SynthArgs synth;
  JoinArgs join;
  CocoArgs coco;
  VocArgs voc;
  FolderArgs folder;
  CheckArgs check;
  MergeArgs merge;
  BoxesArgs boxes;
};

void add_vocab(CLI::App& app, VocabArgs& args, wsss::cli::Action& action);
void add_synth(CLI::App& app, SynthArgs& args, wsss::cli::Action& action);
void add_join(CLI::App& app, JoinArgs& args, wsss::cli::Action& action);
void add_coco(CLI::App& app, CocoArgs& args, wsss::cli::Action& action);
void add_voc(CLI::App& app, VocArgs& args, wsss::cli::Action& action);
void add_folder(CLI::App& app, FolderArgs& args, wsss::cli::Action& action);
void add_check(CLI::App& app, CheckArgs& args, wsss::cli::Action& action);
void add_merge(CLI::App& app, MergeArgs& args, wsss::cli::Action& action);
void add_boxes(CLI::App& app, BoxesArgs& args, wsss::cli::Action& action);

}  // namespace wsss_data
