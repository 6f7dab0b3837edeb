#include <cstdio>

#include "cli/commands.hpp"

namespace ihc::cli {

// Placeholder until the command is implemented; fails loudly rather than pretending.
int run_score(const Args& /*args*/) {
  std::fprintf(stderr, "ihcscore score: not implemented yet\n");
  return 1;
}

}  // namespace ihc::cli
