#include "models/presets.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>

#include "models/scoring.hpp"
#include "support/test_support.hpp"

namespace ihc {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ParamError& e) {
    return e.what();
  }
  return "(no ParamError)";
}

// The detection keys and types of imaging/cell_detection.hpp (models cannot link imaging). A preset that
// names a key missing here, or misses one, fails below.
std::vector<ParamSpec> detection_keys() {
  auto num = [](std::string key, ParamType type = ParamType::Double) {
    ParamSpec s;
    s.key = std::move(key);
    s.label = s.key;
    s.type = type;
    s.default_value = "0";
    return s;
  };
  std::vector<ParamSpec> specs = {num("requested_pixel_size_um"),
                                  num("background_radius_um"),
                                  num("median_radius_um"),
                                  num("sigma_um"),
                                  num("min_area_um2"),
                                  num("max_area_um2"),
                                  num("threshold"),
                                  num("max_background"),
                                  num("ridge_kept_height"),
                                  num("ridge_close_um"),
                                  num("concave_split_um"),
                                  num("crosstalk_guard"),
                                  num("cell_expansion_um"),
                                  num("membrane_search_um"),
                                  num("membrane_width_um"),
                                  num("tile_size_px", ParamType::Int),
                                  num("threads", ParamType::Int)};
  ParamSpec image = num("detection_image", ParamType::Choice);
  image.default_value = "OD sum";
  image.choices = {"OD sum", "Hematoxylin OD"};
  specs.push_back(image);
  ParamSpec borders = num("cell_borders", ParamType::Choice);
  borders.default_value = "DAB lines";
  borders.choices = {"DAB lines", "midway"};
  specs.push_back(borders);
  for (const char* key : {"split_by_shape", "pale_nuclei", "smooth_boundaries", "hematoxylin_search"}) {
    ParamSpec b = num(key, ParamType::Bool);
    b.default_value = "false";
    specs.push_back(b);
  }
  return specs;
}

ParamSet all_params() {
  auto specs = detection_keys();
  for (auto& s : scoring_param_specs()) specs.push_back(s);
  return ParamSet(specs);
}

// Every key of the preset file, in order: a preset must set every parameter, so a user's copy is complete.
std::vector<std::string> keys_of(const std::string& text) {
  std::vector<std::string> keys;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    keys.push_back(line.substr(0, line.find(" =")));
  }
  return keys;
}

TEST(Presets, NamesAndDefault) {
  EXPECT_EQ(preset_names(), (std::vector<std::string>{"dsg2", "ki67"}));
  EXPECT_EQ(default_preset_name(), "dsg2");
  EXPECT_EQ(error_of([] { preset_text("her2"); }), "unknown preset 'her2' (known: dsg2, ki67)");
}

TEST(Presets, EmbeddedTextIsTheFileInTheRepository) {
  for (const auto& name : preset_names()) {
    std::ifstream in(test::source_dir() / "presets" / (name + ".params"));
    ASSERT_TRUE(in) << name;
    std::ostringstream file;
    file << in.rdbuf();
    EXPECT_EQ(preset_text(name), file.str()) << name << ": the build embeds a stale copy";
  }
}

TEST(Presets, EverySetsEveryDetectionAndScoringKeyExactlyOnce) {
  const ParamSet reference = all_params();
  for (const auto& name : preset_names()) {
    std::vector<std::string> keys = keys_of(preset_text(name));
    std::sort(keys.begin(), keys.end());
    std::vector<std::string> expected;
    for (const auto& s : reference.specs()) expected.push_back(s.key);
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(keys, expected) << name;
  }
}

TEST(Presets, Dsg2GradesMembraneDabInThreeClasses) {
  ParamSet p = all_params();
  apply_preset(p, "dsg2");
  const GradingParams g = grading_params_from(p);
  EXPECT_EQ(g.measurement, "Membrane: DAB OD mean");
  EXPECT_EQ(g.mode, ThresholdMode::Three);
  EXPECT_DOUBLE_EQ(g.threshold_1plus, 0.2);
  EXPECT_DOUBLE_EQ(g.threshold_2plus, 0.4);
  EXPECT_DOUBLE_EQ(g.threshold_3plus, 0.6);
  EXPECT_EQ(p.get_string("detection_image"), "Hematoxylin OD");
  EXPECT_FALSE(p.get_bool("hematoxylin_search"));
  EXPECT_GT(p.get_double("cell_expansion_um"), 0.0) << "membranes need cells grown around nuclei";
  EXPECT_EQ(p.get_string("cell_borders"), "DAB lines") << "neighbours meet on the membrane between them";
  EXPECT_GT(p.get_double("membrane_search_um"), 0.0) << "cells of 16-23 um must reach their membrane";
  EXPECT_EQ(score_options_from(p).group_score, GroupScore::None);
}

TEST(Presets, Ki67GradesNucleusDabWithOneThreshold) {
  ParamSet p = all_params();
  apply_preset(p, "ki67");
  const GradingParams g = grading_params_from(p);
  EXPECT_EQ(g.measurement, "Nucleus: DAB OD mean");
  EXPECT_EQ(g.mode, ThresholdMode::Single);
  EXPECT_DOUBLE_EQ(g.threshold_positive, 0.2);
  EXPECT_EQ(p.get_string("detection_image"), "OD sum") << "brown nuclei must be detected too";
  EXPECT_TRUE(p.get_bool("hematoxylin_search")) << "pale blue nuclei in brown haze must be found too";
  EXPECT_EQ(p.get_string("cell_borders"), "midway") << "a brown nucleus's halo is no membrane";
}

TEST(Presets, AUserCopyLoadsBackAndItsErrorsNameTheCopy) {
  const auto dir = test::temp_dir("presets_copy");
  const std::string path = (dir / "my_ki67.params").string();
  std::string text = preset_text("ki67");
  const std::string from = "threshold_positive = 0.2";
  text.replace(text.find(from), from.size(), "threshold_positive = 0.35");
  {
    std::ofstream out(path);
    out << text;
  }
  ParamSet p = all_params();
  apply_preset(p, "dsg2");  // preset first, then the user's file wins
  p.load_file(path);
  EXPECT_DOUBLE_EQ(grading_params_from(p).threshold_positive, 0.35);
  EXPECT_EQ(grading_params_from(p).mode, ThresholdMode::Single);

  text.replace(text.find("threshold_positive = 0.35"), 25, "threshold_positive = high");
  {
    std::ofstream out(path);
    out << text;
  }
  int line = 1;
  for (std::size_t i = 0; i < text.find("threshold_positive = high"); ++i) line += text[i] == '\n';
  EXPECT_EQ(
      error_of([&] { p.load_file(path); }),
      path + ":" + std::to_string(line) + ": parameter 'threshold_positive' expects a number, got 'high'");
}

TEST(Presets, ErrorsInsideAPresetNameThePresetFile) {
  ParamSet scoring_only(scoring_param_specs());
  // Without the detection specs the first detection key is unknown: the message says where it came from.
  const std::string text = preset_text("dsg2");
  int line = 1;
  for (std::size_t i = 0; i < text.find("requested_pixel_size_um ="); ++i) line += text[i] == '\n';
  EXPECT_EQ(error_of([&] { apply_preset(scoring_only, "dsg2"); }),
            "dsg2.params:" + std::to_string(line) + ": unknown parameter 'requested_pixel_size_um'");
}

}  // namespace
}  // namespace ihc
