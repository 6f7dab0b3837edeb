#!/usr/bin/env bash
# The Review panel's controls do what they read as, and say what they did (probe 7): the class buttons set the
# class of the selection, as the keys do; selecting a whole class is its own control and the next class key
# says how many cells it changed; the status line never keeps an older selection's count.
# Usage: viewer_review_controls.sh BIN_DIR WORK_DIR   (needs $DISPLAY: scripts/test runs ctest under xvfb-run)
set -euo pipefail
BIN="$1"
WORK="$2"
trap 'echo "viewer_review_controls.sh: failed at line $LINENO" >&2' ERR
# shellcheck source=tests/gui/common.sh
source "$(dirname "$0")/common.sh"
scored_slide "$BIN" "$WORK" s 11
RES=out/slides/s
column() { python3 -c 'import csv,sys; print(next(csv.DictReader(open(sys.argv[1])))[sys.argv[2]])' "$1" "$2"; }
NEG=$(column out/summary.csv "Num Negative")
TWO=$(column out/summary.csv "Num 2+")
THREE=$(column out/summary.csv "Num 3+")
test "$NEG" -gt 10

# 1. A class button sets the selected cell, not every cell of its class (it selected all 2+ cells, and the next
#    key reclassified them: "49 cell(s) set to 1+", the status line still "1 cell(s) selected"). Without a
#    selection it says how to make one and changes nothing. "Select all cells of class" selects the combo's class
#    (Negative first) and says so; a key then says how many cells it set; Ctrl+Z undoes them all.
read -r CX CY < <(negative_near_centre "$RES/cells.csv")
cat > classes.txt <<EOS
wait
center $CX $CY 0.5
frames 2
wait
click 460 387
expect-count selected 1
widget 2+
expect-count selected 1
expect-class-at 460 387 2+
expect-count 2+ $((TWO + 1))
expect-count Negative $((NEG - 1))
expect-status 1 cell set to 2+
select-none
expect-status Selection cleared
widget 3+
expect-status No cell selected: click a cell
expect-count 3+ $THREE
widget Select all cells of class
expect-count selected $((NEG - 1))
expect-status $((NEG - 1)) cells of Negative selected: a class key or button now sets all $((NEG - 1))
mouse 5 5
key 1
expect-status $((NEG - 1)) selected cells set to 1+ ($((NEG - 1)) changed; Ctrl+Z undoes)
expect-count Negative 0
key ctrl+z
expect-count Negative $((NEG - 1))
expect-class-at 460 387 2+
widget Select borderline
expect-no-status cells of Negative selected
screenshot review_panel.png
quit
EOS
"$BIN/ihcview" s.svs --results "$RES" --autosave 100000 --script classes.txt
# An unknown widget fails the script (a renamed button must not pass unnoticed).
printf 'wait\nwidget No such button\nquit\n' > unknown.txt
expect_exit 3 unknown.err "$BIN/ihcview" s.svs --results "$RES" --script unknown.txt
grep -q "unknown.txt:2: widget: no widget 'No such button' is shown" unknown.err

# 2. Ctrl+S saves the review as "Save review" does (review.json and the reviewed exports, signed off), where it
#    panned the view down and saved nothing. Ctrl+letter never falls through to the plain key: Ctrl+3 set the
#    cell under the pointer, Ctrl+H hid the cells, Ctrl+E went to the next cell (probe 7).
rm -f "$RES"/review.json "$RES"/reviewed_*
cat > ctrl.txt <<EOS
wait
center $CX $CY 0.5
display fill
opacity 1
frames 2
wait
mouse 460 387
key ctrl+3
expect-class-at 460 387 Negative
key ctrl+h
key ctrl+e
key ctrl+d
key ctrl+w
frames 2
expect-pixel 460 387 7070E1 3
expect-count selected 0
key ctrl+s
wait
expect-status Saved the review to $RES (review.json, reviewed_cells.geojson, reviewed_summary.csv)
expect-pixel 460 387 7070E1 3
quit
EOS
"$BIN/ihcview" s.svs --results "$RES" --autosave 100000 --script ctrl.txt
test -s "$RES/review.json"
test "$(column "$RES/reviewed_summary.csv" "Num Negative")" = "$NEG"
test -s "$RES/reviewed_cells.geojson"

# 3. "Score whole slide" over a batch's results asks first, naming the folder; Cancel is the default (Enter and Esc),
#    and the batch's files stay as they were (one click rewrote cells.csv, cells.geojson, overlay.png and
#    slide.json, with no undo: probe 7). "Replace the results and score" scores.
stamp() { stat -c '%i %Y %s' "$RES/cells.csv" "$RES/cells.geojson" "$RES/overlay.png" "$RES/slide.json"; }
BEFORE=$(stamp)
rm -f ask.png asked_enter.png
cat > rescore_cancel.txt <<EOS
wait
widget Score whole slide
frames 3
screenshot ask.png
press enter
frames 3
expect-status Not scored: $RES is as it was
screenshot asked_enter.png
widget Score whole slide
frames 3
press escape
frames 3
widget Score drawn regions
frames 3
widget Cancel (Enter, Esc)
frames 3
quit
EOS
"$BIN/ihcview" s.svs --results "$RES" --script rescore_cancel.txt 2> rescore_cancel.err
test "$(stamp)" = "$BEFORE"
test "$(grep -c "ihcview: asks before scoring into $RES" rescore_cancel.err)" = 3
# The question is a modal over the view (ImGui's dark window background over the light slide), gone once
# cancelled.
test "$(count_colour ask.png 400 380 880 420 242424 12)" -ge 5000
test "$(count_colour asked_enter.png 400 380 880 420 242424 12)" -lt 1000
printf 'wait
widget Score whole slide
frames 3
widget Replace the results and score
wait
quit
' > rescore.txt
"$BIN/ihcview" s.svs --results "$RES" --script rescore.txt
test "$(stamp)" != "$BEFORE"

# 4. The intensity override starts at the automatic intensity, not at 0: a reason and a click override nothing
#    by mistake (it gave IxP 0 on a slide 83 % positive: probe 7).
AUTO=$(column out/summary.csv "Intensity score")
test "$AUTO" -gt 0
rm -f "$RES"/review.json
printf 'wait
widget Reason
type weak staining
widget Override intensity
save
quit
' > override.txt
"$BIN/ihcview" s.svs --results "$RES" --script override.txt
python3 - "$RES/review.json" "$AUTO" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))["intensity_override"]
assert o["active"] and o["reason"] == "weak staining", o
assert o["score"] == int(sys.argv[2]), ("the override did not start at the automatic intensity", o, sys.argv[2])
PY
echo "viewer_review_controls: class buttons set the selection; bulk changes are counted; Ctrl+S saves;" \
  "re-scoring asks; the override starts at the automatic intensity"
