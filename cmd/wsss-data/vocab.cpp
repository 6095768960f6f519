#include <iostream>

#include "subcommands.hpp"
#include "wsss/io/vocab.hpp"

namespace wsss_data {

void add_vocab(CLI::App& app, VocabArgs& args, wsss::cli::Action& action) {
  auto* sub = app.add_subcommand("vocab", "Print a built-in class vocabulary (classes.json) on stdout");
  sub->add_option("name", args.name, "voc12, coco or synth")->required();
  wsss::cli::describe(*sub, "Prints a built-in class vocabulary as classes.json.",
                      "wsss-data vocab voc12 > classes.json", "docs/formats.md");
  sub->callback([&action, &args] {
    action = [&args] {
      std::cout << wsss::builtin_vocabulary(args.name).to_json();
      return 0;
    };
  });
}

}  // namespace wsss_data
