
#include "subcommands.hpp"
#include "wsss/core/log.hpp"
#include "wsss/data/voc.hpp"

namespace wsss_data {

void add_voc(CLI::App& app, VocArgs& args, wsss::cli::Action& action) {
  auto* sub = app.add_subcommand("voc", "Import a PASCAL VOC 2012 split (VOCdevkit layout)");
  sub->add_option("VOCDIR", args.voc_dir, "The VOC2012 folder (JPEGImages/, Annotations/, ImageSets/, ...)")
      ->required()->check(CLI::ExistingDirectory);
  sub->add_option("OUT_DIR", args.out_dir, "Output: manifest.jsonl, classes.json, meta.json")->required();
  sub->add_option("--split", args.voc.split,
                  "train, val, trainval, train_aug, or any list name in ImageSets/Segmentation/")
      ->capture_default_str();
  sub->add_option("--labels-from", args.voc.labels_from, "Image labels from the XML objects or the GT mask")
      ->check(CLI::IsMember({"xml", "mask"}))->capture_default_str();
  sub->add_option("--gt", args.voc.gt,
                  "GT folder: SegmentationClass or SegmentationClassAug (default: SegmentationClassAug for "
                  "train_aug, else SegmentationClass)")
      ->check(CLI::IsMember({"SegmentationClass", "SegmentationClassAug"}));
  sub->add_option("--sbd-list", args.sbd_list,
                  "The train_aug list (default ImageSets/SegmentationAug/train_aug.txt)")->check(CLI::ExistingFile);
  wsss::cli::add_common_options(*sub, args.common, wsss::cli::kPerImage | wsss::cli::kClasses);
  wsss::cli::describe(*sub,
                      "Imports a PASCAL VOC 2012 split, or any set in VOC's layout. Labels are the de-duplicated "
                      "<object><name> entries of Annotations/<id>.xml, difficult objects included (or the GT "
                      "mask's values with --labels-from mask). The names are VOC's 20 unless --classes gives the "
                      "set's own vocabulary: a classes.json, or a classes.txt with one name per line, background "
                      "first; classes.json is written from it. Records point at the existing GT PNGs; images "
                      "without one get no \"mask\" field.",
                      "wsss-data voc /data/VOCdevkit/VOC2012 exp/voc_train_aug --split train_aug\n"
                      "  wsss-data voc --classes mydata/classes.txt mydata exp/mydata_train",
                      "docs/data-import.md");
  sub->callback([&action, sub, &args] {
    action = [sub, &args] {
      wsss::cli::apply_common_options(*sub, args.common);
      args.voc.voc_dir = args.voc_dir;
      args.voc.sbd_list = args.sbd_list;
      if (!args.common.classes.empty()) args.voc.vocabulary = wsss::vocabulary_for("", args.common.classes);
      auto summary = wsss::voc::import_voc(args.voc, args.common.stage_options(args.out_dir));
      wsss::log::info(wsss::summary_line(summary));
      return summary.ok ? 0 : 1;
    };
  });
}

}  // namespace wsss_data
