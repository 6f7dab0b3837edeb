#!/usr/bin/env bash
# Slides find their results and results their slide, as a pathologist opens them: a batch result folder given
# alone opens with its slide; a slide opened later finds the results under the output folder it was loaded
# from, and the viewer's own ./ihcview-out; results of another slide are refused with both sizes named.
# Usage: viewer_results.sh BIN_DIR WORK_DIR   (needs $DISPLAY: scripts/test runs ctest under xvfb-run)
set -euo pipefail
BIN="$1"
WORK="$2"
trap 'echo "viewer_results.sh: failed at line $LINENO" >&2' ERR
# shellcheck source=tests/gui/common.sh
source "$(dirname "$0")/common.sh"
scored_slide "$BIN" "$WORK" s 11
N=$(python3 -c 'import csv,sys; print(next(csv.DictReader(open(sys.argv[1])))["Num Detections"])' out/summary.csv)
test "$N" -gt 100

count_script() {  # count_script FILE N: a script that waits for the slide and its cells, then checks N cells
  printf 'wait\nexpect-count detections %s\nquit\n' "$2" > "$1"
}
count_script has_cells.txt "$N"
count_script no_cells.txt 0

# 1. A result folder alone opens with its slide (slide.json's source, relative to run.json's working directory),
#    from another directory.
mkdir -p elsewhere
(cd elsewhere && "$BIN/ihcview" ../out/slides/s --script ../has_cells.txt)
grep -qx "$WORK/out" home/.config/ihcview/results_roots.txt

# 2. The slide alone finds them: the output folder was remembered when they were loaded.
"$BIN/ihcview" s.svs --script has_cells.txt 2> found.err
grep -q "found results for s.svs in $WORK/out/slides/s" found.err
# Looking is not reviewing: no review.json (ihcscore reviewed would call the slide reviewed, and the exports
# would be written); "Save review" with no edit is a sign-off and writes one.
test ! -e out/slides/s/review.json
test ! -e out/slides/s/reviewed_summary.csv
printf 'wait\nsave\nquit\n' > sign_off.txt
"$BIN/ihcview" out/slides/s --script sign_off.txt
test -s out/slides/s/review.json
test -s out/slides/s/reviewed_summary.csv
rm -f out/slides/s/review.json out/slides/s/reviewed_*
# ... unless asked not to look.
"$BIN/ihcview" s.svs --no-results --script no_cells.txt

# 3. Results of another slide are refused, naming the folder and both sizes (cells would be drawn wrong).
"$BIN/ihcscore" synth --width 1000 --height 900 --slide t.svs --layout field --seed 3 > /dev/null 2>&1
expect_exit 2 mismatch.err "$BIN/ihcview" t.svs --results out/slides/s --script no_cells.txt
grep -q "out/slides/s: the cells were detected on s.svs (1600 x 1200 px), not on this slide (1000 x 900 px)" \
  mismatch.err
# A slide never scored finds nothing (the remembered folder holds only s).
"$BIN/ihcview" t.svs --script no_cells.txt 2> none.err
! grep -q "found results" none.err

# 4. Scored in the viewer: ./ihcview-out/t is found on reopening, here and, once remembered, from elsewhere.
printf 'wait\nscore\nwait\nquit\n' > score.txt
"$BIN/ihcview" t.svs --script score.txt
M=$(python3 -c 'import csv,sys; print(sum(1 for _ in csv.DictReader(open(sys.argv[1]))))' ihcview-out/t/cells.csv)
test "$M" -gt 50
count_script t_cells.txt "$M"
"$BIN/ihcview" t.svs --script t_cells.txt
(cd elsewhere && "$BIN/ihcview" ../t.svs --script ../t_cells.txt)
# A copy of the slide elsewhere (same name and bytes) finds them too; another file of that name does not.
mkdir -p copy other
cp t.svs copy/t.svs
(cd elsewhere && "$BIN/ihcview" ../copy/t.svs --script ../t_cells.txt)
cp s.svs other/t.svs
(cd elsewhere && "$BIN/ihcview" ../other/t.svs --script ../no_cells.txt)
# Scored in the viewer, that other t.svs gets a folder of its own (t-2); t's results stay t's (before session
# 22 it took ./ihcview-out/t, and t's review with it).
cp ihcview-out/t/cells.csv t_cells_before.csv
"$BIN/ihcview" other/t.svs --script score.txt
cmp ihcview-out/t/cells.csv t_cells_before.csv
grep -q '"image": "t-2"' ihcview-out/t-2/slide.json
grep -q '"source": ".*/other/t.svs"' ihcview-out/t-2/slide.json
"$BIN/ihcview" t.svs --script t_cells.txt
# 5. Another slide opened after a slide with results: scoring it never writes into the first one's folder.
cp out/slides/s/cells.csv s_cells_before.csv
rm -rf ihcview-out/t
printf 'wait\nopen t.svs\nwait\nscore\nwait\nquit\n' > switch.txt
"$BIN/ihcview" s.svs --script switch.txt
cmp out/slides/s/cells.csv s_cells_before.csv
test -s ihcview-out/t/cells.csv

