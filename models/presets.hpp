#pragma once
// Built-in parameter presets: parameter files (detection + scoring keys) embedded from presets/*.params at
// build time. A user copies one, edits it and loads it back as a parameter file.
#include <string>
#include <vector>

#include "models/parameters.hpp"

namespace ihc {

std::vector<std::string> preset_names();  // "dsg2" (the default), "ki67"
std::string default_preset_name();        // "dsg2"
// The preset's file text; throws ParamError "unknown preset 'x' (known: dsg2, ki67)".
std::string preset_text(const std::string& name);
// Loads the preset into `params` (whose specs must declare every key of the preset); errors name
// "<name>.params:<line>".
void apply_preset(ParamSet& params, const std::string& name);

}  // namespace ihc
