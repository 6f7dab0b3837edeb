#include "imaging/slide_jpeg_tiles.hpp"

#include <fcntl.h>
#include <tiffio.h>
#include <unistd.h>

// clang-format off
#include <cstdio>  // jpeglib.h needs FILE and size_t first
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

#include <cerrno>
#include <cmath>
#include <csetjmp>
#include <cstdarg>
#include <cstring>
#include <list>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace ihc {

// ---------------------------------------------------------------------------------------------------------
// Strict JPEG decoding (libjpeg-turbo)

namespace {

struct JpegErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  std::vector<std::string>* warnings;
};

[[noreturn]] void jpeg_fail(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void jpeg_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  const int code = cinfo->err->msg_code;
  // Data that ends or breaks early would decode as grey fill: an error, not a warning.
  if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_MUST_RESYNC ||
      code == JWRN_HUFF_BAD_CODE) {
    jpeg_fail(cinfo);
  }
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  if (err->warnings != nullptr && err->warnings->size() < 8) {
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    err->warnings->push_back(std::string("JPEG: ") + text);
  }
}

// The Orientation tag (0x0112) of IFD0 in an APP1 "Exif" payload; 0 when absent or unreadable.
int exif_orientation(const std::uint8_t* p, std::size_t n) {
  if (n < 14 || std::memcmp(p, "Exif\0\0", 6) != 0) return 0;
  const std::uint8_t* t = p + 6;  // the TIFF header
  const std::size_t tn = n - 6;
  const bool little = t[0] == 'I' && t[1] == 'I';
  if (!little && !(t[0] == 'M' && t[1] == 'M')) return 0;
  auto u16 = [&](std::size_t at) -> unsigned {
    return little ? t[at] | (t[at + 1] << 8) : (t[at] << 8) | t[at + 1];
  };
  auto u32 = [&](std::size_t at) -> std::size_t {
    return little
               ? t[at] | (t[at + 1] << 8) | (t[at + 2] << 16) | (static_cast<std::size_t>(t[at + 3]) << 24)
               : (static_cast<std::size_t>(t[at]) << 24) | (t[at + 1] << 16) | (t[at + 2] << 8) | t[at + 3];
  };
  const std::size_t ifd = u32(4);
  if (ifd + 2 > tn) return 0;
  const unsigned entries = u16(ifd);
  for (unsigned e = 0; e < entries; ++e) {
    const std::size_t at = ifd + 2 + 12 * static_cast<std::size_t>(e);
    if (at + 12 > tn) return 0;
    if (u16(at) == 0x0112) {
      const unsigned v = u16(at + 8);
      return v >= 1 && v <= 8 ? static_cast<int>(v) : 0;
    }
  }
  return 0;
}

// No C++ objects with destructors live in this frame, so longjmp out of libjpeg is safe; `out` lives in the
// caller. Returns false with err->message set on failure.
bool decode_jpeg_impl(jpeg_decompress_struct* cinfo, JpegErrorManager* err, const std::uint8_t* data,
                      std::size_t size, const JpegDecodeOptions* options, JpegHeader* header, cv::Mat* out) {
  if (setjmp(err->jump)) return false;
  jpeg_create_decompress(cinfo);
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xFFFF);  // Exif, for its orientation
  jpeg_read_header(cinfo, TRUE);
  for (jpeg_saved_marker_ptr m = cinfo->marker_list; m != nullptr; m = m->next) {
    if (m->marker == JPEG_APP0 + 1) header->exif_orientation = exif_orientation(m->data, m->data_length);
  }
  header->width = static_cast<int>(cinfo->image_width);
  header->height = static_cast<int>(cinfo->image_height);
  header->components = cinfo->num_components;
  header->grayscale = cinfo->jpeg_color_space == JCS_GRAYSCALE;
  header->jfif = cinfo->saw_JFIF_marker != 0;
  header->density_unit = cinfo->density_unit;
  header->density_x = cinfo->X_density;
  header->density_y = cinfo->Y_density;
  if (cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK) {
    std::snprintf(err->message, sizeof(err->message), "CMYK JPEG is not supported; convert it to RGB");
    return false;
  }
  if (static_cast<std::int64_t>(header->width) * header->height > options->max_pixels) {
    std::snprintf(
        err->message, sizeof(err->message),
        "image is %d x %d pixels, above the %lld-pixel limit for a plain image; convert it to a tiled "
        "pyramidal TIFF, e.g. `vips tiffsave in.jpg out.tif --tile --pyramid --compression jpeg`",
        header->width, header->height, static_cast<long long>(options->max_pixels));
    return false;
  }
  if (options->unmarked_is_rgb && cinfo->num_components == 3 && !cinfo->saw_JFIF_marker &&
      !cinfo->saw_Adobe_marker) {
    cinfo->jpeg_color_space = JCS_RGB;
  }
  cinfo->out_color_space = JCS_RGB;
  jpeg_start_decompress(cinfo);
  if (cinfo->output_components != 3) {
    std::snprintf(err->message, sizeof(err->message), "unexpected %d output components",
                  cinfo->output_components);
    return false;
  }
  out->create(static_cast<int>(cinfo->output_height), static_cast<int>(cinfo->output_width), CV_8UC3);
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = out->ptr<std::uint8_t>(static_cast<int>(cinfo->output_scanline));
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_decompress(cinfo);
  return true;
}

}  // namespace

