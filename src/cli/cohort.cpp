#include <cstdio>

#include "cli/commands.hpp"

namespace ihc::cli {

// Placeholder until the command is implemented; fails loudly rather than pretending.
int run_cohort(const Args& /*args*/) {
  std::fprintf(stderr, "ihcscore cohort: not implemented yet\n");
  return 1;
}

}  // namespace ihc::cli
