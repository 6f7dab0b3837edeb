#!/usr/bin/env bash
# Scripted ihcview session as a person would do it, with assertions on pixels and on the saved review:
# generate a slide with cells, score it with the batch, open it in the viewer, put the cursor on a Negative
# cell, press 3, undo, redo, save; check review.json; reopen and check the correction was restored.
# Usage: viewer_script.sh BIN_DIR WORK_DIR   (needs $DISPLAY: scripts/test runs ctest under xvfb-run)
set -euo pipefail
BIN="$1"
WORK="$2"
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"
"$BIN/ihcscore" synth --width 1600 --height 1200 --slide s.svs --layout field --seed 11 > /dev/null 2>&1
"$BIN/ihcscore" score s.svs -o out > /dev/null 2>&1
RES=out/slides/s

# A Negative cell near the slide centre (cells.csv: Classification, Centroid X px, Centroid Y px).
read -r CX CY < <(python3 - "$RES/cells.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
neg = [r for r in rows if r["Classification"] == "Negative"]
best = min(neg, key=lambda r: (float(r["Centroid X px"]) - 800) ** 2 + (float(r["Centroid Y px"]) - 600) ** 2)
print(best["Centroid X px"], best["Centroid Y px"])
PY
)
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
assert actions == [("set-class", "Negative", "3+"), ("undo", "3+", "auto"), ("redo", "auto", "3+")], actions
print("review.json ok:", c[0])
PY
test -s "$RES/reviewed_cells.geojson"
grep -q "ok; reviewed" "$RES/reviewed_summary.csv"

# Reopening restores the review exactly.
cat > reopen.txt <<EOS
wait
center $CX $CY 0.5
frames 2
expect-class-at 460 387 3+
quit
EOS
"$BIN/ihcview" s.svs --results "$RES" --script reopen.txt
echo "viewer script test passed"