# 6. Results of another slide loaded by hand (the script's `results`, as Open results... does) open their own
#    slide first.
printf 'wait\nresults out/slides/s\nwait\nexpect-count detections %s\nquit\n' "$N" > other.txt
"$BIN/ihcview" t.svs --no-results --script other.txt
# ... and so does choosing them in the browser (Open results..., the folder's name typed, Enter).
printf 'wait\nbrowse results %s\ntype s\npress enter\nwait\nexpect-count detections %s\nquit\n' "$WORK/out/slides" "$N" \
  > browsed.txt
"$BIN/ihcview" t.svs --no-results --script browsed.txt
# 7. Results are read off the UI thread: frames are drawn while the cells are read (before session 17 the
#    viewer froze while a chosen folder's cells.geojson was parsed: seconds for a whole slide).
"$BIN/ihcview" t.svs --no-results --script other.txt > other.out
grep -Eq "^cells loaded: $N, .*, [1-9][0-9]* frames drawn while reading" other.out

# 8. A correction made while the slide is re-scored survives the reload of the new cells (the review.json saved
#    when the job started did not hold it, and reading it replaced the live review).
read -r CX CY < <(negative_near_centre out/slides/s/cells.csv)
cat > during.txt <<EOS
wait
center $CX $CY 0.5
frames 3
wait
expect-class-at 460 387 Negative
mouse 460 387
score nowait
key 3
frames 2
expect-class-at 460 387 3+
wait
expect-class-at 460 387 3+
quit
EOS
"$BIN/ihcview" s.svs --script during.txt > during.out 2> during.err
grep -q "frames drawn while reading" during.out
grep -q '"class": "3+"' out/slides/s/review.json
# The correction was made while the job ran: before its cells were written.
python3 - out/slides/s <<'PY'
import datetime, json, os, sys
d = sys.argv[1]
edit = json.load(open(os.path.join(d, "review.json")))["log"][-1]["time"]
edit_t = datetime.datetime.strptime(edit, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
cells_t = os.path.getmtime(os.path.join(d, "cells.csv"))
assert edit_t < cells_t, f"the correction ({edit}) was made after the job wrote its cells"
PY
# 9. reviewed_cells.geojson is written off the UI thread; a write that fails still says so, naming the file, and
#    is tried again on quitting (a folder in its place makes the rename fail, even for root).
rm -f out/slides/s/reviewed_cells.geojson
mkdir out/slides/s/reviewed_cells.geojson
printf 'wait\ncenter %s %s 0.5\nframes 3\nwait\nmouse 460 387\nkey delete\nframes 2\nsave\nwait\nquit\n' "$CX" "$CY" \
  > fail.txt
"$BIN/ihcview" s.svs --script fail.txt 2> fail.err
test "$(grep -c "ihcview: Save failed: .*out/slides/s/reviewed_cells.geojson: cannot rename temporary file into place: Is a directory" fail.err)" -eq 2
grep -q '"false_detection": true' out/slides/s/review.json  # the review itself was saved
rmdir out/slides/s/reviewed_cells.geojson
# 10. Re-scored into the batch's folder with other thresholds, the slide's scores are no longer summary.csv's row:
#     the viewer says so (Slide panel, log) and points to ihcscore reviewed, which reports them. The same
#     scores again (step 8 re-scored with the batch's parameters) are not flagged.
! grep -q "re-scored since" during.err fail.err 2> /dev/null
printf 'wait\nthresholds 0.3 0.5 0.7\nscore\nwait\nscreenshot %s\nquit\n' "$WORK/rescored.png" > rescore.txt
"$BIN/ihcview" s.svs --script rescore.txt 2> rescore.err
grep -q "ihcview: $WORK/out/slides/s was re-scored since $WORK/out/summary.csv was written; ihcscore reviewed $WORK/out reports its current scores" rescore.err
"$BIN/ihcscore" reviewed out > reviewed.out
grep -q "re-scored since summary.csv" reviewed.out
# 11. Results scored with --roi show the batch's regions (black, as overlay.png draws them), whose cells are the
#     ones counted; the ROI path is relative to the batch's directory. A missing ROI file is said, the cells
#     still show.
mkdir -p batch
printf '%s' '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Tumour"},
  "geometry":{"type":"Polygon","coordinates":[[[400,300],[1200,300],[1200,900],[400,900],[400,300]]]}}]}' \
  > batch/roi.geojson
