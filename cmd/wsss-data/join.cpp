
#include "subcommands.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/stage/stage.hpp"
#include "wsss/data/join.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/io/atomic_file.hpp"

namespace wsss_data {

void add_join(CLI::App& app, JoinArgs& args, wsss::cli::Action& action) {
  auto* sub = app.add_subcommand("join", "Add fields of manifest B to the records of manifest A, by id");
  sub->add_option("A", args.a, "The manifest whose records are kept (\"-\" for stdin)")->required();
  auto* b = sub->add_option("B", args.b, "The manifest the fields are taken from");
  sub->add_option("--folder", args.folder,
                  "Instead of B: per-image files DIR/<id>.png or DIR/<id>.npy (e.g. saliency maps), added as the "
                  "field --take names")
      ->excludes(b);
  sub->add_option("--take", args.take, "FIELD or FIELD:NEWNAME of B to add (repeatable)")->required();
  sub->add_option("-o,--output", args.output,
                  "Output manifest; path fields are written relative to its directory")->required();
  sub->add_option("--missing", args.missing,
                  "An id of A without a record or field in B: error, skip (leave the record out) or keep "
                  "(keep it without the field)")
      ->check(CLI::IsMember({"error", "skip", "keep"}))->capture_default_str();
  wsss::cli::add_common_options(*sub, args.common, wsss::cli::kOverwrite);
  wsss::cli::describe(*sub,
                      "Adds fields of B's records to A's records with the same id, e.g. a prediction's mask "
                      "as \"pred\" next to the GT \"mask\" for wsss-miou, or with --folder the files DIR/<id>.png or .npy "
                      "(e.g. saliency maps) as one field. Records of B without a match in A "
                      "are ignored. classes.json beside A is copied beside the output when none is there.",
                      "wsss-data join exp/synth/manifest.jsonl exp/seg/manifest.jsonl --take mask:pred "
                      "-o exp/eval/pairs.jsonl\n  wsss-data join data/train.jsonl --folder sal/ --take saliency "
                      "-o data/train-sal.jsonl",
                      "wsss-miou(1), docs/evaluation.md");
  sub->callback([&action, sub, &args] {
    action = [sub, &args] {
      wsss::cli::apply_common_options(*sub, args.common);
      std::vector<wsss::JoinField> take;
      for (const auto& t : args.take) take.push_back(wsss::JoinField::parse(t));
      if (args.b.empty() && args.folder.empty()) throw wsss::UsageError("give the manifest B or --folder DIR");
      if (!args.folder.empty() && (take.size() != 1 || take[0].from != take[0].to))
        throw wsss::UsageError("--folder adds one field: give one --take FIELD (without :NEWNAME)");
      if (!args.folder.empty() && !wsss::is_path_field(take[0].to))
        throw wsss::UsageError("--take " + take[0].to + ": not a file field (e.g. saliency, mask, pseudo)");
      wsss::check_can_write(args.output, args.common.overwrite);
      wsss::Manifest a = wsss::read_manifest(args.a);
      wsss::Manifest b = args.folder.empty() ? wsss::read_manifest(args.b)
                                             : wsss::folder_as_manifest(a, args.folder, take[0].to, {".png", ".npy"});
      if (!args.folder.empty() && args.missing == "error")
        for (std::size_t i = 0; i < a.records.size(); ++i)
          if (i >= b.records.size() || wsss::record_id(b.records[i]) != wsss::record_id(a.records[i]))
            throw wsss::InputError(args.folder, "no " + wsss::record_id(a.records[i]) + ".png or " +
                                                    wsss::record_id(a.records[i]) + ".npy for item '" +
                                                    wsss::record_id(a.records[i]) + "' (use --missing skip or keep)");
      auto missing = args.missing == "skip"   ? wsss::JoinMissing::Skip
                     : args.missing == "keep" ? wsss::JoinMissing::Keep
                                               : wsss::JoinMissing::Error;
      wsss::JoinResult joined = wsss::join_manifests(a, b, take, missing);
      if (joined.records.empty()) throw wsss::Error(args.a + ": no record left after the join");
      wsss::fs::path out = args.output;
      wsss::fs::path out_dir = wsss::fs::absolute(out).parent_path();
      wsss::fs::create_directories(out_dir);
      // The vocabulary travels with the data: wsss-miou looks for it beside the manifest.
      wsss::fs::path classes_a = a.dir / wsss::kVocabularyFile, classes_out = out_dir / wsss::kVocabularyFile;
      if (wsss::fs::exists(classes_a) && !wsss::fs::exists(classes_out))
        wsss::write_file_atomic(classes_out, wsss::read_file(classes_a));
      wsss::write_manifest(out, std::move(joined.records));
      wsss::log::info("joined ", joined.joined, " record(s)", joined.skipped ? ", skipped " : "",
                      joined.skipped ? std::to_string(joined.skipped) : "", joined.kept ? ", kept unjoined " : "",
                      joined.kept ? std::to_string(joined.kept) : "", "; ", joined.unmatched_b,
                      " record(s) of B unused; wrote ", out.string());
      return 0;
    };
  });
}

}  // namespace wsss_data
