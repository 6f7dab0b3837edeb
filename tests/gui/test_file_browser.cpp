#include "gui/file_browser.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "support/test_support.hpp"

namespace ihc::gui {
namespace {

namespace fs = std::filesystem;

void touch(const fs::path& p, std::size_t bytes = 0) { std::ofstream(p) << std::string(bytes, 'x'); }

std::vector<std::string> names(const FolderListing& l) {
  std::vector<std::string> out;
  for (const auto& e : l.entries) out.push_back(e.is_dir ? e.name + "/" : e.name);
  return out;
}

// A folder as a pathologist's looks: slides in any case, results, tables, hidden files.
// A folder of this test's own: ctest runs the tests of this file in parallel processes, and one shared folder
// was emptied by one test while another listed it.
fs::path sample_folder() {
  const fs::path d = test::temp_dir(std::string("file_browser_") +
                                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::create_directories(d / "Zeta cases");
  fs::create_directories(d / "alpha");
  fs::create_directories(d / ".cache");
  touch(d / "b.svs", 2048);
  touch(d / "A.NDPI");
  touch(d / "c.png");
  touch(d / "notes.csv");
  touch(d / "run.params");
  touch(d / ".hidden.svs");
  return d;
}

TEST(FileBrowser, ListsFoldersFirstThenOfferedFilesByNameIgnoringCase) {
  const fs::path d = sample_folder();
  const FolderListing l = list_folder(d, BrowseFor::Slide, false);
  EXPECT_EQ(l.error, "");
  EXPECT_EQ(l.dir, fs::absolute(d).lexically_normal());
  EXPECT_EQ(names(l), (std::vector<std::string>{"alpha/", "Zeta cases/", "A.NDPI", "b.svs", "c.png"}));
  EXPECT_EQ(l.entries[3].size, 2048u);
  EXPECT_EQ(l.entries[0].size, 0u);
}

TEST(FileBrowser, EachPurposeOffersItsFilesAndAllFilesShowsEveryOne) {
  const fs::path d = sample_folder();
  EXPECT_EQ(names(list_folder(d, BrowseFor::LoadParams, false)),
            (std::vector<std::string>{"alpha/", "Zeta cases/", "run.params"}));
  EXPECT_EQ(names(list_folder(d, BrowseFor::Slide, true)),
            (std::vector<std::string>{"alpha/", "Zeta cases/", "A.NDPI", "b.svs", "c.png", "notes.csv",
                                      "run.params"}));
  touch(d / "alpha" / "cells.geojson");
  touch(d / "alpha" / "overlay.png");
  EXPECT_EQ(names(list_folder(d / "alpha", BrowseFor::Results, false)),
            (std::vector<std::string>{"cells.geojson"}));
}

TEST(FileBrowser, AMissingFolderIsReportedWithItsName) {
  const fs::path d = test::temp_dir("file_browser_missing");
  const FolderListing l = list_folder(d / "gone", BrowseFor::Slide, false);
  EXPECT_TRUE(l.entries.empty());
  EXPECT_EQ(l.error, (d / "gone").string() + ": cannot be listed: No such file or directory");
}

TEST(FileBrowser, TypedNamesResolveAgainstTheFolderShown) {
  setenv("HOME", "/home/path", 1);
  EXPECT_EQ(resolve_typed("/data/slides", "a.svs"), fs::path("/data/slides/a.svs"));
  EXPECT_EQ(resolve_typed("/data/slides", "  ../other/b.svs "), fs::path("/data/other/b.svs"));
  EXPECT_EQ(resolve_typed("/data/slides", "/abs/c.svs"), fs::path("/abs/c.svs"));
  EXPECT_EQ(resolve_typed("/data/slides", "~/d.svs"), fs::path("/home/path/d.svs"));
  EXPECT_EQ(resolve_typed("/data/slides", "~"), fs::path("/home/path"));
  EXPECT_EQ(resolve_typed("/data/slides", "sub/"), fs::path("/data/slides/sub"));
  EXPECT_EQ(resolve_typed("/data/slides", "   "), fs::path());
}

TEST(FileBrowser, ChoicesAreCheckedForWhatTheyAreFor) {
  const fs::path d = sample_folder();
  EXPECT_EQ(check_choice(d / "b.svs", BrowseFor::Slide), "");
  EXPECT_EQ(check_choice(d / "x.svs", BrowseFor::Slide), (d / "x.svs").string() + ": no such file");
  EXPECT_EQ(check_choice(d / "alpha", BrowseFor::LoadParams),
            (d / "alpha").string() + ": is a folder, not a file");
  EXPECT_EQ(check_choice(d / "alpha", BrowseFor::Results),
            (d / "alpha").string() +
                ": not a results folder (no cells.geojson or cells.csv; ihcscore score writes them in "
                "OUT/slides/<id>)");
  touch(d / "alpha" / "cells.csv");
  EXPECT_EQ(check_choice(d / "alpha", BrowseFor::Results), "");
  EXPECT_EQ(check_choice(d / "b.svs", BrowseFor::Results),
            (d / "b.svs").string() + ": is a file, not a results folder");
  EXPECT_EQ(check_choice(d / "new.params", BrowseFor::SaveParams), "");
  EXPECT_EQ(check_choice(d / "run.params", BrowseFor::SaveParams), "");  // replaced, after a second click
  EXPECT_EQ(check_choice(d / "nope" / "new.params", BrowseFor::SaveParams),
            (d / "nope").string() + ": no such folder");
  EXPECT_EQ(check_choice(d / "alpha", BrowseFor::SaveParams),
            (d / "alpha").string() + ": is a folder, not a file");
  EXPECT_EQ(check_choice("", BrowseFor::Slide), "no file chosen");
}

TEST(FileBrowser, TheChoiceIsTheTypedNameElseTheSelection) {
  const fs::path d = sample_folder();
  FileBrowser b;
  start_browsing(b, BrowseFor::Slide, d / "b.svs");  // a file: its folder is shown
  EXPECT_TRUE(b.visible);
  EXPECT_TRUE(b.opening);
  EXPECT_EQ(b.listing.dir, fs::absolute(d).lexically_normal());
  EXPECT_EQ(b.typed, "");  // opening names no file until one is picked
  EXPECT_EQ(current_choice(b), fs::path());
  b.selected = 0;  // a folder is entered, not opened
  EXPECT_EQ(current_choice(b), fs::path());
  b.selected = 3;
  EXPECT_EQ(current_choice(b), b.listing.dir / "b.svs");
  b.typed = "c.png";
  EXPECT_EQ(current_choice(b), b.listing.dir / "c.png");

  b.focus_name = false;
  enter_folder(b, d / "alpha");
  EXPECT_EQ(b.listing.dir, fs::absolute(d / "alpha").lexically_normal());
  EXPECT_EQ(b.selected, -1);
  EXPECT_TRUE(b.focus_name);  // typing goes on in the name field
  b.focus_name = false;
  enter_folder(b, d / "gone");  // refused: the listing stays
  EXPECT_FALSE(b.focus_name);
  EXPECT_EQ(b.listing.dir, fs::absolute(d / "alpha").lexically_normal());
  EXPECT_EQ(b.error, fs::absolute(d / "gone").lexically_normal().string() +
                         ": cannot be listed: No such file or directory");

  FileBrowser r;
  start_browsing(r, BrowseFor::Results, d);     // a folder: shown itself
  EXPECT_EQ(current_choice(r), r.listing.dir);  // nothing picked: the folder shown
  r.selected = 0;
  EXPECT_EQ(current_choice(r), r.listing.dir / "alpha");

  FileBrowser s;
  start_browsing(s, BrowseFor::SaveParams, d / "ihcview.params");  // saving names the file to write
  EXPECT_EQ(s.typed, "ihcview.params");
  EXPECT_EQ(current_choice(s), s.listing.dir / "ihcview.params");
  s.replace = current_choice(s);  // told it exists; browsing again asks again
  start_browsing(s, BrowseFor::SaveParams, d / "ihcview.params");
  EXPECT_EQ(s.replace, fs::path());
}

TEST(FileBrowser, StartsInTheWorkingFolderWhenTheStartIsGone) {
  FileBrowser b;
  start_browsing(b, BrowseFor::LoadParams, "/no/such/folder/x.params");
  EXPECT_EQ(b.listing.dir, fs::current_path());
}

TEST(FileBrowser, SizesReadAsAFileManagerShowsThem) {
  EXPECT_EQ(size_label(0), "0 B");
  EXPECT_EQ(size_label(1023), "1023 B");
  EXPECT_EQ(size_label(1024), "1.0 KB");
  EXPECT_EQ(size_label(2000000), "1.9 MB");
  EXPECT_EQ(size_label(400ull * 1024 * 1024), "400 MB");
  EXPECT_EQ(size_label(3ull * 1024 * 1024 * 1024), "3.0 GB");
}

}  // namespace
}  // namespace ihc::gui
