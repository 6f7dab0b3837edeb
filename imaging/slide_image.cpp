#include "imaging/slide_image.hpp"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <thread>

#include "imaging/slide_jpeg_tiles.hpp"

namespace ihc {

namespace {

// cvtColor in place (dst == src) converts a copy of the whole image: a row at a time instead.
void bgr_to_rgb_in_place(cv::Mat& img) {
  cv::parallel_for_(cv::Range(0, img.rows), [&img](const cv::Range& rows) {
    cv::Mat converted;
    for (int y = rows.start; y < rows.end; ++y) {
      cv::cvtColor(img.row(y), converted, cv::COLOR_BGR2RGB);
      converted.copyTo(img.row(y));
    }
  });
}

// Composites one row of RGB onto white by its alpha, in place: transparent means "no tissue scanned", white
// as OpenSlide's transparent pixels are here. Returns the row's lowest alpha.
int composite_row_onto_white(std::uint8_t* p, const std::uint8_t* alpha, int cols) {
  int lowest = 255;
  for (int col = 0; col < cols; ++col) {
    const int av = alpha[col];
    if (av >= 255) continue;
    lowest = std::min(lowest, av);
    for (int c = 0; c < 3; ++c)
      p[3 * col + c] = static_cast<std::uint8_t>((p[3 * col + c] * av + 255 * (255 - av) + 127) / 255);
  }
  return lowest;
}

// Continuous BGRA to RGB composited onto white, written over its own buffer: the RGB image is the buffer's
// first three quarters. Strips of rows go down in order through a small buffer: strip rows [a, b) are written
// below byte 3 * b * cols, where the BGRA of the rows still to read starts at 4 * b * cols. Compositing an
// opaque pixel leaves it as it is. `lowest_alpha`: the image's lowest alpha.
cv::Mat bgra_to_rgb_in_place(cv::Mat& img, int* lowest_alpha) {
  CV_Assert(img.type() == CV_8UC4 && img.isContinuous());
  const int rows = img.rows, cols = img.cols;
  const std::size_t row_bytes = static_cast<std::size_t>(cols) * 3;
  int lowest = 255;
  cv::Mat strip_rgb, strip_alpha;
  constexpr int kStrip = 64;
  for (int a = 0; a < rows; a += kStrip) {
    const cv::Mat strip = img.rowRange(a, std::min(rows, a + kStrip));
    cv::cvtColor(strip, strip_rgb, cv::COLOR_BGRA2RGB);
    cv::extractChannel(strip, strip_alpha, 3);
    for (int row = 0; row < strip_rgb.rows; ++row) {
      lowest = std::min(lowest, composite_row_onto_white(strip_rgb.ptr<std::uint8_t>(row),
                                                         strip_alpha.ptr<std::uint8_t>(row), cols));
    }
    std::memmove(img.data + static_cast<std::size_t>(a) * row_bytes, strip_rgb.data,
                 row_bytes * static_cast<std::size_t>(strip_rgb.rows));
  }
  *lowest_alpha = lowest;
  const int total = rows * cols * 3;
  // The last quarter is not read again: its pages go back to the system (the buffer itself is freed whole).
  const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto base = reinterpret_cast<std::uintptr_t>(img.data);
  const std::uintptr_t from = (base + static_cast<std::uintptr_t>(total) + page - 1) / page * page - base;
  const std::uintptr_t to = (base + img.total() * 4) / page * page - base;
  if (to > from) madvise(img.data + from, to - from, MADV_DONTNEED);
  cv::Mat flat = img.reshape(1, 1);
  return flat.colRange(0, total).reshape(3, rows);
}

}  // namespace

cv::Mat opencv_image_to_rgb8(cv::Mat decoded, std::vector<std::string>* warnings) {
  cv::Mat img = std::move(decoded);
  switch (img.depth()) {
    case CV_8U:
      break;
    case CV_16U: {
      // Microscope cameras save 10, 12 or 14-bit data in 16-bit files: divided by 257 it is near black and
      // reads as fluorescence. A brightfield image has its glass near the top of its range, so colour values
      // that all stay within 2^b - 1 are b-bit data (alpha keeps the 16-bit scale).
      std::vector<cv::Mat> planes;
      cv::split(img, planes);
      const int colour = img.channels() >= 3 ? 3 : 1;
      double hi = 0;
      for (int c = 0; c < colour; ++c) {
        double lo = 0, h = 0;
        cv::minMaxLoc(planes[static_cast<std::size_t>(c)], &lo, &h);
        hi = std::max(hi, h);
      }
      int bits = 16;
      for (const int b : {10, 12, 14}) {
        if (hi > 0 && hi <= (1 << b) - 1) {
          bits = b;
          break;
        }
      }
      const double full = (1 << bits) - 1;
      for (std::size_t c = 0; c < planes.size(); ++c) {
        planes[c].convertTo(planes[c], CV_8U, static_cast<int>(c) < colour ? 255.0 / full : 1.0 / 257.0);
      }
      cv::merge(planes, img);
      warnings->push_back(bits == 16
                              ? std::string("16-bit image converted to 8-bit RGB (values divided by 257)")
                              : "16-bit image holding " + std::to_string(bits) + "-bit values (at most " +
                                    std::to_string(static_cast<int>(hi)) + ") converted to 8-bit RGB (" +
                                    std::to_string(static_cast<int>(full)) + " is white)");
      break;
    }
    case CV_32F:
    case CV_64F: {
      double lo = 0, hi = 0;
      cv::minMaxLoc(img.reshape(1), &lo, &hi);
      // 0..1 floats are intensities (a little above 1 from lossy codecs such as OpenCV's SGILOG TIFF),
      // anything else raw counts.
      const double scale = hi <= 1.5 ? 255.0 : 1.0;
      img.convertTo(img, CV_8U, scale);
      warnings->push_back(std::string("floating-point image converted to 8-bit RGB") +
                          (scale > 1 ? " (0..1 scaled to 0..255)" : " (values clipped to 0..255)"));
      break;
    }
    default:
      throw std::runtime_error("unsupported sample type (signed integer pixels); convert it to 8-bit RGB");
  }
  // Nobody else sees these pixels (a decode handed over with std::move, or a conversion above).
  const bool own = img.u != nullptr && img.u->refcount == 1 && img.isContinuous() && img.depth() == CV_8U;
  cv::Mat rgb;
  cv::Mat alpha;
  if (own && img.channels() == 3) {
    bgr_to_rgb_in_place(img);
    return img;
  }
  if (own && img.channels() == 4) {
    int lowest = 255;
    rgb = bgra_to_rgb_in_place(img, &lowest);
    if (lowest < 255) warnings->push_back("alpha channel composited onto white");
    return rgb;
  }
  switch (img.channels()) {
    case 1:
      cv::cvtColor(img, rgb, cv::COLOR_GRAY2RGB);
      warnings->push_back("grayscale image converted to RGB");
      break;
    case 2: {
      std::vector<cv::Mat> planes;
      cv::split(img, planes);
      cv::cvtColor(planes[0], rgb, cv::COLOR_GRAY2RGB);
      alpha = planes[1];
      warnings->push_back("grayscale image converted to RGB");
      break;
    }
    case 3:
      cv::cvtColor(img, rgb, cv::COLOR_BGR2RGB);
      break;
    case 4:
      cv::cvtColor(img, rgb, cv::COLOR_BGRA2RGB);
      cv::extractChannel(img, alpha, 3);
      break;
    default:
      throw std::runtime_error("unsupported number of channels (" + std::to_string(img.channels()) + ")");
  }
  // An alpha channel that is opaque everywhere (screenshots, OpenCV's decode of a CMYK TIFF) changes nothing.
  if (!alpha.empty()) {
    double lowest = 0;
    cv::minMaxLoc(alpha, &lowest);
    if (lowest >= 255) alpha.release();
  }
  if (!alpha.empty()) {
    for (int row = 0; row < rgb.rows; ++row)
      composite_row_onto_white(rgb.ptr<std::uint8_t>(row), alpha.ptr<std::uint8_t>(row), rgb.cols);
    warnings->push_back("alpha channel composited onto white");
  }
  return rgb;
}

std::int64_t jpeg_frame_pixels(const std::vector<std::uint8_t>& b) {
  std::size_t i = 2;  // after SOI
  while (i + 4 <= b.size()) {
    if (b[i] != 0xFF) return 0;
    const std::uint8_t marker = b[i + 1];
    if (marker == 0xFF) {
      ++i;  // fill byte
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return 0;  // the scan, or the end, before any frame
    const std::size_t len = (static_cast<std::size_t>(b[i + 2]) << 8) | b[i + 3];
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof && i + 9 <= b.size()) {
      const std::int64_t h = (std::int64_t{b[i + 5]} << 8) | b[i + 6];
      const std::int64_t w = (std::int64_t{b[i + 7]} << 8) | b[i + 8];
      return w * h;
    }
    i += 2 + len;
  }
  return 0;
}

cv::Size bmp_webp_size(const std::vector<std::uint8_t>& head) {
  const std::uint8_t* b = head.data();
  const auto le = [b](std::size_t at, int bytes) {
    std::uint32_t v = 0;
    for (int k = bytes - 1; k >= 0; --k) v = (v << 8) | b[at + static_cast<std::size_t>(k)];
    return v;
  };
  const auto size = [](std::int64_t w, std::int64_t h) {
    if (w <= 0 || h <= 0 || w > (1 << 30) || h > (1 << 30)) return cv::Size();
    return cv::Size(static_cast<int>(w), static_cast<int>(h));
  };
  const std::size_t n = head.size();
  if (n >= 26 && b[0] == 'B' && b[1] == 'M') {
    if (le(14, 4) == 12) return size(le(18, 2), le(20, 2));  // OS/2 BITMAPCOREHEADER
    // Height is negative for a top-down bitmap.
    return size(static_cast<std::int32_t>(le(18, 4)),
                std::abs(std::int64_t{static_cast<std::int32_t>(le(22, 4))}));
  }
  if (n >= 30 && std::memcmp(b, "RIFF", 4) == 0 && std::memcmp(b + 8, "WEBP", 4) == 0) {
    if (std::memcmp(b + 12, "VP8 ", 4) == 0) return size(le(26, 2) & 0x3FFF, le(28, 2) & 0x3FFF);
    if (std::memcmp(b + 12, "VP8L", 4) == 0) {
      const std::uint32_t bits = le(21, 4);
      return size((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1);
    }
    if (std::memcmp(b + 12, "VP8X", 4) == 0) return size(le(24, 3) + 1, le(27, 3) + 1);
  }
  return {};
}

namespace {

struct MemoryGate {
  std::mutex mu;
  std::condition_variable cv;
  SlideMemoryPolicy policy;
  std::map<std::thread::id, int> holds;  // open slides, by the thread that opened them
  std::thread::id alone_owner;
  int alone = 0;          // holds of alone_owner taken alone
  int waiting_alone = 0;  // threads waiting to open a slide alone: other opens wait behind them
};

MemoryGate& memory_gate() {
  static MemoryGate gate;
  return gate;
}

class SlideHold {
 public:
  SlideHold(std::thread::id owner, bool alone, bool trim) : owner_(owner), alone_(alone), trim_(trim) {}
  SlideHold(const SlideHold&) = delete;
  SlideHold& operator=(const SlideHold&) = delete;
  ~SlideHold() {
    MemoryGate& g = memory_gate();
    {
      std::lock_guard<std::mutex> lock(g.mu);
      auto it = g.holds.find(owner_);
      if (it != g.holds.end() && --it->second <= 0) g.holds.erase(it);
      if (alone_) --g.alone;
    }
    g.cv.notify_all();
    if (trim_) malloc_trim(0);
  }

 private:
  std::thread::id owner_;
  bool alone_;
  bool trim_;
};

// Waits until `ready`; the cancel flag is looked at every 50 ms since the signal handler cannot notify.
template <class Ready>
void wait_for_place(MemoryGate& g, std::unique_lock<std::mutex>& lock, Ready ready) {
  while (!ready()) {
    if (g.policy.cancel != nullptr && g.policy.cancel->load()) throw std::runtime_error("interrupted");
    g.cv.wait_for(lock, std::chrono::milliseconds(50));
  }
}

// A place in memory for a slide (alone: the only slide open), held until the result is freed.
std::shared_ptr<void> take_place(bool alone) {
  MemoryGate& g = memory_gate();
  std::unique_lock<std::mutex> lock(g.mu);
  if (g.policy.alone_bytes <= 0 && !g.policy.trim_on_close) return nullptr;
  alone = alone && g.policy.alone_bytes > 0;
  const std::thread::id me = std::this_thread::get_id();
  if (alone) {
    ++g.waiting_alone;
    try {
      wait_for_place(g, lock, [&g, me] {
        return (g.alone == 0 || g.alone_owner == me) &&
               std::all_of(g.holds.begin(), g.holds.end(), [me](const auto& h) { return h.first == me; });
      });
    } catch (...) {
      --g.waiting_alone;
      g.cv.notify_all();  // the opens queued behind this one go on
      throw;
    }
    --g.waiting_alone;
    g.alone_owner = me;
    ++g.alone;
  } else if (g.holds.count(me) == 0) {
    wait_for_place(g, lock, [&g] { return g.alone == 0 && g.waiting_alone == 0; });
  }
  ++g.holds[me];
  // The alone hold is inside the slide's own: only the outer one trims, once the slide's pixels are freed.
  return std::make_shared<SlideHold>(me, alone, g.policy.trim_on_close && !alone);
}

}  // namespace

void set_slide_memory_policy(const SlideMemoryPolicy& policy) {
  MemoryGate& g = memory_gate();
  std::lock_guard<std::mutex> lock(g.mu);
  g.policy = policy;
}

SlideMemoryPolicy slide_memory_policy() {
  MemoryGate& g = memory_gate();
  std::lock_guard<std::mutex> lock(g.mu);
  return g.policy;
}

std::shared_ptr<void> hold_slide_memory() { return take_place(false); }

std::shared_ptr<void> hold_plain_image_memory(std::int64_t pixels) {
  {
    MemoryGate& g = memory_gate();
    std::lock_guard<std::mutex> lock(g.mu);
    if (!(g.policy.alone_bytes > 0 && pixels * 3 >= g.policy.alone_bytes)) return nullptr;
  }
  return take_place(true);
}

namespace {

class ImageSlide : public Slide {
 public:
  ImageSlide(const cv::Mat& rgb, SlideInfo info, std::shared_ptr<void> hold = nullptr)
      : hold_(std::move(hold)) {
    info_ = std::move(info);
    info_.single_picture = true;
    info_.level_sizes.assign(1, rgb.size());
    info_.downsamples.assign(1, 1.0);
    cv::Size size = rgb.size();
    while (std::max(size.width, size.height) > kPyramidMaxSide) {
      size = cv::Size(std::max(1, size.width / 2), std::max(1, size.height / 2));
      info_.level_sizes.push_back(size);
      info_.downsamples.push_back(
          0.5 * (static_cast<double>(rgb.cols) / size.width + static_cast<double>(rgb.rows) / size.height));
    }
    levels_.resize(info_.level_sizes.size());
    levels_[0] = rgb;
  }

  cv::Mat read_region(std::int64_t x, std::int64_t y, int level, int w, int h) override {
    check_region(level, w, h);
    const cv::Mat image = level_image(level);
    const double ds = info_.downsamples[level];
    const std::int64_t lx = static_cast<std::int64_t>(std::floor(static_cast<double>(x) / ds));
    const std::int64_t ly = static_cast<std::int64_t>(std::floor(static_cast<double>(y) / ds));
    cv::Mat out(h, w, CV_8UC3, cv::Scalar(255, 255, 255));
    const std::int64_t x0 = std::max<std::int64_t>(lx, 0), y0 = std::max<std::int64_t>(ly, 0);
    const std::int64_t x1 = std::min<std::int64_t>(lx + w, image.cols),
                       y1 = std::min<std::int64_t>(ly + h, image.rows);
    if (x0 < x1 && y0 < y1) {
      const cv::Rect src(static_cast<int>(x0), static_cast<int>(y0), static_cast<int>(x1 - x0),
                         static_cast<int>(y1 - y0));
      image(src).copyTo(
          out(cv::Rect(static_cast<int>(x0 - lx), static_cast<int>(y0 - ly), src.width, src.height)));
    }
    return out;
  }

 private:
  // Downsampled levels are built on first use from the level above (2x2 area average), under one lock, and
  // kept when asked for; cv::Mat headers are reference counted, so callers keep a valid image after the lock
  // is released.
  cv::Mat level_image(int level) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (levels_[level].empty()) {
      // From the nearest level above that was asked for; the ones in between are made on the way and
      // dropped (the overview of a 15000 x 15000 image kept its 7500 x 7500 step: 169 MB).
      int k = level;
      while (levels_[k].empty()) --k;
      cv::Mat image = levels_[k];
      for (++k; k <= level; ++k) {
        cv::Mat smaller;
        cv::resize(image, smaller, info_.level_sizes[k], 0, 0, cv::INTER_AREA);
        image = smaller;
      }
      levels_[level] = image;
    }
    return levels_[level];
  }

  std::shared_ptr<void> hold_;  // released once the levels below are freed
  std::mutex mutex_;
  std::vector<cv::Mat> levels_;
};

enum class ImageKind { None, Png, Jpeg, Tiff, Bmp, Other };

// The IEND chunk (length 0, "IEND", CRC) within the file's last bytes (some writers append a little after
// it).
bool png_has_end(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  const std::streamoff size = in.tellg();
  const std::streamoff tail = std::min<std::streamoff>(size, 4096);
  std::string bytes(static_cast<std::size_t>(tail), '\0');
  in.seekg(size - tail);
  in.read(bytes.data(), tail);
  return bytes.find("IEND") != std::string::npos;
}

ImageKind sniff(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char m[8] = {};
  in.read(reinterpret_cast<char*>(m), sizeof(m));
  const auto n = in.gcount();
  if (n >= 8 && std::memcmp(m, "\x89PNG\r\n\x1a\n", 8) == 0) return ImageKind::Png;
  if (n >= 3 && m[0] == 0xFF && m[1] == 0xD8 && m[2] == 0xFF) return ImageKind::Jpeg;
  if (n >= 4 && ((m[0] == 'I' && m[1] == 'I' && m[2] == 42 && m[3] == 0) ||
                 (m[0] == 'M' && m[1] == 'M' && m[2] == 0 && m[3] == 42) ||
                 (m[0] == 'I' && m[1] == 'I' && m[2] == 43 && m[3] == 0) ||
                 (m[0] == 'M' && m[1] == 'M' && m[2] == 0 && m[3] == 43))) {
    return ImageKind::Tiff;
  }
  if (n >= 2 && m[0] == 'B' && m[1] == 'M') return ImageKind::Bmp;
  try {
    if (cv::haveImageReader(path.string())) return ImageKind::Other;
  } catch (const cv::Exception&) {
  }
  return ImageKind::None;
}

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

struct PngHeader {
  int width = 0;
  int height = 0;
  int bit_depth = 0;
  int color_type = -1;
};

// IHDR and pHYs (which must precede IDAT): cheap, no pixel decoding.
bool read_png_header(const std::filesystem::path& path, PngHeader* header,
                     std::map<std::string, std::string>& props) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(8);
  unsigned char chunk[8];
  while (in.read(reinterpret_cast<char*>(chunk), 8)) {
    const std::uint32_t length = be32(chunk);
    const std::string type(reinterpret_cast<char*>(chunk) + 4, 4);
    if (type == "IDAT" || type == "IEND" || length > (1u << 30)) break;
    if (type == "IHDR" && length >= 13) {
      unsigned char d[13];
      if (!in.read(reinterpret_cast<char*>(d), 13)) return false;
      header->width = static_cast<int>(std::min<std::uint32_t>(be32(d), 1u << 30));
      header->height = static_cast<int>(std::min<std::uint32_t>(be32(d + 4), 1u << 30));
      header->bit_depth = d[8];
      header->color_type = d[9];
      in.seekg(static_cast<std::streamoff>(length) - 13 + 4, std::ios::cur);
    } else if (type == "pHYs" && length == 9) {
      unsigned char d[9];
      if (!in.read(reinterpret_cast<char*>(d), 9)) break;
      props["png.pHYs.x"] = std::to_string(be32(d));
      props["png.pHYs.y"] = std::to_string(be32(d + 4));
      props["png.pHYs.unit"] = d[8] == 1 ? "meter" : "unknown";
      in.seekg(4, std::ios::cur);
    } else {
      in.seekg(static_cast<std::streamoff>(length) + 4, std::ios::cur);
    }
  }
  return header->width > 0;
}

std::string too_large(int w, int h, const std::string& ext) {
  return "image is " + std::to_string(w) + " x " + std::to_string(h) + " pixels, above the " +
         std::to_string(kMaxPlainImagePixels) +
         "-pixel limit for a plain image; convert it to a tiled pyramidal " + "TIFF, e.g. `vips tiffsave in" +
         ext + " out.tif --tile --pyramid --compression jpeg`";
}

bool over_limit(int w, int h) { return static_cast<std::int64_t>(w) * h > kMaxPlainImagePixels; }

}  // namespace

