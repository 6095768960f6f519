// The Catch2 main of the LibTorch unit tests, in a file of its own so that it
// compiles once. Debian's LibTorch starts with one intra-op thread.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "wsss/models/threads.hpp"

int main(int argc, char** argv) {
  wsss::models::set_torch_threads(0);
  return Catch::Session().run(argc, argv);
}
