#include "cli/cli.h"

#include <cstdio>

namespace slipway {

int Main(int argc, char** argv) {
  (void)argc;
  (void)argv;
  std::fprintf(stderr, "slipway: not yet\n");
  return 2;
}

}  // namespace slipway
