#include "models/parameters.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include "support/test_support.hpp"

namespace ihc {
namespace {

ParamSpec spec(std::string key, ParamType type, std::string value, std::string unit = "", double min = -1e300,
               double max = 1e300) {
  ParamSpec s;
  s.key = key;
  s.label = "Label of " + key;
  s.type = type;
  s.default_value = std::move(value);
  s.unit = std::move(unit);
  s.help = "help for " + key;
  s.min = min;
  s.max = max;
  return s;
}

std::vector<ParamSpec> test_specs() {
  ParamSpec image = spec("detection_image", ParamType::Choice, "OD sum");
  image.choices = {"OD sum", "Hematoxylin OD"};
  return {spec("sigma_um", ParamType::Double, "1.5", "um", 0.0, 20.0),
          spec("threshold_1plus", ParamType::Double, "0.2", "OD", 0.0),
          spec("tile_size_px", ParamType::Int, "1024", "px", 64, 8192),
          spec("split_by_shape", ParamType::Bool, "true"),
          image,
          spec("score_measurement", ParamType::String, "Membrane: DAB OD mean"),
          spec("offset", ParamType::Double, "0", "", -1e300, 5.0),
          spec("note", ParamType::String, "")};
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ParamError& e) {
    return e.what();
  }
  return "(no ParamError)";
}

TEST(ParamSet, StartsAtTheDefaults) {
  ParamSet p(test_specs());
  EXPECT_DOUBLE_EQ(p.get_double("sigma_um"), 1.5);
  EXPECT_EQ(p.get_int("tile_size_px"), 1024);
  EXPECT_TRUE(p.get_bool("split_by_shape"));
  EXPECT_EQ(p.get_string("detection_image"), "OD sum");
  EXPECT_EQ(p.get_string("score_measurement"), "Membrane: DAB OD mean");
  ASSERT_NE(p.find("sigma_um"), nullptr);
  EXPECT_EQ(p.find("sigma_um")->unit, "um");
  EXPECT_EQ(p.find("sigma"), nullptr);
}

TEST(ParamSet, SetStoresValidatedValuesAndLaterSetsWin) {
  ParamSet p(test_specs());
  p.set("sigma_um", " 2.25 ");
  p.set("tile_size_px", "+512");
  p.set("split_by_shape", "false");
  p.set("detection_image", "Hematoxylin OD");
  p.set("score_measurement", "Nucleus: DAB OD mean");
  EXPECT_DOUBLE_EQ(p.get_double("sigma_um"), 2.25);
  EXPECT_EQ(p.get_int("tile_size_px"), 512);
  EXPECT_FALSE(p.get_bool("split_by_shape"));
  EXPECT_EQ(p.get_string("detection_image"), "Hematoxylin OD");
  EXPECT_EQ(p.get_string("score_measurement"), "Nucleus: DAB OD mean");
  p.set("sigma_um", "3");
  EXPECT_DOUBLE_EQ(p.get_double("sigma_um"), 3.0);
  // Int values are readable as numbers too.
  EXPECT_DOUBLE_EQ(p.get_double("tile_size_px"), 512.0);
}

// The files written (run.json, slide.json, params --show) and the hashes --resume compares hold one text per
// value: a setting typed "1.50" is the "1.5" of a preset.
TEST(ParamSet, NumbersAreStoredAsTheirShortestText) {
  ParamSet p(test_specs());
  for (const char* typed : {"1.50", "+1.5", "15e-1", " 1.500 "}) {
    p.set("sigma_um", typed);
    EXPECT_EQ(p.values().at("sigma_um"), "1.5") << typed;
  }
  p.set("threshold_1plus", "0.10");
  EXPECT_EQ(p.values().at("threshold_1plus"), "0.1");
  p.set("offset", "-0");
  EXPECT_EQ(p.values().at("offset"), "-0");
  p.set("tile_size_px", "0512");
  EXPECT_EQ(p.values().at("tile_size_px"), "512");
}

TEST(ParamSet, ErrorsNameTheOriginTheKeyAndTheProblem) {
  ParamSet p(test_specs());
  EXPECT_EQ(error_of([&] { p.set("sigma", "2"); }),
            "--set: unknown parameter 'sigma' (did you mean 'sigma_um'?)");
  EXPECT_EQ(error_of([&] { p.set("treshold_1plus", "2"); }),
            "--set: unknown parameter 'treshold_1plus' (did you mean 'threshold_1plus'?)");
  EXPECT_EQ(error_of([&] { p.set("colour", "2"); }), "--set: unknown parameter 'colour'");
  EXPECT_EQ(error_of([&] { p.set("threshold_1plus", "abc", "dsg2.params:3"); }),
            "dsg2.params:3: parameter 'threshold_1plus' expects a number, got 'abc'");
  EXPECT_EQ(error_of([&] { p.set("threshold_1plus", "0.2.1"); }),
            "--set: parameter 'threshold_1plus' expects a number, got '0.2.1'");
  EXPECT_EQ(error_of([&] { p.set("threshold_1plus", "nan"); }),
            "--set: parameter 'threshold_1plus' expects a number, got 'nan'");
  EXPECT_EQ(error_of([&] { p.set("threshold_1plus", ""); }),
            "--set: parameter 'threshold_1plus' expects a number, got ''");
  EXPECT_EQ(error_of([&] { p.set("threshold_1plus", "-0.1"); }),
            "--set: parameter 'threshold_1plus' must be >= 0, got -0.1");
  EXPECT_EQ(error_of([&] { p.set("offset", "6"); }), "--set: parameter 'offset' must be <= 5, got 6");
  EXPECT_EQ(error_of([&] { p.set("sigma_um", "25"); }),
            "--set: parameter 'sigma_um' must be between 0 and 20, got 25");
  EXPECT_EQ(error_of([&] { p.set("tile_size_px", "1.5"); }),
            "--set: parameter 'tile_size_px' expects an integer, got '1.5'");
  EXPECT_EQ(error_of([&] { p.set("tile_size_px", "99999999999"); }),
            "--set: parameter 'tile_size_px' expects an integer, got '99999999999'");
  EXPECT_EQ(error_of([&] { p.set("tile_size_px", "10"); }),
            "--set: parameter 'tile_size_px' must be between 64 and 8192, got 10");
  EXPECT_EQ(error_of([&] { p.set("split_by_shape", "yes"); }),
            "--set: parameter 'split_by_shape' expects true or false, got 'yes'");
  EXPECT_EQ(error_of([&] { p.set("detection_image", "DAB"); }),
            "--set: parameter 'detection_image' expects one of 'OD sum', 'Hematoxylin OD', got 'DAB'");
  // A rejected value leaves the old one.
  EXPECT_DOUBLE_EQ(p.get_double("threshold_1plus"), 0.2);
}

TEST(ParamSet, RemembersWhereEachValueCameFromForChecksBetweenKeys) {
  ParamSet p(test_specs());
  p.load_text("sigma_um = 2\n\nthreshold_1plus = 0.3\n", "p.params");
  p.set("sigma_um", "3");
  EXPECT_EQ(p.origin("sigma_um"), "--set");
  EXPECT_EQ(p.origin("threshold_1plus"), "p.params:3");
  EXPECT_EQ(p.origin("detection_image"), "default");
  // Whole keys only: "threshold_1plus" is not named by "threshold_1plus_x".
  EXPECT_EQ(p.with_origins("threshold_1plus (0.3) above sigma_um"),
            "threshold_1plus (0.3) above sigma_um (sigma_um from --set, threshold_1plus from p.params:3)");
  EXPECT_EQ(p.with_origins("threshold_1plus_x too high"), "threshold_1plus_x too high");
}

TEST(ParamSet, GettersRejectUnknownKeysAndWrongTypes) {
  ParamSet p(test_specs());
  EXPECT_EQ(error_of([&] { p.get_double("sigma"); }), "unknown parameter 'sigma'");
  EXPECT_EQ(error_of([&] { p.get_double("detection_image"); }),
            "parameter 'detection_image' is a choice, not a number");
  EXPECT_EQ(error_of([&] { p.get_int("sigma_um"); }), "parameter 'sigma_um' is a number, not an integer");
  EXPECT_EQ(error_of([&] { p.get_bool("sigma_um"); }), "parameter 'sigma_um' is a number, not true or false");
}

TEST(ParamSet, BadDeclarationsAreRejected) {
  auto specs = test_specs();
  specs.push_back(spec("sigma_um", ParamType::Double, "1"));
  EXPECT_EQ(error_of([&] { ParamSet p(specs); }), "parameter 'sigma_um' is declared twice");
  EXPECT_EQ(error_of([&] { ParamSet p({spec("n", ParamType::Int, "x")}); }),
            "default of parameter 'n' expects an integer, got 'x'");
}

TEST(ParamSet, LoadTextReadsKeyValueLinesWithComments) {
  ParamSet p(test_specs());
  p.load_text(
      "\xEF\xBB\xBF# a comment\r\n"
      "\n"
      "   sigma_um=2.5   # inline comment\r\n"
      "detection_image = Hematoxylin OD\n"
      "score_measurement = Cell: DAB OD mean\n"
      "split_by_shape = false",
      "my.params");
  EXPECT_DOUBLE_EQ(p.get_double("sigma_um"), 2.5);
  EXPECT_EQ(p.get_string("detection_image"), "Hematoxylin OD");
  EXPECT_EQ(p.get_string("score_measurement"), "Cell: DAB OD mean");
  EXPECT_FALSE(p.get_bool("split_by_shape"));
}

TEST(ParamSet, LoadTextErrorsNameFileLineAndKeyAndChangeNothing) {
  ParamSet p(test_specs());
  const std::string text =
      "sigma_um = 2\n"
      "# comment\n"
      "threshold_1plus = abc\n";
  EXPECT_EQ(error_of([&] { p.load_text(text, "dsg2.params"); }),
            "dsg2.params:3: parameter 'threshold_1plus' expects a number, got 'abc'");
  EXPECT_DOUBLE_EQ(p.get_double("sigma_um"), 1.5) << "a file with an error must not be half applied";

  EXPECT_EQ(error_of([&] { p.load_text("\n\nsigma = 1\n", "dsg2.params"); }),
            "dsg2.params:3: unknown parameter 'sigma' (did you mean 'sigma_um'?)");
  EXPECT_EQ(error_of([&] { p.load_text("sigma_um 2\n", "a.params"); }),
            "a.params:1: expected 'key = value', got 'sigma_um 2'");
  EXPECT_EQ(error_of([&] { p.load_text(" = 2\n", "a.params"); }),
            "a.params:1: expected 'key = value', got '= 2'");
  EXPECT_EQ(error_of([&] { p.load_text("sigma_um = 2\nsigma_um = 3\n", "a.params"); }),
            "a.params:2: parameter 'sigma_um' is set twice (first at line 1)");
}

// A spec's own check (a colour, a stain string: text no type describes) refuses a value where it is read,
// as a range does: with the origin and the key, and the value before it stays.
TEST(ParamSet, ASpecsCheckRefusesTheValueWhereItIsRead) {
  std::vector<ParamSpec> specs = test_specs();
  ParamSpec colour = spec("background", ParamType::String, "white");
  colour.check = [](const std::string& v) {
    return v == "white" || v == "auto" ? std::string() : "'" + v + "' is not auto or white";
  };
  specs.push_back(colour);
  ParamSet p(specs);
  EXPECT_EQ(error_of([&] { p.set("background", " 300,2,2 "); }),
            "--set: parameter 'background': '300,2,2' is not auto or white");
  EXPECT_EQ(error_of([&] { p.load_text("sigma_um = 2\nbackground = grey\n", "f.params"); }),
            "f.params:2: parameter 'background': 'grey' is not auto or white");
  EXPECT_EQ(p.get_string("background"), "white");
  EXPECT_DOUBLE_EQ(p.get_double("sigma_um"), 1.5) << "a file with an error must not be half applied";
  p.set("background", "auto", "g.params:4");
  EXPECT_EQ(p.get_string("background"), "auto");
  // The default passes the same check: a wrong one is a wrong declaration.
  colour.default_value = "grey";
  EXPECT_EQ(error_of([&] { ParamSet q({colour}); }),
            "default of parameter 'background': 'grey' is not auto or white");
}

// Old Mac files end lines with CR alone: each is a line (not one line "2threshold_1plus = 0.25"), numbered
// as an editor numbers it.
TEST(ParamSet, CarriageReturnAloneEndsALine) {
  ParamSet p(test_specs());
  p.load_text("# from a Mac\rsigma_um = 2\rthreshold_1plus = 0.25\r\rtile_size_px = 512", "mac.params");
  EXPECT_DOUBLE_EQ(p.get_double("sigma_um"), 2.0);
  EXPECT_DOUBLE_EQ(p.get_double("threshold_1plus"), 0.25);
  EXPECT_EQ(p.get_int("tile_size_px"), 512);
  EXPECT_EQ(p.origin("tile_size_px"), "mac.params:5");
  EXPECT_EQ(error_of([&] { p.load_text("sigma_um = 2\r\nsigma_um = 3\r", "a.params"); }),
            "a.params:2: parameter 'sigma_um' is set twice (first at line 1)");
  EXPECT_EQ(error_of([&] { p.load_text("sigma_um = 2\r\rsplit_by_shape = no\r", "a.params"); }),
            "a.params:3: parameter 'split_by_shape' expects true or false, got 'no'");
}

// Notepad's "Unicode" and PowerShell's '>' write UTF-16: said as such, not as an unknown parameter of
// garbled bytes.
TEST(ParamSet, Utf16TextIsRefusedAsSuch) {
  ParamSet p(test_specs());
  auto utf16 = [](const std::string& mark, const std::string& ascii, bool big_endian) {
    std::string out = mark;
    for (char c : ascii) {
      out += big_endian ? std::string(1, '\0') + c : std::string(1, c) + '\0';
    }
    return out;
  };
  const std::string le = utf16("\xFF\xFE", "sigma_um = 2\n", false);
  const std::string be = utf16("\xFE\xFF", "sigma_um = 2\n", true);
  const std::string no_mark = utf16("", "sigma_um = 2\n", false);
  for (const std::string& text : {le, be, no_mark}) {
    EXPECT_EQ(error_of([&] { p.load_text(text, "win.params"); }),
              "win.params: UTF-16 text: save it as UTF-8");
  }
  EXPECT_DOUBLE_EQ(p.get_double("sigma_um"), 1.5);
}

TEST(ParamSet, LoadFileUsesThePathInMessages) {
  const auto dir = test::temp_dir("params_load_file");
  const std::string path = (dir / "study.params").string();
  {
    std::ofstream out(path);
    out << "tile_size_px = 2048\nsplit_by_shape = maybe\n";
  }
  ParamSet p(test_specs());
  EXPECT_EQ(error_of([&] { p.load_file(path); }),
            path + ":2: parameter 'split_by_shape' expects true or false, got 'maybe'");
  EXPECT_EQ(p.get_int("tile_size_px"), 1024);
  {
    std::ofstream out(path);
    out << "tile_size_px = 2048\n";
  }
  p.load_file(path);
  EXPECT_EQ(p.get_int("tile_size_px"), 2048);
  const std::string missing = (dir / "missing.params").string();
  EXPECT_EQ(error_of([&] { p.load_file(missing); }),
            "cannot open parameter file '" + missing + "': No such file or directory");
  // A folder given by mistake is refused, not read as an empty file that keeps every default.
  EXPECT_EQ(error_of([&] { p.load_file(dir.string()); }),
            "cannot read parameter file '" + dir.string() + "': it is a directory");
}

TEST(ParamSet, ToTextDocumentsEveryKeyAndRoundTrips) {
  ParamSet p(test_specs());
  p.set("sigma_um", "0.75");
  p.set("detection_image", "Hematoxylin OD");
  p.set("split_by_shape", "false");
  p.set("score_measurement", "Nucleus: DAB OD mean");
  const std::string text = p.to_text();
  // Number ranges are shown where the value is edited (they were only in the refusal's message).
  EXPECT_NE(text.find("# Label of sigma_um [um]: help for sigma_um (0 to 20)\nsigma_um = 0.75\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("help for tile_size_px (64 to 8192)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("help for threshold_1plus (>= 0)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("help for offset (<= 5)\n"), std::string::npos) << text;
  EXPECT_NE(
      text.find(
          "# Label of split_by_shape: help for split_by_shape (true | false)\nsplit_by_shape = false\n"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find("# Label of detection_image: help for detection_image (one of: OD sum | Hematoxylin OD)\n"
                "detection_image = Hematoxylin OD\n"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("\nnote =\n"), std::string::npos) << "an empty value has no trailing space";
  // A '#' inside double quotes (a stain string's name) is no comment: the file reads back whole.
  p.set("note", R"({"Name" : "My #1 \"best\" # stains", "x" : 1})");
  const std::string with_hash = p.to_text();
  ParamSet r(test_specs());
  r.load_text(with_hash, "hash");
  EXPECT_EQ(r.get_string("note"), R"({"Name" : "My #1 \"best\" # stains", "x" : 1})");
  r.load_text("sigma_um = 0.5  # after a value, '#' still starts a comment\n", "comment");
  EXPECT_DOUBLE_EQ(r.get_double("sigma_um"), 0.5);
  p.set("note", "");
  ParamSet q(test_specs());
  q.load_text(text, "round-trip");
  EXPECT_EQ(q.values(), p.values());
  EXPECT_EQ(q.to_text(), text);
}

}  // namespace
}  // namespace ihc
