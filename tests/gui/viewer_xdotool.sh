#!/usr/bin/env bash
# Drives the real ihcview window with xdotool (real X events through GLFW and ImGui, no script): click a
# Negative cell, press 2, wait for the autosave, kill the viewer (as a crash would) and check review.json.
# Usage: viewer_xdotool.sh BIN_DIR WORK_DIR   (needs $DISPLAY)
set -euo pipefail
trap 'echo "viewer_xdotool.sh: line $LINENO failed: $BASH_COMMAND" >&2' ERR
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
WID=$(xdotool search --sync --onlyvisible --pid "$PID" --name "ihcview - x.svs" | head -1)  # not a killed viewer's window
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

# wait_ready LOG N: waits up to 15 s until the viewer has logged N times that the file browser's name field has
# the keyboard (keys typed before then would go to the canvas: on a loaded machine a frame can take a while).
wait_ready() {
  for _ in $(seq 1 60); do
    if [ "$(grep -c 'file browser: name field ready' "$1" 2> /dev/null)" -ge "$2" ]; then return 0; fi
    sleep 0.25
  done
  echo "the file browser's name field never took the keyboard ($2 expected); log:" >&2
  tail -5 "$1" >&2 || true
  return 1
}

# open_browser LOG N: clicks "Open slide..." (Slide panel, 1280x800 window) until the browser's name field has
# the keyboard for the N-th time (a click on the dimmed panel is harmless once the browser is open). Ctrl+O
# does the same for a person; xdotool's Ctrl+O was not reliable on a loaded Xvfb (see the commit message).
open_browser() {
  for _try in 1 2 3; do
    xdotool windowfocus --sync "$WID" || true
    xdotool mousemove --window "$WID" 975 108 click --window "$WID" 1
    if wait_ready "$1" "$2"; then return 0; fi
  done
  return 1
}

# Opening another slide as a person does: Ctrl+O, the name typed into the browser's name field (it has the
# keyboard when the browser opens), Enter. A name that does not exist keeps the browser open with the reason
# and the field takes the keyboard again; the right one opens the slide (the window title names it).
"$BIN/ihcscore" synth --width 800 --height 600 --slide y.svs --layout field --seed 7 > /dev/null 2>&1
"$BIN/ihcview" x.svs --no-results > viewer2.log 2>&1 &
PID=$!
WID=$(xdotool search --sync --onlyvisible --pid "$PID" --name "ihcview - x.svs" | head -1)  # not a killed viewer's window
sleep 1
open_browser viewer2.log 1
xdotool type --window "$WID" --delay 30 "nope.svs"
xdotool key --window "$WID" Return
wait_ready viewer2.log 2
import -window root browser_refused.png 2> /dev/null || true
# Esc closes the browser; opened again, its name field is empty.
xdotool key --window "$WID" Escape
sleep 0.5
open_browser viewer2.log 3
xdotool type --window "$WID" --delay 30 "y.svs"
xdotool key --window "$WID" Return
opened=0
for _ in $(seq 1 60); do
  if xdotool search --onlyvisible --name "ihcview - y.svs" > /dev/null 2>&1; then opened=1; break; fi
  sleep 0.25
done
import -window root browser_opened.png 2> /dev/null || true
kill "$PID"
wait "$PID" 2> /dev/null || true
test "$opened" = 1
if grep -q "nope.svs" viewer2.log; then
  echo "a refused name must not reach the slide reader" >&2
  exit 1
fi
echo "file browser session ok: y.svs opened with Open slide..."
