#pragma once
// Sub-commands of ihcscore; each lives in its own file under src/cli/ and returns the exit status
// (0 ok, 1 usage error, 2 some inputs failed).
#include <string>
#include <vector>

namespace ihc::cli {

using Args = std::vector<std::string>;  // arguments after the sub-command name

int run_info(const Args& args);      // info.cpp
int run_stains(const Args& args);    // stains.cpp
int run_synth(const Args& args);     // synth.cpp
int run_score(const Args& args);     // score.cpp
int run_params(const Args& args);    // params.cpp
int run_evaluate(const Args& args);  // evaluate.cpp
int run_cohort(const Args& args);    // cohort.cpp
int run_reviewed(const Args& args);  // reviewed.cpp

}  // namespace ihc::cli
