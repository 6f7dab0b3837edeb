#!/usr/bin/env bash
# The review is never lost or overwritten without a word: leaving a slide for another saves it as quitting does
# (review.json and the reviewed exports) or asks, as quitting asks, when it can be saved nowhere; a folder that
# refuses it is tried again at the autosave interval and said once; a review.json another viewer saved since
# it was read is kept, ours written beside it.
# Usage: viewer_review_safety.sh BIN_DIR WORK_DIR   (needs $DISPLAY: scripts/test runs ctest under xvfb-run)
set -euo pipefail
BIN="$1"
WORK="$2"
trap 'echo "viewer_review_safety.sh: failed at line $LINENO" >&2' ERR
# shellcheck source=tests/gui/common.sh
source "$(dirname "$0")/common.sh"
scored_slide "$BIN" "$WORK" s 11
"$BIN/ihcscore" synth --width 1000 --height 900 --slide t.svs --layout field --seed 3 > /dev/null 2>&1
"$BIN/ihcscore" score t.svs -o outt > /dev/null 2>&1
S=out/slides/s
NEG=$(python3 -c 'import csv,sys; print(next(csv.DictReader(open(sys.argv[1])))["Num Negative"])' out/summary.csv)
test "$NEG" -gt 10
T_CELLS=$(python3 -c 'import csv,sys; print(next(csv.DictReader(open(sys.argv[1])))["Num Detections"])' outt/summary.csv)
# column CSV NAME: the first row's NAME.
column() { python3 -c 'import csv,sys; print(next(csv.DictReader(open(sys.argv[1])))[sys.argv[2]])' "$1" "$2"; }

# 1. Leaving a slide writes what quitting writes: review.json and the reviewed exports, stale ones replaced (before
#    session 25 only review.json was written; the exports kept the last sign-off's Negative cells, or were never
#    written). By `open` (Ctrl+O, the browser, a dropped slide) and by `results` (Open results...).
printf 'wait\nsave\nquit\n' > sign_off.txt
"$BIN/ihcview" s.svs --results "$S" --script sign_off.txt
test "$(column "$S/reviewed_summary.csv" "Num Negative")" = "$NEG"
printf 'wait\nselect-class Negative\nkey 3\nopen t.svs\nwait\nquit\n' > leave_open.txt
"$BIN/ihcview" s.svs --results "$S" --autosave 100000 --script leave_open.txt
test "$(column "$S/reviewed_summary.csv" "Num Negative")" = 0
python3 - "$S/reviewed_cells.geojson" <<'PY'
import json, sys
classes = [f["properties"]["classification"]["name"] for f in json.load(open(sys.argv[1]))["features"]]
assert "Negative" not in classes and classes.count("3+") > 10, sorted(set(classes))
PY
rm -f "$S"/review.json "$S"/reviewed_*
printf 'wait\nselect-class Negative\nkey 2\nresults outt/slides/t\nwait\nexpect-count detections %s\nquit\n' \
  "$T_CELLS" > leave_results.txt
"$BIN/ihcview" s.svs --results "$S" --autosave 100000 --script leave_results.txt
grep -q '"class": "2+"' "$S/review.json"
test "$(column "$S/reviewed_summary.csv" "Num Negative")" = 0
test -s "$S/reviewed_cells.geojson"
rm -f "$S"/review.json "$S"/reviewed_*

# The results folder is swapped for a file once the script's edit is made (its screenshot says when), as a share
# gone away; no rescue folder either (XDG_DATA_HOME under a file): the review can be saved nowhere.
wait_for_file() { for _ in $(seq 1 1200); do [ -s "$1" ] && break; sleep 0.05; done; }
take_folder() {
  wait_for_file "$1"
  mv "$S" "$S.away"
  touch "$S"
}
give_folder_back() {
  rm "$S"
  mv "$S.away" "$S"
}
touch "$WORK/not-a-folder"
export XDG_DATA_HOME="$WORK/not-a-folder/data"