cv::Mat decode_jpeg(const std::uint8_t* data, std::size_t size, const JpegDecodeOptions& options,
                    JpegHeader* header, std::vector<std::string>* warnings) {
  jpeg_decompress_struct cinfo;
  JpegErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = jpeg_fail;
  err.pub.emit_message = jpeg_message;
  err.message[0] = '\0';
  err.warnings = warnings;
  JpegHeader local_header;
  cv::Mat out;
  const bool ok = decode_jpeg_impl(&cinfo, &err, data, size, &options, header ? header : &local_header, &out);
  jpeg_destroy_decompress(&cinfo);
  if (!ok) throw std::runtime_error(err.message);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// libtiff with per-handle error capture

namespace {

int capture_tiff_error(TIFF*, void* user_data, const char* module, const char* fmt, va_list ap) {
  auto* errors = static_cast<std::string*>(user_data);
  if (errors->empty()) {
    char text[512];
    std::vsnprintf(text, sizeof(text), fmt, ap);
    *errors = (module != nullptr && *module != '\0') ? std::string(module) + ": " + text : std::string(text);
  }
  return 1;
}

int ignore_tiff_warning(TIFF*, void*, const char*, const char*, va_list) { return 1; }

struct TiffHandle {
  TIFF* tif = nullptr;
  std::string errors;
  explicit TiffHandle(const std::filesystem::path& path) {
    TIFFOpenOptions* options = TIFFOpenOptionsAlloc();
    TIFFOpenOptionsSetErrorHandlerExtR(options, capture_tiff_error, &errors);
    TIFFOpenOptionsSetWarningHandlerExtR(options, ignore_tiff_warning, nullptr);
    tif = TIFFOpenExt(path.c_str(), "rm", options);  // m: no memory-mapping, a truncated file must not SIGBUS
    TIFFOpenOptionsFree(options);
  }
  ~TiffHandle() {
    if (tif != nullptr) TIFFClose(tif);
  }
  TiffHandle(const TiffHandle&) = delete;
  TiffHandle& operator=(const TiffHandle&) = delete;
};

bool has_tiff_magic(const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  unsigned char m[4] = {};
  const std::size_t n = std::fread(m, 1, 4, f);
  std::fclose(f);
  if (n < 4) return false;
  return (m[0] == 'I' && m[1] == 'I' && (m[2] == 42 || m[2] == 43) && m[3] == 0) ||
         (m[0] == 'M' && m[1] == 'M' && m[2] == 0 && (m[3] == 42 || m[3] == 43));
}

std::string number_text(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

// Resolution and description tags under OpenSlide's property names, so one resolver handles every back-end.
void read_tiff_properties(TIFF* tif, std::map<std::string, std::string>& props) {
  float xres = 0, yres = 0;
  std::uint16_t unit = 0;
  if (TIFFGetField(tif, TIFFTAG_XRESOLUTION, &xres) == 1) props["tiff.XResolution"] = number_text(xres);
  if (TIFFGetField(tif, TIFFTAG_YRESOLUTION, &yres) == 1) props["tiff.YResolution"] = number_text(yres);
  if (TIFFGetField(tif, TIFFTAG_RESOLUTIONUNIT, &unit) == 1) {
    props["tiff.ResolutionUnit"] = unit == RESUNIT_CENTIMETER ? "centimeter"
                                   : unit == RESUNIT_INCH     ? "inch"
                                                              : "none";
  }
  const std::pair<ttag_t, const char*> text_tags[] = {{TIFFTAG_IMAGEDESCRIPTION, "tiff.ImageDescription"},
                                                      {TIFFTAG_SOFTWARE, "tiff.Software"},
                                                      {TIFFTAG_MAKE, "tiff.Make"},
                                                      {TIFFTAG_MODEL, "tiff.Model"},
                                                      {TIFFTAG_DATETIME, "tiff.DateTime"}};
  for (const auto& [tag, name] : text_tags) {
    char* text = nullptr;
    if (TIFFGetField(tif, tag, &text) == 1 && text != nullptr) props[name] = text;
  }
}

}  // namespace

std::string truncated_tiff_reason(std::uint64_t data_end, std::uint64_t file_size) {
  return "TIFF is truncated: its pixel data runs to byte " + std::to_string(data_end) + " but the file has " +
         std::to_string(file_size) + " bytes (incomplete copy or download?)";
}

TiffSummary read_tiff_summary(const std::filesystem::path& path) {
  TiffSummary s;
  TiffHandle h(path);
  if (h.tif == nullptr) {
    s.error = h.errors.empty() ? "libtiff cannot open it" : h.errors;
    return s;
  }
  s.opened = true;
  std::uint32_t w = 0, ht = 0;
  std::uint16_t bits = 1, spp = 1, format = 1, photometric = 0, compression = 1;
  TIFFGetField(h.tif, TIFFTAG_IMAGEWIDTH, &w);
  TIFFGetField(h.tif, TIFFTAG_IMAGELENGTH, &ht);
  TIFFGetFieldDefaulted(h.tif, TIFFTAG_BITSPERSAMPLE, &bits);
  TIFFGetFieldDefaulted(h.tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
  TIFFGetFieldDefaulted(h.tif, TIFFTAG_SAMPLEFORMAT, &format);
  if (TIFFGetField(h.tif, TIFFTAG_PHOTOMETRIC, &photometric) == 1) s.photometric = photometric;
  TIFFGetFieldDefaulted(h.tif, TIFFTAG_COMPRESSION, &compression);
  s.width = static_cast<int>(std::min<std::uint32_t>(w, 1u << 30));
  s.height = static_cast<int>(std::min<std::uint32_t>(ht, 1u << 30));
  s.bits_per_sample = bits;
  s.samples_per_pixel = spp;
  s.sample_format = format;
  s.compression = compression;
  s.codec_configured = TIFFIsCODECConfigured(compression) != 0;
  s.tiled = TIFFIsTiled(h.tif) != 0;
  read_tiff_properties(h.tif, s.properties);
  const std::uint64_t chunks = s.tiled ? TIFFNumberOfTiles(h.tif) : TIFFNumberOfStrips(h.tif);
  std::uint64_t* offsets = nullptr;
  std::uint64_t* counts = nullptr;
  if (TIFFGetField(h.tif, TIFFTAG_STRIPOFFSETS, &offsets) == 1 &&
      TIFFGetField(h.tif, TIFFTAG_STRIPBYTECOUNTS, &counts) == 1 && offsets != nullptr && counts != nullptr) {
    for (std::uint64_t i = 0; i < chunks; ++i) s.data_end = std::max(s.data_end, offsets[i] + counts[i]);
  }
  std::error_code ec;
  s.file_size = std::filesystem::file_size(path, ec);
  while (s.pages < 100000 && TIFFReadDirectory(h.tif) != 0) {
    std::uint32_t type = 0;
    if (TIFFGetField(h.tif, TIFFTAG_SUBFILETYPE, &type) != 1 || (type & FILETYPE_REDUCEDIMAGE) == 0)
      ++s.pages;
  }
  return s;
}

std::map<std::string, std::string> parse_ome_pixels(const std::string& description) {
  std::map<std::string, std::string> out;
  if (description.find("<OME") == std::string::npos) return out;
  const auto start = description.find("<Pixels ");
  if (start == std::string::npos) return out;
  const auto end = description.find('>', start);
  const std::string element =
      description.substr(start, end == std::string::npos ? std::string::npos : end - start);
  for (const char* name : {"PhysicalSizeX", "PhysicalSizeXUnit", "PhysicalSizeY", "PhysicalSizeYUnit"}) {
    const std::string key = std::string(" ") + name + "=\"";
    const auto at = element.find(key);
    if (at == std::string::npos) continue;
    const auto value_start = at + key.size();
    const auto value_end = element.find('"', value_start);
    if (value_end == std::string::npos) continue;
    out[std::string("ome.") + name] = element.substr(value_start, value_end - value_start);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Tiled-JPEG TIFF slide

namespace {

struct TiledLevel {
  int width = 0;
  int height = 0;
  int tile_width = 0;
  int tile_height = 0;
  int tiles_across = 0;
  int tiles_down = 0;
  std::vector<std::uint64_t> offsets;
  std::vector<std::uint64_t> byte_counts;
  std::vector<std::uint8_t> tables;  // JPEGTables: abbreviated tile streams need them spliced in
  bool unmarked_is_rgb = false;
};

// Returns false when the current directory is not a contiguous 8-bit tiled JPEG image.
bool read_tiled_level(TIFF* tif, TiledLevel* level) {
  std::uint16_t compression = 0, bits = 0, spp = 0, planar = PLANARCONFIG_CONTIG, photometric = 0;
  TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &compression);
  TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bits);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
  TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
  TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photometric);
  if (!TIFFIsTiled(tif) || compression != COMPRESSION_JPEG || bits != 8 || (spp != 3 && spp != 1) ||
      planar != PLANARCONFIG_CONTIG) {
    return false;
  }
  std::uint32_t w = 0, h = 0, tw = 0, th = 0;
  TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
  TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h);
  TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
  TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
  if (w == 0 || h == 0 || tw == 0 || th == 0 || w > (1u << 30) || h > (1u << 30)) return false;
  level->width = static_cast<int>(w);
  level->height = static_cast<int>(h);
  level->tile_width = static_cast<int>(tw);
  level->tile_height = static_cast<int>(th);
  level->tiles_across = static_cast<int>((w + tw - 1) / tw);
  level->tiles_down = static_cast<int>((h + th - 1) / th);
  const std::size_t tiles = static_cast<std::size_t>(level->tiles_across) * level->tiles_down;
  std::uint64_t* offsets = nullptr;
  std::uint64_t* counts = nullptr;
  if (TIFFGetField(tif, TIFFTAG_TILEOFFSETS, &offsets) != 1 ||
      TIFFGetField(tif, TIFFTAG_TILEBYTECOUNTS, &counts) != 1 || offsets == nullptr || counts == nullptr ||
      TIFFNumberOfTiles(tif) < tiles) {
    return false;
  }
  level->offsets.assign(offsets, offsets + tiles);
  level->byte_counts.assign(counts, counts + tiles);
  std::uint32_t table_size = 0;
  void* tables = nullptr;
  if (TIFFGetField(tif, TIFFTAG_JPEGTABLES, &table_size, &tables) == 1 && tables != nullptr &&
      table_size > 4) {
    const auto* bytes = static_cast<const std::uint8_t*>(tables);
    level->tables.assign(bytes, bytes + table_size);
  }
  level->unmarked_is_rgb = photometric == PHOTOMETRIC_RGB;
  return true;
}

class TileCache {
 public:
  explicit TileCache(std::size_t capacity_bytes) : capacity_(capacity_bytes) {}
  cv::Mat get(std::uint64_t key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = index_.find(key);
    if (it == index_.end()) return {};
    order_.splice(order_.begin(), order_, it->second);
    return it->second->second;
  }
  void put(std::uint64_t key, const cv::Mat& tile) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (index_.count(key)) return;  // another thread decoded it too
    order_.emplace_front(key, tile);
    index_[key] = order_.begin();
    size_ += tile.total() * tile.elemSize();
    while (size_ > capacity_ && order_.size() > 1) {
      const auto& last = order_.back();
      size_ -= last.second.total() * last.second.elemSize();
      index_.erase(last.first);
      order_.pop_back();
    }
  }

 private:
  std::mutex mutex_;
  std::size_t capacity_;
  std::size_t size_ = 0;
  std::list<std::pair<std::uint64_t, cv::Mat>> order_;
  std::unordered_map<std::uint64_t, std::list<std::pair<std::uint64_t, cv::Mat>>::iterator> index_;
};

class JpegTiledTiffSlide : public Slide {
 public:
  JpegTiledTiffSlide(SlideInfo info, std::vector<TiledLevel> levels, int fd)
      : levels_(std::move(levels)), fd_(fd), cache_(96u << 20) {
    info_ = std::move(info);
  }
  ~JpegTiledTiffSlide() override { ::close(fd_); }
  JpegTiledTiffSlide(const JpegTiledTiffSlide&) = delete;
  JpegTiledTiffSlide& operator=(const JpegTiledTiffSlide&) = delete;

  cv::Mat read_region(std::int64_t x, std::int64_t y, int level, int w, int h) override {
    check_region(level, w, h);
    const TiledLevel& lv = levels_[level];
    const double ds = info_.downsamples[level];
    const std::int64_t lx = static_cast<std::int64_t>(std::floor(static_cast<double>(x) / ds));
    const std::int64_t ly = static_cast<std::int64_t>(std::floor(static_cast<double>(y) / ds));
    cv::Mat out(h, w, CV_8UC3, cv::Scalar(255, 255, 255));
    const std::int64_t x0 = std::max<std::int64_t>(lx, 0), y0 = std::max<std::int64_t>(ly, 0);
    const std::int64_t x1 = std::min<std::int64_t>(lx + w, lv.width),
                       y1 = std::min<std::int64_t>(ly + h, lv.height);
    if (x0 >= x1 || y0 >= y1) return out;
    for (std::int64_t ty = y0 / lv.tile_height; ty <= (y1 - 1) / lv.tile_height; ++ty) {
      for (std::int64_t tx = x0 / lv.tile_width; tx <= (x1 - 1) / lv.tile_width; ++tx) {
        const int index = static_cast<int>(ty * lv.tiles_across + tx);
        const cv::Mat tile = get_tile(level, index);
        // Intersection of the tile, the request and the image, in level pixels.
        const std::int64_t tile_x = tx * lv.tile_width, tile_y = ty * lv.tile_height;
        const std::int64_t ix0 = std::max(x0, tile_x), iy0 = std::max(y0, tile_y);
        const std::int64_t ix1 = std::min({x1, tile_x + tile.cols}), iy1 = std::min({y1, tile_y + tile.rows});
        if (ix0 >= ix1 || iy0 >= iy1) continue;
        const cv::Rect src(static_cast<int>(ix0 - tile_x), static_cast<int>(iy0 - tile_y),
                           static_cast<int>(ix1 - ix0), static_cast<int>(iy1 - iy0));
        const cv::Rect dst(static_cast<int>(ix0 - lx), static_cast<int>(iy0 - ly), src.width, src.height);
        tile(src).copyTo(out(dst));
      }
    }
    return out;
  }

  // Decodes (or fetches from the cache) one tile; throws SlideError naming the tile.
  cv::Mat get_tile(int level, int index) {
    const std::uint64_t key = (static_cast<std::uint64_t>(level) << 40) | static_cast<std::uint64_t>(index);
    cv::Mat tile = cache_.get(key);
    if (!tile.empty()) return tile;
    const TiledLevel& lv = levels_[level];
    const std::uint64_t count = lv.byte_counts[index];
    const std::string where = "JPEG tile " + std::to_string(index) + " of level " + std::to_string(level);
    if (count == 0) {  // sparse tile: nothing was scanned there
      tile = cv::Mat(lv.tile_height, lv.tile_width, CV_8UC3, cv::Scalar(255, 255, 255));
    } else {
      if (count > (256u << 20))
        throw SlideError(info_.path, where + " claims " + std::to_string(count) + " bytes");
      std::vector<std::uint8_t> stream;
      std::size_t prefix = 0;
      if (!lv.tables.empty()) {  // tables without their EOI, then the tile without its SOI
        stream.assign(lv.tables.begin(), lv.tables.end() - 2);
        prefix = stream.size();
        stream.resize(prefix + count);
      } else {
        stream.resize(count);
      }
      std::size_t done = 0;
      while (done < count) {
        const ssize_t n = ::pread(fd_, stream.data() + prefix + done, count - done,
                                  static_cast<off_t>(lv.offsets[index] + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          throw SlideError(info_.path,
                           "cannot read " + where + ": " +
                               (n == 0 ? std::string("file ends early (truncated)") : std::strerror(errno)));
        }
        done += static_cast<std::size_t>(n);
      }
      if (!lv.tables.empty()) stream.erase(stream.begin() + prefix, stream.begin() + prefix + 2);
      JpegDecodeOptions options;
      options.unmarked_is_rgb = lv.unmarked_is_rgb;
      try {
        tile = decode_jpeg(stream.data(), stream.size(), options);
      } catch (const std::runtime_error& e) {
        throw SlideError(info_.path, "cannot decode " + where + ": " + e.what());
      }
    }
    cache_.put(key, tile);
    return tile;
  }

 private:
  std::vector<TiledLevel> levels_;
  int fd_;
  TileCache cache_;
};

}  // namespace

std::unique_ptr<Slide> open_jpeg_tiled_tiff(const std::filesystem::path& path, const OpenOptions& options) {
  check_slide_file(path);  // libtiff would wait on a named pipe
  if (!has_tiff_magic(path)) return nullptr;
  TiffHandle h(path);
  if (h.tif == nullptr) return nullptr;  // the image back-end reports libtiff's reason
  std::vector<TiledLevel> levels(1);
  if (!read_tiled_level(h.tif, &levels[0])) return nullptr;

  SlideInfo info;
  info.path = path;
  info.backend = "jpeg-tiles-tiff";
  read_tiff_properties(h.tif, info.properties);
  const auto description = info.properties.find("tiff.ImageDescription");
  if (description != info.properties.end()) {
    for (auto& [key, value] : parse_ome_pixels(description->second)) info.properties[key] = value;
  }
  info.format =
      info.properties.count("ome.PhysicalSizeX") ||
              (description != info.properties.end() && description->second.find("<OME") != std::string::npos)
          ? "ome-tiff"
          : "tiff";
  std::uint16_t spp = 3;
  TIFFGetFieldDefaulted(h.tif, TIFFTAG_SAMPLESPERPIXEL, &spp);

  // Reduced-resolution SubIFDs (OME-TIFF pyramids), largest first.
  std::uint16_t sub_count = 0;
  std::uint64_t* sub_offsets = nullptr;
  if (TIFFGetField(h.tif, TIFFTAG_SUBIFD, &sub_count, &sub_offsets) == 1 && sub_count > 0 && sub_offsets) {
    const std::vector<std::uint64_t> subs(sub_offsets, sub_offsets + sub_count);
    for (const std::uint64_t offset : subs) {
      TiledLevel level;
      if (TIFFSetSubDirectory(h.tif, offset) == 1 && read_tiled_level(h.tif, &level) &&
          level.width < levels.back().width && level.height < levels.back().height) {
        levels.push_back(std::move(level));
      }
    }
  }
  for (const auto& level : levels) {
    info.level_sizes.emplace_back(level.width, level.height);
    // OpenSlide's convention: mean of the two axis ratios.
    info.downsamples.push_back(0.5 * (static_cast<double>(levels[0].width) / level.width +
                                      static_cast<double>(levels[0].height) / level.height));
  }
  info.properties["jpeg-tiles.tile-width"] = std::to_string(levels[0].tile_width);
  info.properties["jpeg-tiles.tile-height"] = std::to_string(levels[0].tile_height);
  if (spp == 1) info.warnings.push_back("grayscale image converted to RGB");
  std::error_code ec;
  const std::uint64_t file_size = std::filesystem::file_size(path, ec);
  for (const auto& level : levels) {
    for (std::size_t i = 0; i < level.offsets.size(); ++i) {
      if (level.byte_counts[i] > 0 && level.offsets[i] + level.byte_counts[i] > file_size) {
        throw SlideError(path, truncated_tiff_reason(level.offsets[i] + level.byte_counts[i], file_size));
      }
    }
  }
  resolve_resolution(info, options);

  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw SlideError(path, std::string("cannot open for reading: ") + std::strerror(errno));
  auto slide = std::make_unique<JpegTiledTiffSlide>(std::move(info), std::move(levels), fd);
  slide->get_tile(0, 0);  // fail at open, not in the middle of an analysis, when tiles are undecodable
  return slide;
}

}  // namespace ihc