(cd batch && "$BIN/ihcscore" score ../s.svs -o outroi --roi roi.geojson > /dev/null 2>&1)
R=$(python3 -c 'import csv,sys; print(next(csv.DictReader(open(sys.argv[1])))["Num Detections"])' batch/outroi/summary.csv)
test "$R" -gt 10 && test "$R" -lt "$N"
# Slide point (400, 600), on the region's left edge, at the canvas centre (460, 387) at 2 screen px per px.
printf 'wait
center 400 600 0.5
frames 2
wait
expect-count detections %s
expect-pixel 460 387 000000 60
thresholds 0.25 0.45 0.65
save
quit
' \
  "$R" > roi.txt
(cd elsewhere && "$BIN/ihcview" ../batch/outroi/slides/s --script ../roi.txt 2> ../roi.err)
! grep -q "batch regions not shown" roi.err
# The saved review has the batch's region with the new grading, as `ihcscore reviewed` computes it.
grep -q '^s,Tumour,' batch/outroi/slides/s/reviewed_regions.csv
"$BIN/ihcscore" reviewed batch/outroi > /dev/null
diff <(tail -n +2 batch/outroi/slides/s/reviewed_regions.csv) <(tail -n +2 batch/outroi/reviewed_regions.csv)
! diff -q <(cut -d, -f1-7 batch/outroi/regions.csv) <(cut -d, -f1-7 batch/outroi/reviewed_regions.csv) > /dev/null
mv batch/roi.geojson batch/roi.moved
printf 'wait
expect-count detections %s
quit
' "$R" > roigone.txt
"$BIN/ihcview" batch/outroi/slides/s --script roigone.txt 2> roigone.err
grep -q "ihcview: batch regions not shown: cannot open GeoJSON file '$WORK/batch/roi.geojson': No such file" roigone.err
# 12. An image without a pixel size, scored with --mpp: the viewer takes the batch's pixel size (slide.json), so
#     lengths are in um, the reviewed row has the batch's mpp, and re-scoring gives the batch's cells (before
#     session 19 it re-detected in pixels: other cells, in the batch's folder). Alone, `ihcview --mpp` does the same.
"$BIN/ihcscore" synth --kind nuclear --width 800 --height 600 --seed 5 -o phys.png --truth phys.csv > /dev/null 2>&1
python3 - phys.png nomp.png <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
out, i = bytearray(data[:8]), 8
while i < len(data):
    n = struct.unpack(">I", data[i:i + 4])[0]
    if data[i + 4:i + 8] != b"pHYs":
        out += data[i:i + 12 + n]
    i += 12 + n
open(sys.argv[2], "wb").write(out)
PY
"$BIN/ihcscore" info nomp.png | grep -q "^mpp: unknown"
"$BIN/ihcscore" score nomp.png -o outmpp --mpp 0.5 > /dev/null 2>&1
cp outmpp/slides/nomp/cells.csv nomp_batch_cells.csv
# The cursor position, in um, with the pointer on the slide (the canvas centre; beside the slide it shows none).
printf 'wait\nmouse 460 387\nexpect-status um, y:\nsave\nscore\nwait\nquit\n' > mpp.txt
"$BIN/ihcview" outmpp/slides/nomp --script mpp.txt
cmp nomp_batch_cells.csv outmpp/slides/nomp/cells.csv
test "$(python3 -c 'import csv,sys; print(next(csv.DictReader(open(sys.argv[1])))["mpp"])' \
  outmpp/slides/nomp/reviewed_summary.csv)" = 0.5
