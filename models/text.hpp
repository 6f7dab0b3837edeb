#pragma once
// Small text helpers shared by readers of names typed by people (file extensions, class names, flags).
#include <string>

namespace ihc {

// `s` with A-Z turned to a-z; other bytes (UTF-8 included) unchanged, whatever the C locale.
std::string ascii_lower(std::string s);

}  // namespace ihc
