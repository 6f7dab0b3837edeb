#pragma once
// One command-line rule of both programs (ihcscore and ihcview), kept in a header so the viewer, which does
// not link the ihcscore commands, shares it.
#include <CLI/CLI.hpp>

namespace ihc::cli {

// `-o "$OUT"` with OUT unset: CLI11 takes "" as given, and score wrote its tables into the current folder;
// --roi "" and --params "" ran without them, and ihcview --results "" looked for no results. Throws
// CLI::ValidationError naming the option; call it after CLI::App::parse.
inline void refuse_empty_values(const CLI::App& app) {
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_type_size() == 0 || opt->count() == 0) continue;  // flags, options not given
    for (const auto& value : opt->results()) {
      if (value.empty()) throw CLI::ValidationError(opt->get_name(), "an empty value (an unset variable?)");
    }
  }
}

}  // namespace ihc::cli