std::unique_ptr<Slide> make_image_slide(const cv::Mat& rgb, SlideInfo info, const OpenOptions& options) {
  if (rgb.empty() || rgb.type() != CV_8UC3) {
    throw SlideError(info.path, "in-memory image must be a non-empty CV_8UC3 RGB image");
  }
  if (info.backend.empty()) info.backend = "memory";
  resolve_resolution(info, options);
  return std::make_unique<ImageSlide>(rgb, std::move(info));
}

std::unique_ptr<Slide> open_with_opencv(const std::filesystem::path& path, const OpenOptions& options) {
  check_slide_file(path);  // OpenCV would wait on a named pipe
  const ImageKind kind = sniff(path);
  if (kind == ImageKind::None) return nullptr;

  SlideInfo info;
  info.path = path;
  info.backend = "opencv";
  cv::Mat decoded;
  std::shared_ptr<void> hold;  // a large image's place alone in memory
  bool palette = false;
  try {
    switch (kind) {
      case ImageKind::Png: {
        info.format = "png";
        PngHeader header;
        if (!read_png_header(path, &header, info.properties)) throw SlideError(path, "PNG header is damaged");
        if (over_limit(header.width, header.height))
          throw SlideError(path, too_large(header.width, header.height, ".png"));
        palette = header.color_type == 3;
        // A truncated PNG lacks its closing IEND chunk: said here, before libpng prints its own "Read Error"
        // line on stderr in the middle of the progress.
        if (!png_has_end(path)) throw SlideError(path, "the PNG is truncated (it does not end with IEND)");
        hold = hold_plain_image_memory(std::int64_t{header.width} * header.height);
        decoded = cv::imread(path.string(), cv::IMREAD_UNCHANGED);
        if (decoded.empty()) throw SlideError(path, "cannot decode PNG image (truncated or corrupt)");
        break;
      }
      case ImageKind::Jpeg: {
        info.format = "jpeg";
        std::ifstream in(path, std::ios::binary);
        const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                              std::istreambuf_iterator<char>());
        JpegHeader header;
        JpegDecodeOptions jpeg_options;
        jpeg_options.max_pixels = kMaxPlainImagePixels;
        // A large one waits for its place before decoding: two 15000^2 JPEGs decoded side by side took 1.95
        // GB.
        hold = hold_plain_image_memory(jpeg_frame_pixels(bytes));
        cv::Mat rgb;
        try {
          rgb = decode_jpeg(bytes.data(), bytes.size(), jpeg_options, &header, &info.warnings);
        } catch (const std::runtime_error& e) {
          std::string reason = std::string("cannot decode JPEG: ") + e.what();
          if (std::strcmp(e.what(), "Premature end of JPEG file") == 0) reason += " (the file is truncated)";
          throw SlideError(path, reason);
        }
        if (!hold)
          hold = hold_plain_image_memory(static_cast<std::int64_t>(rgb.total()));  // no frame header found
        if (header.density_unit == 1 || header.density_unit == 2) {
          info.properties["jpeg.density-x"] = std::to_string(header.density_x);
          info.properties["jpeg.density-y"] = std::to_string(header.density_y);
          info.properties["jpeg.density-unit"] = header.density_unit == 1 ? "inch" : "centimeter";
        }
        if (header.grayscale) info.warnings.push_back("grayscale image converted to RGB");
        // Phone and camera photographs store the sensor's grid and an Exif rotation for viewers. Scoring is
        // the same either way; coordinates are not, so say which grid they are in.
        if (header.exif_orientation > 1) {
          static const char* const kShown[] = {"",
                                               "",
                                               "mirrored",
                                               "rotated 180 degrees",
                                               "flipped upside down",
                                               "transposed",
                                               "rotated 90 degrees clockwise",
                                               "transversed",
                                               "rotated 90 degrees counter-clockwise"};
          info.warnings.push_back(
              "Exif orientation " + std::to_string(header.exif_orientation) + " (shown " +
              kShown[header.exif_orientation] +
              " by photo viewers) not applied: cells and coordinates are in the stored pixel "
              "grid");
        }
        info.level_sizes.clear();
        resolve_resolution(info, options);
        return std::make_unique<ImageSlide>(rgb, std::move(info), std::move(hold));
      }
      case ImageKind::Tiff: {
        info.format = "tiff";
        const TiffSummary tiff = read_tiff_summary(path);
        if (!tiff.opened) throw SlideError(path, "libtiff cannot read this TIFF: " + tiff.error);
        if (!tiff.codec_configured) {
          throw SlideError(
              path, "TIFF compression " + std::to_string(tiff.compression) + " is not supported by libtiff");
        }
        if (tiff.data_end > tiff.file_size) {
          throw SlideError(path, truncated_tiff_reason(tiff.data_end, tiff.file_size));
        }
        if (over_limit(tiff.width, tiff.height))
          throw SlideError(path, too_large(tiff.width, tiff.height, ".tif"));
        info.properties = tiff.properties;
        // A stack (a camera's series, fields saved together): only the first page is decoded, say so.
        if (tiff.pages > 1) {
          info.warnings.push_back("the TIFF has " + std::to_string(tiff.pages) +
                                  " pages; only the first is scored (save each page as its own file)");
        }
        palette = tiff.photometric == 3;
        hold = hold_plain_image_memory(std::int64_t{tiff.width} * tiff.height);
        decoded = cv::imread(path.string(), cv::IMREAD_UNCHANGED);
        if (decoded.empty()) {
          throw SlideError(path, "OpenCV cannot decode this TIFF (compression " +
                                     std::to_string(tiff.compression) + ", " +
                                     std::to_string(tiff.samples_per_pixel) + " samples of " +
                                     std::to_string(tiff.bits_per_sample) + " bits)");
        }
        break;
      }
      case ImageKind::Bmp:
      case ImageKind::Other: {
        std::string ext = path.extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
        info.format = kind == ImageKind::Bmp ? "bmp" : (ext.size() > 1 ? ext.substr(1) : "image");
        // BMP and WebP say their size in their first bytes: a large one waits for its place, and one over the
        // limit is refused, before it is decoded.
        std::vector<std::uint8_t> head(32);
        {
          std::ifstream in(path, std::ios::binary);
          in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
          head.resize(static_cast<std::size_t>(in.gcount()));
        }
        const cv::Size stated = bmp_webp_size(head);
        if (over_limit(stated.width, stated.height))
          throw SlideError(path, too_large(stated.width, stated.height, ext));
        hold = hold_plain_image_memory(std::int64_t{stated.width} * stated.height);
        decoded = cv::imread(path.string(), cv::IMREAD_UNCHANGED);
        if (decoded.empty()) throw SlideError(path, "OpenCV cannot decode this " + info.format + " image");
        if (over_limit(decoded.cols, decoded.rows))
          throw SlideError(path, too_large(decoded.cols, decoded.rows, ext));
        if (!hold) hold = hold_plain_image_memory(static_cast<std::int64_t>(decoded.total()));
        break;
      }
      case ImageKind::None:
        return nullptr;
    }
  } catch (const cv::Exception& e) {
    throw SlideError(path, std::string("OpenCV cannot decode it: ") + e.err);
  }

  if (palette) info.warnings.push_back("palette (indexed-colour) image converted to 8-bit RGB");
  cv::Mat rgb;
  try {
    rgb = opencv_image_to_rgb8(std::move(decoded), &info.warnings);
  } catch (const std::runtime_error& e) {
    throw SlideError(path, e.what());
  }
  resolve_resolution(info, options);
  return std::make_unique<ImageSlide>(rgb, std::move(info), std::move(hold));
}

}  // namespace ihc