# 2. Leaving a review that can be saved nowhere asks, as quitting does (before session 25 the slide was switched
#    and the corrections were gone). "Keep reviewing" (Esc) stays on the slide with the corrections; asked again,
#    "Try again" (Enter) once the folder is back saves it, exports included, and opens the other slide.
rm -f edited.png asked.png kept.png asked2.png
cat > unsaved_open.txt <<EOS
wait
select-class Negative
key 1
screenshot edited.png
frames 150
open t.svs
frames 5
screenshot asked.png
press escape
frames 5
expect-count Negative 0
screenshot kept.png
open t.svs
frames 5
screenshot asked2.png
frames 150
press enter
frames 100
press enter
frames 100
press enter
wait
expect-count detections $T_CELLS
quit
EOS
"$BIN/ihcview" s.svs --results "$S" --autosave 100000 --script unsaved_open.txt 2> unsaved_open.err &
viewer=$!
take_folder edited.png
wait_for_file asked2.png
kill -0 "$viewer"  # still open, asking
give_folder_back
wait "$viewer"
grep -q "ihcview: not leaving out/slides/s: the review could not be saved (.*rescue copy failed too" unsaved_open.err
grep -q '"class": "1+"' "$S/review.json"
test "$(column "$S/reviewed_summary.csv" "Num Negative")" = 0
# The dialog is drawn over the view (as tests/gui/viewer_results.sh step 14 checks it on quitting).
test "$(count_colour asked.png 860 410 940 440 151515 16)" -ge 2000
test "$(count_colour kept.png 860 410 940 440 151515 16)" -lt 1000
rm -f "$S"/review.json "$S"/reviewed_*

# 3. "Leave without saving" (Ctrl+D) is the user's choice, said on stderr; the other results open (by `results`).
rm -f edited.png asked.png
printf 'wait\nselect-class Negative\nkey 2\nscreenshot edited.png\nframes 150\nresults outt/slides/t\nframes 5\nscreenshot asked.png\npress ctrl+d\nwait\nexpect-count detections %s\nquit\n' \
  "$T_CELLS" > discard.txt
"$BIN/ihcview" s.svs --results "$S" --autosave 100000 --script discard.txt 2> discard.err &
viewer=$!
take_folder edited.png
wait "$viewer"
give_folder_back
grep -q "ihcview: not leaving out/slides/s: the review could not be saved" discard.err
grep -q "ihcview: left without saving the review (" discard.err
test ! -e "$S/review.json"
test "$(count_colour asked.png 860 410 940 440 151515 16)" -ge 2000

