// `ihcscore params --show` prints a file that `--params` reads back to the same values.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "imaging/pipeline.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;

namespace {

ihc::test::CommandResult ihcscore(const std::vector<std::string>& args) {
  return ihc::test::run_program("ihcscore", args);
}

}  // namespace

TEST(ParamsCli, ShowRoundTripsThroughParamsFile) {
  const fs::path dir = ihc::test::temp_dir("params_cli_show");
  const auto r = ihcscore(
      {"params", "--show", "--preset", "ki67", "--set", "sigma_um=2.5", "--set", "estimate_stains=true"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string& text = r.out;
  std::ofstream(dir / "p.txt", std::ios::binary) << text;
  EXPECT_NE(text.find("# Sigma [um]: "), std::string::npos);
  EXPECT_NE(text.find("\nsigma_um = 2.5\n"), std::string::npos);
  EXPECT_NE(text.find("\nthreshold_mode = single\n"), std::string::npos);
  EXPECT_NE(text.find("\nstain_vectors = H-DAB\n"), std::string::npos);
  // Every key of detection, scoring and the pipeline is listed.
  for (const auto& spec : ihc::all_param_specs()) {
    EXPECT_NE(text.find("\n" + spec.key + " ="), std::string::npos) << spec.key;
  }
  ihc::ParamSet back = ihc::default_params("dsg2");
  back.load_file((dir / "p.txt").string());
  EXPECT_EQ(back.get_double("sigma_um"), 2.5);
  EXPECT_EQ(back.get_string("threshold_mode"), "single");
  EXPECT_TRUE(back.get_bool("estimate_stains"));
  ihc::ParamSet expected = ihc::default_params("ki67");
  expected.set("sigma_um", "2.5");
  expected.set("estimate_stains", "true");
  EXPECT_EQ(back.values(), expected.values());
}

TEST(ParamsCli, UnknownKeyAndBadPresetAreUsageErrors) {
  auto r = ihcscore({"params", "--show", "--set", "sigma=2"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ihcscore params: error: --set: unknown parameter 'sigma' (did you mean 'sigma_um'?)\n");
  r = ihcscore({"params", "--show", "--preset", "her2"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ihcscore params: error: unknown preset 'her2' (known: dsg2, ki67)\n");
}

// A threshold far beyond any optical density (a percentage, a typo) is refused from --set and from a file,
// with the key and the range.
TEST(ParamsCli, AThresholdBeyondAnyOpticalDensityIsRefused) {
  const fs::path dir = ihc::test::temp_dir("params_cli_threshold");
  auto r = ihcscore({"params", "--show", "--set", "threshold_3plus=50"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err,
            "ihcscore params: error: --set: parameter 'threshold_3plus' must be between 0 and 5, got 50\n");
  std::ofstream(dir / "p.params") << "# study thresholds\nthreshold_positive = 1e9\n";
  r = ihcscore({"params", "--show", "--params", (dir / "p.params").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ihcscore params: error: " + (dir / "p.params").string() +
                       ":2: parameter 'threshold_positive' must be between 0 and 5, got 1e9\n");
  EXPECT_EQ(r.out, "");
}
