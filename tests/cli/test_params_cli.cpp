// `ihcscore params --show` prints a file that `--params` reads back to the same values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "imaging/pipeline.hpp"
#include "models/presets.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;

namespace {

ihc::test::CommandResult ihcscore(const std::vector<std::string>& args) {
  return ihc::test::run_program("ihcscore", args);
}

// "dsg2.params:57": where the preset sets `key`, as the messages name it.
std::string preset_line(const std::string& preset, const std::string& key) {
  const std::string text = ihc::preset_text(preset);
  int line = 1;
  for (std::size_t i = 0; i < text.find("\n" + key + " =") + 1; ++i) line += text[i] == '\n';
  return preset + ".params:" + std::to_string(line);
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

// A tile is held whole by each worker: 4096 px tiles took 4 GB with two workers.
TEST(ParamsCli, ATileTooLargeForMemoryIsRefused) {
  const auto r = ihcscore({"params", "--show", "--set", "tile_size_px=4096"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(
      r.err,
      "ihcscore params: error: --set: parameter 'tile_size_px' must be between 64 and 2048, got 4096\n");
}

// A background that is no colour was taken by params and refused by score at every slide (exit 2): it is
// refused where it is read, with the file, line and key, as any wrong value.
TEST(ParamsCli, ABackgroundThatIsNoColourIsRefusedWhereItIsRead) {
  const fs::path dir = ihc::test::temp_dir("params_cli_background");
  const std::string file = (dir / "bg.params").string();
  std::ofstream(file) << "# glass\nbackground = 300,2,2\n";
  const std::string why = "is not auto, white or R,G,B with each value in 1..255";
  auto r = ihcscore({"params", "--show", "--params", file});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ihcscore params: error: " + file + ":2: parameter 'background': '300,2,2' " + why + "\n");
  EXPECT_EQ(r.out.substr(0, 40), "");
  r = ihcscore({"params", "--show", "--set", "background=240,240"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ihcscore params: error: --set: parameter 'background': '240,240' " + why + "\n");
  // score stops before any slide (exit 1), not at each (exit 2).
  const std::string slide = (ihc::test::source_dir() / "samples/dsg2_membrane.png").string();
  r = ihcscore({"score", slide, "-o", (dir / "out").string(), "--params", file});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ihcscore score: error: " + file + ":2: parameter 'background': '300,2,2' " + why + "\n");
  EXPECT_FALSE(fs::exists(dir / "out" / "summary.csv"));
  for (const char* good : {"auto", "white", "240,238,236"}) {
    EXPECT_EQ(ihcscore({"params", "--show", "--set", std::string("background=") + good}).status, 0) << good;
  }
}

// Stain vectors that are no preset and no stain string name the file, line and key.
TEST(ParamsCli, StainVectorErrorsNameTheFileLineAndKey) {
  const fs::path dir = ihc::test::temp_dir("params_cli_stains");
  const std::string file = (dir / "f.params").string();
  std::ofstream(file) << "# stains\n\nstain_vectors = foo\n";
  auto r = ihcscore({"params", "--show", "--params", file});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ihcscore params: error: " + file +
                       ":3: parameter 'stain_vectors': unknown stain preset 'foo' (expected H-DAB, H-DAB "
                       "Ruifrok or H&E)\n");
  std::ofstream(file) << "stain_vectors = {\"Name\" : \"mine\", \"Values 1\" : \"0.65 0.70 0.29\"}\n";
  r = ihcscore({"params", "--show", "--params", file});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ihcscore params: error: " + file +
                       ":1: parameter 'stain_vectors': stain string has no \"Stain 1\"\n");
  // Every preset the message lists is taken.
  for (const char* preset : {"H-DAB", "H-DAB Ruifrok", "H&E"}) {
    EXPECT_EQ(ihcscore({"params", "--show", "--set", std::string("stain_vectors=") + preset}).status, 0)
        << preset;
  }
}

// params --show printed (exit 0) files score --params refuses: it checks the whole set as score does, each
// key named with where its value came from.
TEST(ParamsCli, ShowRefusesWhatScoreRefuses) {
  const fs::path dir = ihc::test::temp_dir("params_cli_whole_set");
  const std::string order = (dir / "order.params").string();
  std::ofstream(order) << "threshold_1plus = 0.4\nthreshold_2plus = 0.3\n";
  const std::string quoted = (dir / "quoted.params").string();
  std::ofstream(quoted) << "score_measurement = \"Membrane: DAB OD mean\"\n";
  const std::string prefix = "ihcscore params: error: ";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--params", order},
       "thresholds must be increasing: threshold_1plus = 0.4, threshold_2plus = 0.3, threshold_3plus = 0.6 "
       "(threshold_1plus from " +
           order + ":1, threshold_2plus from " + order + ":2, threshold_3plus from " +
           preset_line("dsg2", "threshold_3plus") + ")"},
      {{"--set", "group_cutoff=5"},
       "parameter 'group_cutoff' is set to 5 but group_score is none (group_score from " +
           preset_line("dsg2", "group_score") + ", group_cutoff from --set)"},
      {{"--set", "group_cutoff=abc"},
       "parameter 'group_cutoff' is set to abc but group_score is none (group_score from " +
           preset_line("dsg2", "group_score") + ", group_cutoff from --set)"},
      {{"--set", "group_score=ixp"},
       "parameter 'group_cutoff' must be set when group_score is ixp (group_score from --set, group_cutoff "
       "from " +
           preset_line("dsg2", "group_cutoff") + ")"},
      {{"--set", "group_score=ixp", "--set", "group_cutoff=abc"},
       "parameter 'group_cutoff' expects a number, got 'abc' (group_cutoff from --set)"},
      {{"--set", "min_area_um2=500"},
       "cell detection: max_area_um2 (400) must be greater than min_area_um2 (500) (min_area_um2 from --set, "
       "max_area_um2 from " +
           preset_line("dsg2", "max_area_um2") + ")"},
      {{"--params", quoted},
       "score_measurement '\"Membrane: DAB OD mean\"' is not a cell measurement (did you mean 'Membrane: DAB "
       "OD mean'?) (score_measurement from " +
           quoted + ":1)"},
      {{"--set", "score_measurement=Ki67 %"},
       "score_measurement 'Ki67 %' is not a cell measurement; they are: "},
      // An area graded every cell 3+ (H-score 300): the thresholds are optical densities.
      {{"--set", "score_measurement=Nucleus: Area um^2"},
       "score_measurement 'Nucleus: Area um^2' is not a stain measurement: cells are graded by an optical "
       "density (a measurement with 'OD' in its name) against thresholds of 0 to 5 OD (score_measurement "
       "from "
       "--set)"},
  };
  const std::string slide = (ihc::test::source_dir() / "samples/dsg2_membrane.png").string();
  for (const auto& [args, message] : cases) {
    std::vector<std::string> show = {"params", "--show"};
    show.insert(show.end(), args.begin(), args.end());
    const auto r = ihcscore(show);
    EXPECT_EQ(r.status, 1) << message;
    EXPECT_EQ(r.err.substr(0, prefix.size() + message.size()), prefix + message) << r.err;
    EXPECT_EQ(r.out.substr(0, 40), "");
    // score says the same, before any slide.
    std::vector<std::string> score = {"score", slide, "-o", (dir / "out").string()};
    score.insert(score.end(), args.begin(), args.end());
    const auto s = ihcscore(score);
    EXPECT_EQ(s.status, 1) << message;
    EXPECT_EQ("ihcscore score: error: " + r.err.substr(std::min(r.err.size(), prefix.size())), s.err);
  }
}

// The header says what the values were built from, not "preset: dsg2 (default)" whatever changed them.
TEST(ParamsCli, ShowSaysWhatTheValuesWereBuiltFrom) {
  const fs::path dir = ihc::test::temp_dir("params_cli_header");
  const std::string file = (dir / "p.params").string();
  std::ofstream(file) << "sigma_um = 2\n";
  auto first_line = [](const std::string& text) { return text.substr(0, text.find('\n')); };
  auto r = ihcscore({"params", "--show"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(first_line(r.out), "# built from: preset dsg2 (default)");
  r = ihcscore({"params", "--show", "--preset", "ki67", "--params", file, "--set", "threshold_positive=0.3",
                "--set", "sigma_um=2.5", "--set", "threshold_positive=0.35"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(first_line(r.out),
            "# built from: preset ki67, then " + file + ", then --set threshold_positive, sigma_um");
  r = ihcscore({"params", "--show", "--params", file});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(first_line(r.out), "# built from: preset dsg2 (default), then " + file);
}

// Files from an old Mac (CR line ends) are read line by line; UTF-16 is named as such, with the file.
TEST(ParamsCli, CarriageReturnFilesAreReadAndUtf16IsNamed) {
  const fs::path dir = ihc::test::temp_dir("params_cli_line_ends");
  const std::string mac = (dir / "mac.params").string();
  std::ofstream(mac, std::ios::binary) << "threshold_mode = three\rthreshold_1plus = 0.25\r";
  auto r = ihcscore({"params", "--show", "--params", mac});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("\nthreshold_1plus = 0.25\n"), std::string::npos);
  const std::string wide = (dir / "wide.params").string();
  std::string text = "\xFF\xFE";
  for (char c : std::string("threshold_1plus = 0.25\r\n")) text += std::string(1, c) + '\0';
  std::ofstream(wide, std::ios::binary) << text;
  r = ihcscore({"params", "--show", "--params", wide});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ihcscore params: error: " + wide + ": UTF-16 text: save it as UTF-8\n");
}
