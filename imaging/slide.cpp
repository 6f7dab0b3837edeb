#include "imaging/slide.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <system_error>

#include "imaging/slide_image.hpp"
#include "imaging/slide_jpeg_tiles.hpp"
#include "imaging/slide_openslide.hpp"
#include "models/text.hpp"

namespace ihc {

SlideError::SlideError(const std::filesystem::path& path, const std::string& reason)
    : std::runtime_error(path.string() + ": " + reason), path_(path), reason_(reason) {}

// ---------------------------------------------------------------------------------------------------------
// Slide defaults

cv::Mat Slide::associated_image(const std::string& name) {
  std::string have;
  for (const auto& n : info_.associated_images) have += (have.empty() ? "" : ", ") + n;
  throw SlideError(info_.path,
                   "no associated image \"" + name + "\" (" +
                       (have.empty() ? std::string("this file has none") : "this file has: " + have) + ")");
}

int Slide::best_level_for_downsample(double downsample) const {
  const auto& ds = info_.downsamples;
  if (ds.empty() || downsample < ds[0]) return 0;
  for (std::size_t i = 1; i < ds.size(); ++i) {
    if (downsample < ds[i]) return static_cast<int>(i) - 1;
  }
  return static_cast<int>(ds.size()) - 1;
}

void Slide::check_region(int level, int w, int h) const {
  if (level < 0 || level >= info_.level_count()) {
    throw SlideError(info_.path, "level " + std::to_string(level) + " does not exist (levels 0.." +
                                     std::to_string(info_.level_count() - 1) + ")");
  }
  if (w <= 0 || h <= 0) {
    throw SlideError(info_.path, "invalid region size " + std::to_string(w) + " x " + std::to_string(h) +
                                     " (must be positive)");
  }
  if (static_cast<std::int64_t>(w) * h > kMaxRegionPixels) {
    throw SlideError(info_.path, "region " + std::to_string(w) + " x " + std::to_string(h) +
                                     " is larger than the " + std::to_string(kMaxRegionPixels) +
                                     "-pixel limit of one read; read it in tiles");
  }
}

cv::Mat Slide::read_level(int level, std::int64_t max_pixels) {
  check_region(level, 1, 1);
  const cv::Size size = info_.level_sizes[level];
  if (static_cast<std::int64_t>(size.width) * size.height > max_pixels) {
    throw SlideError(info_.path, "level " + std::to_string(level) + " is " + std::to_string(size.width) +
                                     " x " + std::to_string(size.height) + " pixels, more than the " +
                                     std::to_string(max_pixels) +
                                     "-pixel limit of a whole-level read; use a "
                                     "smaller level (best_level_for_downsample)");
  }
  return read_region(0, 0, level, size.width, size.height);
}

// ---------------------------------------------------------------------------------------------------------
// Microns per pixel

namespace {

bool parse_double(const std::map<std::string, std::string>& props, const std::string& key, double* value) {
  auto it = props.find(key);
  if (it == props.end()) return false;
  std::string text = it->second;
  // Some vendors quote numbers (philips.DICOM_PIXEL_SPACING is "\"0.000243 0.000243\"").
  text.erase(std::remove(text.begin(), text.end(), '"'), text.end());
  const char* begin = text.c_str();
  char* end = nullptr;
  const double v = std::strtod(begin, &end);
  if (end == begin || !std::isfinite(v)) return false;
  *value = v;
  return true;
}

std::string format_number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

// Micrometres per unit of length named by an OME unit symbol; 0 when unknown.
double microns_per_unit(const std::string& unit) {
  if (unit.empty() || unit == "µm" || unit == "um" || unit == "micron" || unit == "\xC2\xB5m") return 1.0;
  if (unit == "nm") return 1e-3;
  if (unit == "mm") return 1e3;
  if (unit == "cm") return 1e4;
  if (unit == "m") return 1e6;
  return 0.0;
}

bool plausible(double mpp) { return mpp >= kMinPlausibleMpp && mpp <= kMaxPlausibleMpp; }

}  // namespace

std::string mpp_problem(double mpp, const std::string& as_written) {
  if (plausible(mpp)) return {};
  return (as_written.empty() ? format_number(mpp) : as_written) +
         " um/px is not a microscope's pixel size (" + format_number(kMinPlausibleMpp) + " to " +
         format_number(kMaxPlausibleMpp) + "; 0.25 at 40x, 0.5 at 20x)";
}

namespace {

struct MppCandidate {
  double x = 0, y = 0;
  std::string source;
};

// Resolution from a "pixels per unit" pair (TIFF/PNG/JPEG tags): microns per pixel = microns per unit /
// value.
bool density_candidate(const std::map<std::string, std::string>& props, const std::string& key_x,
                       const std::string& key_y, const std::string& key_unit, const std::string& label,
                       MppCandidate* out, std::vector<std::string>* warnings) {
  double rx = 0, ry = 0;
  if (!parse_double(props, key_x, &rx) || rx <= 0) return false;
  if (!parse_double(props, key_y, &ry) || ry <= 0) ry = rx;
  auto unit_it = props.find(key_unit);
  const std::string unit = unit_it == props.end() ? "" : unit_it->second;
  double microns = 0;
  std::string per;
  if (unit == "centimeter") {
    microns = 1e4, per = "px/cm";
  } else if (unit == "inch") {
    microns = 25400, per = "px/inch";
  } else if (unit == "meter") {
    microns = 1e6, per = "px/m";
  } else {
    return false;  // no absolute unit: only an aspect ratio
  }
  MppCandidate c{microns / rx, microns / ry, label + " (" + per + ")"};
  if (!plausible(c.x) || !plausible(c.y)) {
    warnings->push_back(label + " " + format_number(rx) + " " + per + " gives " + format_number(c.x) +
                        " um/px, not a microscope scale (a print/screen dpi default): ignored");
    return false;
  }
  *out = c;
  return true;
}

}  // namespace

void resolve_resolution(SlideInfo& info, const OpenOptions& options) {
  const auto& p = info.properties;
  MppCandidate found;
  bool have = false;

  auto take_pair = [&](const std::string& kx, const std::string& ky, double scale,
                       const std::string& source) {
    double x = 0, y = 0;
    if (have || !parse_double(p, kx, &x) || x <= 0) return;
    if (ky.empty() || !parse_double(p, ky, &y) || y <= 0) y = x;
    found = {x * scale, y * scale, source};
    have = true;
  };
  // Order: OpenSlide's own value, then vendor keys OpenSlide 3.4 may not map, then generic tags.
  take_pair("openslide.mpp-x", "openslide.mpp-y", 1.0, "openslide.mpp-x");
  take_pair("aperio.MPP", "", 1.0, "aperio.MPP");
  take_pair("mirax.LAYER_0_LEVEL_0_SECTION.MICROMETER_PER_PIXEL_X",
            "mirax.LAYER_0_LEVEL_0_SECTION.MICROMETER_PER_PIXEL_Y", 1.0,
            "mirax.LAYER_0_LEVEL_0_SECTION.MICROMETER_PER_PIXEL_X");
  take_pair("ventana.ScanRes", "", 1.0, "ventana.ScanRes");
  take_pair("philips.DICOM_PIXEL_SPACING", "", 1000.0, "philips.DICOM_PIXEL_SPACING");
  if (!have && p.count("ome.PhysicalSizeX")) {
    const auto ux = p.count("ome.PhysicalSizeXUnit") ? p.at("ome.PhysicalSizeXUnit") : std::string();
    const auto uy = p.count("ome.PhysicalSizeYUnit") ? p.at("ome.PhysicalSizeYUnit") : ux;
    const double sx = microns_per_unit(ux), sy = microns_per_unit(uy);
    double x = 0, y = 0;
    if (sx > 0 && parse_double(p, "ome.PhysicalSizeX", &x) && x > 0) {
      double y_um = x * sx;  // square pixels unless the file says otherwise
      if (sy > 0 && parse_double(p, "ome.PhysicalSizeY", &y) && y > 0) y_um = y * sy;
      found = {x * sx, y_um, "ome.PhysicalSizeX"};
      have = true;
    } else if (sx <= 0) {
      info.warnings.push_back("ome.PhysicalSizeXUnit \"" + ux + "\" is not a length unit: ignored");
    }
  }
  if (!have) {
    have = density_candidate(p, "tiff.XResolution", "tiff.YResolution", "tiff.ResolutionUnit",
                             "tiff.XResolution", &found, &info.warnings) ||
           density_candidate(p, "png.pHYs.x", "png.pHYs.y", "png.pHYs.unit", "png.pHYs", &found,
                             &info.warnings) ||
           density_candidate(p, "jpeg.density-x", "jpeg.density-y", "jpeg.density-unit", "jpeg.JFIF density",
                             &found, &info.warnings);
  }

  if (have) {
    info.mpp_x = found.x;
    info.mpp_y = found.y;
    info.mpp_source = found.source;
    // Detection resamples by the x size alone: say so when the pixels are not square (areas use both).
    if (std::abs(found.y - found.x) > 0.01 * found.x) {
      info.warnings.push_back("pixels are not square (" + format_number(found.x) + " x " +
                              format_number(found.y) + " um): cells are detected as if they were " +
                              format_number(found.x) + " um square");
    }
    if (options.mpp_override > 0 && std::abs(options.mpp_override - found.x) > 0.01 * found.x) {
      info.warnings.push_back("--mpp " + format_number(options.mpp_override) + " ignored: the file states " +
                              format_number(found.x) + " um/px (" + found.source + ")");
    }
  } else if (options.mpp_override > 0) {
    info.mpp_x = info.mpp_y = options.mpp_override;
    info.mpp_source = "--mpp";
  } else {
    info.mpp_x = info.mpp_y = std::numeric_limits<double>::quiet_NaN();
    info.mpp_source = "none";
  }

  double power = 0;
  // OpenSlide's own property first; Aperio's magnification when that is missing or not positive.
  if ((parse_double(p, "openslide.objective-power", &power) && power > 0) ||
      (parse_double(p, "aperio.AppMag", &power) && power > 0)) {
    info.objective_power = power;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Back-end table and open_slide

namespace {

struct Backend {
  const char* name;
  // nullptr: not this back-end's format. Throws SlideError: its format, but it cannot be opened.
  std::unique_ptr<Slide> (*open)(const std::filesystem::path&, const OpenOptions&);
  bool error_is_final = false;  // a refusal row: later back-ends would only produce something wrong
};

bool has_dicom_magic(const std::filesystem::path& path, std::string* head) {
  std::ifstream in(path, std::ios::binary);
  head->assign(4096, '\0');
  in.read(head->data(), static_cast<std::streamsize>(head->size()));
  head->resize(static_cast<std::size_t>(in.gcount()));
  return head->size() >= 132 && head->compare(128, 4, "DICM") == 0;
}

// Known formats nothing here can read: say what it is and what to do, instead of "unknown format".
// Before OpenCV on purpose: OpenCV's GDCM reader would decode one 64x64 tile of a DICOM slide as "the image".
std::unique_ptr<Slide> refuse_dicom_slide(const std::filesystem::path& path, const OpenOptions&) {
  std::string head;
  if (!has_dicom_magic(path, &head)) return nullptr;
  constexpr std::string_view kWholeSlideSopClass =
      "1.2.840.10008.5.1.4.1.1.77.1.6";  // VL Whole Slide Microscopy Image
  if (head.find(kWholeSlideSopClass) == std::string::npos) return nullptr;
  throw SlideError(
      path,
      "DICOM whole-slide images are not readable by OpenSlide 3.4 (DICOM support arrived in OpenSlide "
      "4.0); export the slide as a tiled pyramidal TIFF, e.g. `vips tiffsave in.dcm out.tif --tile "
      "--pyramid --compression jpeg` with a libvips built on OpenSlide 4");
}

// Ordered: the first back-end that opens the file wins; OpenSlide first so vendor formats keep their
// metadata.
const Backend kBackends[] = {
    {"openslide", open_with_openslide},
    {"jpeg-tiles-tiff", open_jpeg_tiled_tiff},
    {"dicom-slide (refused)", refuse_dicom_slide, true},
    {"opencv", open_with_opencv},
};

const char* expected_format(std::string ext) {
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".svs") return "an Aperio SVS slide";
  if (ext == ".ndpi") return "a Hamamatsu NDPI slide";
  if (ext == ".tif" || ext == ".tiff") return "a TIFF image";
  if (ext == ".png") return "a PNG image";
  if (ext == ".jpg" || ext == ".jpeg") return "a JPEG image";
  if (ext == ".bmp") return "a BMP image";
  if (ext == ".mrxs" || ext == ".vms" || ext == ".vmu" || ext == ".scn" || ext == ".bif" || ext == ".svslide")
    return "a whole-slide image";
  return nullptr;
}

std::string describe_unknown_content(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char head[512];
  in.read(reinterpret_cast<char*>(head), sizeof(head));
  const auto n = static_cast<std::size_t>(in.gcount());
  const bool text = n > 0 && looks_like_text(std::string_view(reinterpret_cast<const char*>(head), n));
  std::string what = "not a readable slide or image: the content is ";
  std::string dicom_head;
  if (has_dicom_magic(path, &dicom_head)) {
    what += "a DICOM file OpenCV cannot decode";
  } else if (text) {
    what += "text";
  } else {
    char hex[40];
    std::snprintf(hex, sizeof(hex), "%02x %02x %02x %02x", head[0], n > 1 ? head[1] : 0, n > 2 ? head[2] : 0,
                  n > 3 ? head[3] : 0);
    what += std::string("of unknown format (starts with bytes ") + hex + ")";
  }
  if (const char* expected = expected_format(path.extension().string()))
    what += std::string(", not ") + expected;
  return what + " (tried OpenSlide 3.4 and OpenCV)";
}

}  // namespace

bool has_slide_extension(const std::filesystem::path& path) {
  static const std::set<std::string> kExt = {".svs",  ".tif",  ".tiff",    ".ndpi", ".vms", ".vmu",
                                             ".scn",  ".mrxs", ".svslide", ".bif",  ".png", ".jpg",
                                             ".jpeg", ".bmp",  ".jp2",     ".j2k",  ".dcm", ".qptiff",
                                             ".webp", ".ppm",  ".pgm",     ".pbm",  ".pnm"};
  return kExt.count(ascii_lower(path.extension().string())) > 0;
}

bool looks_like_text(std::string_view head) {
  for (const char ch : head) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') return false;
  }
  bool cut = false;
  return utf8_prefix(head, &cut) == head.size() || cut;
}

void check_slide_file(const std::filesystem::path& path) {
  // O_NONBLOCK: a named pipe opens at once (rather than waiting for a writer) and is refused by what fstat
  // says of the opened file, so nothing can swap the path between the check and the open.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) throw SlideError(path, "file not found");
    if (err == EISDIR) throw SlideError(path, "is a directory, not a slide or image file");
    throw SlideError(path, std::string("cannot open for reading: ") + std::strerror(err));
  }
  struct stat st {};
  const bool stated = ::fstat(fd, &st) == 0;
  ::close(fd);
  if (stated && S_ISDIR(st.st_mode)) throw SlideError(path, "is a directory, not a slide or image file");
  if (!stated || !S_ISREG(st.st_mode)) throw SlideError(path, "is not a regular file");
}