# 4. A folder that refuses the review is tried again at the autosave interval and the failure said once, not at
#    every frame (before session 25: 85 identical lines in 8 s). The status line keeps the reason. The folder
#    goes before the edit: an autosave of the edit must not find it there.
rm -f loaded.png
printf 'wait\nscreenshot loaded.png\nframes 100\nselect-class Negative\nkey 3\nframes 200\nexpect-status Save failed:\nscreenshot failed.png\nframes 100\nquit\n' > retry.txt
"$BIN/ihcview" s.svs --results "$S" --autosave 1 --script retry.txt 2> retry.err &
viewer=$!
take_folder loaded.png
wait "$viewer"
give_folder_back
# 300 frames after the edit (seconds, at least one autosave interval): one line, where every frame added one.
test "$(grep -c "Save failed" retry.err)" = 1
# The status line is not cut at the window's edge (it read "Save failed: out/slides/s: cannot create direc"): its
# words, 7 px characters from x = 8, end with the reason, "... is a file, not a directory", short of the edge.
python3 -c "$PNG_ROWS
rows, w, h, bpp = png_rows('failed.png')
text = lambda x, y: min(rows[y][x * bpp:x * bpp + 3]) >= 200
assert not any(text(x, y) for y in range(h - 26, h) for x in range(w - 8, w)), 'text at the edge'
cells = ''.join('X' if any(text(x, y) for y in range(h - 26, h) for x in range(8 + 7 * i, 15 + 7 * i)) else ' '
                for i in range((w - 15) // 7))
words = [len(t) for t in cells.split()]
assert words[-6:] == [2, 1, 5, 3, 1, 9], cells"
# The same with a folder that is there but refuses the temporary file each save writes first: every try names a
# new one (.review.json.tmp-<pid>-<n>), which is no new failure (it was said again at every autosave, 1200 lines
# an hour). Every name this viewer would try is taken by a folder (as root, a read-only folder refuses nothing).
rm -f loaded.png
printf 'wait\nscreenshot loaded.png\nframes 100\nselect-class Negative\nkey 3\nframes 300\nexpect-status Save failed:\nquit\n' > retry_tmp.txt
"$BIN/ihcview" s.svs --results "$S" --autosave 0.05 --script retry_tmp.txt 2> retry_tmp.err &
viewer=$!
wait_for_file loaded.png
mkdir "$S"/.review.json.tmp-"$viewer"-{0..999}
wait "$viewer"
rm -rf "$S"/.review.json.tmp-*
grep -q "Save failed: $S/review.json: cannot create the temporary file it is written through: Is a directory" \
  retry_tmp.err
test "$(grep -c "Save failed" retry_tmp.err)" = 1 || { cat retry_tmp.err >&2; exit 1; }
unset XDG_DATA_HOME

# 5. Two viewers on the same results: a review.json saved by another since this one read it is not overwritten;
#    this review goes beside it as review.conflict-<time>.json and the status line says so (before session 25 the
#    last save won: the other's corrections and log entries were gone). Exports are left to review.json's owner.
printf 'wait\nselect-class Negative\nkey 1\nsave\nquit\n' > first.txt
"$BIN/ihcview" s.svs --results "$S" --script first.txt
cp "$S/review.json" first_review.json
rm -f ready.png
rm -f conflict.png conflict_ask.png
printf 'wait\nscreenshot ready.png\nframes 600\nselect-class 1+\nkey 3\nsave\nexpect-status was changed by another viewer\npanel Detection close\npanel Thresholds close\npanel Cells close\nframes 2\nscreenshot conflict.png\nclose\nframes 5\nscreenshot conflict_ask.png\npress ctrl+d\nframes 100\nquit\n' > second.txt
"$BIN/ihcview" s.svs --results "$S" --script second.txt 2> second.err &
viewer=$!
wait_for_file ready.png
# Another viewer's save meanwhile: every 1+ set back to 2+ (the same file rewritten and renamed into place).
"$BIN/ihcview" s.svs --results "$S" --script <(printf 'wait\nselect-class 1+\nkey 2\nsave\nquit\n')
wait "$viewer"
grep -q "was changed by another viewer or program since it was read here: not overwritten; this review is saved beside it as review.conflict-" second.err
grep -q '"class": "2+"' "$S/review.json"
! grep -q '"class": "3+"' "$S/review.json"
conflict=$(ls "$S"/review.conflict-*.json)
grep -q '"class": "3+"' "$conflict"
# The exports are the other viewer's (every 1+ of the batch and of the first review now 2+), not this one's.
test "$(column "$S/reviewed_summary.csv" "Num 2+")" = \
  "$(python3 -c 'import csv,sys; r = next(csv.DictReader(open(sys.argv[1]))); print(sum(int(r[k]) for k in ("Num Negative", "Num 1+", "Num 2+")))' out/summary.csv)"
# ... and the conflict stays in sight: in red in the Review panel for the rest of the session (the status line
# had it until the next message), and closing the window asks, as for a review saved nowhere (it closed without
# a word: probe 7); "Quit, both files kept" (Ctrl+D) quits.
test "$(count_colour conflict.png 920 0 1280 774 FF594C 10)" -ge 300
test "$(count_colour conflict_ask.png 860 410 940 440 151515 16)" -ge 1500
grep -q "ihcview: not closing: the review is in $S/review.conflict-.*json, not in review.json" second.err
grep -q "ihcview: quit with the review in $S/review.conflict-" second.err
rm -f "$S"/review.conflict-*.json

# 6. A review.json only touched, or copied back with the same bytes (a backup, rsync, a cloud sync), is no other
#    viewer's save: this session goes on saving into it, exports included (a touch sent every later save to
#    review.conflict-*.json: probe 7).
rm -f "$S"/review.json "$S"/reviewed_* ready.png ready2.png
printf 'wait\nselect-class Negative\nkey 1\nsave\nwait\nscreenshot ready.png\nframes 300\nselect-class 1+\nkey 2\nsave\nwait\nscreenshot ready2.png\nframes 300\nselect-class 2+\nkey 3\nsave\nwait\nexpect-no-status was changed by another\nquit\n' > touched.txt
"$BIN/ihcview" s.svs --results "$S" --script touched.txt 2> touched.err &
viewer=$!
wait_for_file ready.png
touch "$S/review.json"
wait_for_file ready2.png
cp -p "$S/review.json" copy.json
mv copy.json "$S/review.json"
wait "$viewer"
! grep -q "changed by another" touched.err
test -z "$(ls "$S"/review.conflict-*.json 2> /dev/null)"
grep -q '"class": "3+"' "$S/review.json"
test "$(column "$S/reviewed_summary.csv" "Num 3+")" -gt 10
echo "viewer_review_safety: leaving saves or asks, failures said once, a concurrent save kept and asked of on" \
  "quitting, a touched review.json is not another's"
