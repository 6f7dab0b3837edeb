#include "imaging/slide.hpp"

namespace ihc {

SlideError::SlideError(const std::filesystem::path& path, const std::string& reason)
    : std::runtime_error(path.string() + ": " + reason), path_(path), reason_(reason) {}

}  // namespace ihc
