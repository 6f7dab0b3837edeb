#include "gui/status_line.hpp"

#include <gtest/gtest.h>

namespace ihc::gui {
namespace {

// ProggyClean, the viewer's font: 7 px per character.
float mono(const std::string& s) { return 7.0f * static_cast<float>(s.size()); }

const StatusParts kSaveFailed{
    "ds 0.98 | ", "x: 221.5 um, y: 212.1 um | ", "889 cells: 8.1 % positive, H-score 12.4, IxP 8.1 | ",
    "tiles 0 pending, cache 16 MB, tex 22 MB | 3.2 ms | ",
    "Save failed: outD/slides/OS-2-ndpi.pyramid/review.json: cannot rename temporary file into place: Is a "
    "directory; and the rescue copy failed too: /tmp/probe1/afile/ihcview/unsaved-reviews: cannot create "
    "directory: '/tmp/probe1/afile' is a file, not a directory"};

TEST(StatusLine, AWholeLineThatFitsIsShownAsItIs) {
  const StatusParts p{"10.0x | ", "x: 1.0 um, y: 2.0 um | ", "", "tiles 0 pending | 3.1 ms | ",
                      "Opened a.svs"};
  EXPECT_EQ(fit_status(p, 1280, mono), p.whole());
}

TEST(StatusLine, TheFiguresGoFirstThenThePositionThenPathsAreShortened) {
  const StatusParts p{"10.0x | ", "x: 1.0 um, y: 2.0 um | ", "", "tiles 0 pending, cache 5 MB | 3.1 ms | ",
                      "Loaded 2114 cells found for this slide in /data/batches/2024/out/slides/a"};
  const float without_figures = mono(p.view + p.position + p.message);
  EXPECT_EQ(fit_status(p, without_figures, mono), p.view + p.position + p.message);
  EXPECT_EQ(fit_status(p, without_figures - 1, mono), p.view + p.message);
  EXPECT_EQ(fit_status(p, mono(p.view + p.message) - 1, mono),
            "10.0x | Loaded 2114 cells found for this slide in .../a");
}

TEST(StatusLine, PathsKeepTheirLastPartAndThePunctuationAroundThem) {
  EXPECT_EQ(shorten_paths("Save failed: out/slides/s/review.json: Is a directory"),
            "Save failed: .../review.json: Is a directory");
  EXPECT_EQ(shorten_paths("cannot create directory: '/tmp/probe1/afile' is a file"),
            "cannot create directory: '.../afile' is a file");
  EXPECT_EQ(shorten_paths("(/a/b/c.svs), see https://example.org/x and /tmp or out/"),
            "(.../c.svs), see https://example.org/x and /tmp or out/");
}

// A save failure keeps its reason in sight: the message's start and end stay, its middle goes.
TEST(StatusLine, ALongSaveFailureIsCutInTheMiddleKeepingWhy) {
  for (const float width : {1600.0f - 16, 1280.0f - 16, 1100.0f - 16}) {
    const std::string shown = fit_status(kSaveFailed, width, mono);
    EXPECT_LE(mono(shown), width) << shown;
    EXPECT_EQ(shown.rfind(kSaveFailed.view + kSaveFailed.scores + "Save failed: .../review.json: ", 0), 0u)
        << shown;
    EXPECT_NE(shown.find("..."), std::string::npos) << shown;
    EXPECT_EQ(shown.substr(shown.size() - 26), "is a file, not a directory") << shown;
  }
}

TEST(StatusLine, ElisionKeepsWholeUtf8Characters) {
  const std::string text = "Opened \xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9.svs";
  for (float w = 30; w < mono(text); w += 7) {
    const std::string shown = elide_middle(text, w, mono);
    const std::size_t dots = shown.find("...");
    ASSERT_NE(dots, std::string::npos);
    EXPECT_NE(static_cast<unsigned char>(shown[dots + 3]) & 0xC0, 0x80) << shown;
    EXPECT_NE(static_cast<unsigned char>(shown[dots - 1]) & 0xE0, 0xC0) << shown;  // no lead byte alone
  }
}

}  // namespace
}  // namespace ihc::gui