printf 'wait\nscore\nwait\nquit\n' > score_alone.txt
"$BIN/ihcview" nomp.png --mpp 0.5 --no-results --script score_alone.txt
cmp nomp_batch_cells.csv ihcview-out/nomp/cells.csv
grep -q '"mpp_source": "--mpp"' ihcview-out/nomp/slide.json
# edit_then_take_folder SCRIPT ERR: runs the viewer on s.svs with SCRIPT in the background ($viewer), and once
# the script's edited.png says the edit is made, swaps the results folder for a file (as a share gone away).
wait_for_file() { for _ in $(seq 1 1200); do [ -s "$1" ] && break; sleep 0.05; done; }
edit_then_take_folder() {
  "$BIN/ihcview" s.svs --results out/slides/s --autosave 100000 --script "$1" 2> "$2" &
  viewer=$!
  wait_for_file edited.png
  mv out/slides/s out/slides/s.away
  touch out/slides/s
}
give_folder_back() {
  rm out/slides/s
  mv out/slides/s.away out/slides/s
}
# 13. A results folder that can no longer be written (a share gone read-only, a full disk, the folder moved away
#     while open) does not lose the review: it is kept under the user's data folder, and opening the results
#     again restores it into the folder (before session 20 quitting lost it, with one line on stderr). The
#     folder is swapped for a file once the edit is made (the screenshot says when); no autosave before that.
export XDG_DATA_HOME="$WORK/data"
rm -f out/slides/s/review.json edited.png
printf 'wait\nselect-class Negative\nkey 3\nscreenshot edited.png\nframes 400\nquit\n' > away.txt
edit_then_take_folder away.txt away.err
wait "$viewer"
grep -q "ihcview: Could not save the review in out/slides/s (.*); it is kept in $WORK/data/ihcview/unsaved-reviews/s-[0-9a-f]*\.json, and opening these results again restores it" away.err
rescue=$(ls "$WORK"/data/ihcview/unsaved-reviews/s-*.json)
grep -q '"class": "3+"' "$rescue"
give_folder_back
test ! -e out/slides/s/review.json
printf 'wait\nframes 3\nquit\n' > back.txt
"$BIN/ihcview" s.svs --results out/slides/s --script back.txt 2> back.err
grep -q "ihcview: Restored the review kept in $rescue (this results folder could not be written when it was saved)" back.err
grep -q '"class": "3+"' out/slides/s/review.json
test ! -e "$rescue"
# 14. When the review can be saved nowhere (the results folder and the rescue folder both refuse it), closing the
#     window does not lose it: the window stays with a dialog (before session 21 it closed and the corrections
#     were gone). "Try again" saves once the folder is back; "Quit without saving" is the user's own choice.
touch "$WORK/not-a-folder"
export XDG_DATA_HOME="$WORK/not-a-folder/data"
rm -f out/slides/s/review.json edited.png dialog.png
printf 'wait\nselect-class Negative\nkey 2\nscreenshot edited.png\nframes 400\nclose\nframes 5\nscreenshot dialog.png\nframes 400\npress enter\nframes 600\nquit\n' > nowhere.txt
edit_then_take_folder nowhere.txt nowhere.err
wait_for_file dialog.png
grep -q "ihcview: not closing: the review could not be saved (.*rescue copy failed too" nowhere.err
kill -0 "$viewer"  # still open
give_folder_back
wait "$viewer"
grep -q '"class": "2+"' out/slides/s/review.json
test -s out/slides/s/reviewed_summary.csv
# The dialog is drawn over the view: a patch of the window's middle right of its text is its dark background
# (2309 of 2400 pixels when written; the slide there has 258 that dark).
test "$(count_colour dialog.png 860 410 940 440 151515 16)" -ge 2000
test "$(count_colour edited.png 860 410 940 440 151515 16)" -lt 1000
# "Quit without saving": the user's choice, said on stderr; the folder's review stays as it was.
cp out/slides/s/review.json kept.json
rm -f edited.png dialog.png
printf 'wait\nselect-class 2+\nkey 1\nscreenshot edited.png\nframes 400\nclose\nframes 5\nscreenshot dialog.png\npress ctrl+d\nframes 600\nquit\n' > discard.txt
edit_then_take_folder discard.txt discard.err
wait "$viewer"
give_folder_back
grep -q "ihcview: not closing: the review could not be saved" discard.err
grep -q "ihcview: quit without saving the review (" discard.err
cmp kept.json out/slides/s/review.json
unset XDG_DATA_HOME
echo "viewer_results: result folders open their slide ($N cells), slides find their results ($M), mismatch refused"
