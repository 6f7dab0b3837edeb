#!/usr/bin/env bash
# Drives the real ihcview window with xdotool (real X events through GLFW and ImGui, no script): click a
# Negative cell, press 2, wait for the autosave, kill the viewer (as a crash would) and check review.json.
# Usage: viewer_xdotool.sh BIN_DIR WORK_DIR   (needs $DISPLAY)
set -euo pipefail
BIN="$1"
WORK="$2"
# shellcheck source=tests/gui/common.sh
source "$(dirname "$0")/common.sh"
scored_slide "$BIN" "$WORK" x 5
RES=out/slides/x

# Screen position of a Negative cell near the centre in the initial (fit) view of a 1280x800 window:
# canvas 920x774, downsample = max(1600 / (920 * 0.95), 1200 / (774 * 0.95)).
read -r CX CY < <(negative_near_centre "$RES/cells.csv")
read -r SX SY < <(awk -v x="$CX" -v y="$CY" 'BEGIN {
  a = 1600 / (920 * 0.95); b = 1200 / (774 * 0.95); ds = a > b ? a : b
  printf "%d %d\n", sprintf("%.0f", 460 + (x - 800) / ds), sprintf("%.0f", 387 + (y - 600) / ds) }')
"$BIN/ihcview" x.svs --results "$RES" --autosave 1 > viewer.log 2>&1 &
PID=$!
trap 'kill $PID 2> /dev/null || true' EXIT
WID=$(xdotool search --sync --onlyvisible --name "ihcview - x.svs" | head -1)
# Cells are parsed in the background: wait until the viewer says they are in (slow under a loaded CI machine).
for _ in $(seq 1 240); do
  if grep -q '^cells loaded' viewer.log 2> /dev/null; then break; fi
  sleep 0.25
done
sleep 1  # a few frames with the cells drawn
# Click the cell, press 2, and wait for the autosave (within a second or two of the edit). On a machine busy
# with other tests an event can arrive before the window has focus or a frame with the cells: up to three
# tries (setting the same cell to 2+ again is the same correction).
saved=0
for _try in 1 2 3; do
  xdotool windowfocus --sync "$WID" || true
  xdotool mousemove --window "$WID" "$SX" "$SY"
  sleep 0.3
  xdotool click --window "$WID" 1
  sleep 0.3
  xdotool key --window "$WID" 2
  for _ in $(seq 1 24); do
    if grep -q '"2+"' "$RES/review.json" 2> /dev/null; then saved=1; break; fi
    sleep 0.25
  done
  if [ "$saved" = 1 ]; then break; fi
  echo "no autosave after try $_try; viewer log:" >&2
  tail -5 viewer.log >&2 || true
done
# Kill without a clean exit, as a crash would.
kill "$PID"
wait "$PID" 2> /dev/null || true
python3 - "$RES/review.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
c = r["corrections"]
assert len(c) == 1 and c[0]["class"] == "2+", c
assert r["log"][-1]["action"] == "set-class" and r["log"][-1]["new_class"] == "2+", r["log"]
print("xdotool session ok:", c[0])
PY

# Opening another slide as a person does: Ctrl+O, the name typed into the browser's name field (focused when
# it opens), Enter. A name that does not exist keeps the browser open with the reason; the right one opens
# the slide (the window title names it).
"$BIN/ihcscore" synth --width 800 --height 600 --slide y.svs --layout field --seed 7 > /dev/null 2>&1
"$BIN/ihcview" x.svs > viewer2.log 2>&1 &
PID=$!
WID=$(xdotool search --sync --onlyvisible --name "ihcview - x.svs" | head -1)
sleep 1
opened=0
for _try in 1 2 3; do
  xdotool windowfocus --sync "$WID" || true
  xdotool mousemove --window "$WID" 400 300
  xdotool key --window "$WID" Escape  # closes a browser left open by an earlier try
  sleep 0.3
  xdotool key --window "$WID" ctrl+o
  sleep 0.5
  xdotool type --window "$WID" --delay 30 "nope.svs"
  xdotool key --window "$WID" Return
  sleep 0.5
  import -window root browser_refused.png 2> /dev/null || true
  xdotool key --window "$WID" ctrl+a BackSpace
  xdotool type --window "$WID" --delay 30 "y.svs"
  xdotool key --window "$WID" Return
  for _ in $(seq 1 20); do
    if xdotool search --onlyvisible --name "ihcview - y.svs" > /dev/null 2>&1; then opened=1; break; fi
    sleep 0.25
  done
  if [ "$opened" = 1 ]; then break; fi
  echo "y.svs not opened after try $_try; viewer log:" >&2
  tail -5 viewer2.log >&2 || true
done
import -window root browser_opened.png 2> /dev/null || true
kill "$PID"
wait "$PID" 2> /dev/null || true
test "$opened" = 1
grep -q "nope.svs" viewer2.log && { echo "a refused name must not reach the slide reader" >&2; exit 1; }
echo "file browser session ok: y.svs opened with Ctrl+O"

# Saving parameters through the browser: open the Detection panel, "Save...", type a name, Enter; a second
# save to the same name asks first (the button becomes Replace, the file is untouched until Enter again).
# Positions in the 1280x800 window: the Detection header and its Save... button (layout of gui/app.cpp).
rm -f saved.params
"$BIN/ihcview" x.svs > viewer3.log 2>&1 &
PID=$!
WID=$(xdotool search --sync --onlyvisible --name "ihcview - x.svs" | head -1)
sleep 1
xdotool windowfocus --sync "$WID" || true
xdotool mousemove --window "$WID" 970 316 click --window "$WID" 1
sleep 0.5
xdotool mousemove --window "$WID" 1200 393 click --window "$WID" 1
sleep 0.5
xdotool key --window "$WID" ctrl+a BackSpace
xdotool type --window "$WID" --delay 30 "saved.params"
xdotool key --window "$WID" Return
for _ in $(seq 1 20); do if [ -f saved.params ]; then break; fi; sleep 0.25; done
first=$(stat -c %.9Y saved.params)
xdotool mousemove --window "$WID" 1200 393 click --window "$WID" 1
sleep 0.5
xdotool key --window "$WID" Return  # refused once: "exists: Replace overwrites it"
sleep 0.7
test "$(stat -c %.9Y saved.params)" = "$first"
xdotool key --window "$WID" Return
for _ in $(seq 1 20); do if [ "$(stat -c %.9Y saved.params)" != "$first" ]; then break; fi; sleep 0.25; done
kill "$PID"
wait "$PID" 2> /dev/null || true
test "$(stat -c %.9Y saved.params)" != "$first"
"$BIN/ihcscore" score x.svs -o out_saved --params saved.params > /dev/null 2>&1
echo "file browser saved saved.params (Replace asked once); ihcscore score --params reads it"
