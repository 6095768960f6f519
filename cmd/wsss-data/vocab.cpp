#include <iostream>
#include <memory>

#include "subcommands.hpp"
#include "wsss/data/vocab.hpp"

namespace wsss_data {

void add_vocab(CLI::App& app, wsss::cli::Action& action) {
  auto* sub = app.add_subcommand("vocab", "Print a built-in class vocabulary (classes.json) on stdout");
  auto name = std::make_shared<std::string>();
  sub->add_option("name", *name, "voc12, coco or synth")->required();
  wsss::cli::describe(*sub, "Prints a built-in class vocabulary as classes.json.",
                      "wsss-data vocab voc12 > classes.json", "docs/formats.md");
  sub->callback([&action, name] {
    action = [name] {
      std::cout << wsss::builtin_vocabulary(*name).to_json();
      return 0;
    };
  });
}

}  // namespace wsss_data