namespace {

// A slide with its place under the memory policy (slide_image.hpp), released after the slide is closed.
class HeldSlide : public Slide {
 public:
  HeldSlide(std::unique_ptr<Slide> slide, std::shared_ptr<void> hold)
      : hold_(std::move(hold)), slide_(std::move(slide)) {
    info_ = slide_->info();
  }
  cv::Mat read_region(std::int64_t x, std::int64_t y, int level, int w, int h) override {
    return slide_->read_region(x, y, level, w, h);
  }
  cv::Mat associated_image(const std::string& name) override { return slide_->associated_image(name); }

 private:
  std::shared_ptr<void> hold_;  // declared first: released last
  std::unique_ptr<Slide> slide_;
};

std::unique_ptr<Slide> held(std::unique_ptr<Slide> slide) {
  auto hold = hold_slide_memory();
  if (!hold) return slide;
  return std::make_unique<HeldSlide>(std::move(slide), std::move(hold));
}

}  // namespace

std::unique_ptr<Slide> open_slide(const std::filesystem::path& path, const OpenOptions& options) {
  check_slide_file(path);
  std::error_code ec;
  if (std::filesystem::file_size(path, ec) == 0 && !ec) throw SlideError(path, "file is empty (0 bytes)");

  // The first refusal from a back-end that recognised the format is the most specific reason.
  std::unique_ptr<SlideError> first_error;
  for (const auto& backend : kBackends) {
    try {
      if (auto slide = backend.open(path, options)) return held(std::move(slide));
    } catch (const SlideError& e) {
      if (backend.error_is_final) throw;
      if (!first_error) first_error = std::make_unique<SlideError>(e);
    }
  }
  if (first_error) throw *first_error;
  throw SlideError(path, describe_unknown_content(path));
}

}  // namespace ihc
