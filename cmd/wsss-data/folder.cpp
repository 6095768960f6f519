
#include "subcommands.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/data/folder.hpp"

namespace wsss_data {

void add_folder(CLI::App& app, FolderArgs& args, wsss::cli::Action& action) {
  auto* sub = app.add_subcommand("folder", "Import a folder of images with a labels CSV");
  sub->add_option("IMAGE_DIR", args.image_dir, "Folder of images (CSV file names are relative to it)")
      ->required()->check(CLI::ExistingDirectory);
  sub->add_option("LABELS_CSV", args.csv, "file,labels[,mask] per line; header optional")
      ->required()->check(CLI::ExistingFile);
  sub->add_option("OUT_DIR", args.out_dir, "Output: manifest.jsonl, classes.json, meta.json")->required();
  wsss::cli::add_common_options(*sub, args.common, wsss::cli::kPerImage | wsss::cli::kClasses);
  wsss::cli::describe(*sub,
                      "Imports a plain folder of images. Each CSV line gives a file name (relative to IMAGE_DIR), "
                      "its labels as class names or ids (separated by ';' when the field holds one, else by "
                      "spaces) and optionally a GT mask path (relative to the CSV's folder). --classes is "
                      "required: a classes.json file or a built-in name.",
                      "wsss-data folder photos/ labels.csv exp/photos --classes voc12", "docs/data-import.md");
  sub->callback([&action, sub, &args] {
    action = [sub, &args] {
      wsss::cli::apply_common_options(*sub, args.common);
      if (args.common.classes.empty())
        throw wsss::UsageError("folder needs --classes FILE|NAME (the vocabulary the CSV's labels use)");
      wsss::Vocabulary vocabulary = wsss::vocabulary_for("", args.common.classes);
      auto summary = wsss::folder::import_folder(args.image_dir, args.csv, vocabulary,
                                                 args.common.stage_options(args.out_dir));
      wsss::log::info(wsss::summary_line(summary));
      return summary.ok ? 0 : 1;
    };
  });
}

}  // namespace wsss_data
