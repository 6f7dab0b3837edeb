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
# start_viewer LOG SLIDE ARGS...: starts ihcview on SLIDE with ARGS, its output in LOG; sets PID and WID (this
# viewer's window, not a killed one's) and, when it loads results, returns once the cells are in (they are
# parsed in the background: slow on a loaded CI machine).
start_viewer() {
  local log=$1 slide=$2
  shift 2
  "$BIN/ihcview" "$slide" "$@" > "$log" 2>&1 &
  PID=$!
  WID=$(xdotool search --sync --onlyvisible --pid "$PID" --name "ihcview - $slide" | head -1)
  case " $* " in *" --no-results "*) return 0 ;; esac
  for _ in $(seq 1 240); do
    if grep -q '^cells loaded' "$log" 2> /dev/null; then break; fi
    sleep 0.25
  done
}
trap 'kill $PID 2> /dev/null || true' EXIT
start_viewer viewer.log x.svs --results "$RES" --autosave 1
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
start_viewer viewer2.log x.svs --no-results
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

# The override's Reason field lets go of the keyboard for the slide: typed into, then with the pointer back on a
# Negative cell, the key 3 sets the cell to 3+ and is not typed (before session 25 every review key went into
# the text while the field had the keyboard). Panels collapsed so the Summary's field is in the 1280x800
# window: Review, Thresholds, Cells and Slide headers clicked from the bottom up (the ones above stay put); the
# field is then at (1010, 461) and "Override intensity" at (995, 484).
rm -f "$RES/review.json"
start_viewer viewer3.log x.svs --results "$RES" --autosave 1
sleep 1
xdotool windowfocus --sync "$WID" || true
for y in 582 343 188 18; do
  xdotool mousemove --window "$WID" 960 "$y" click --window "$WID" 1
  sleep 0.4
done
xdotool mousemove --window "$WID" 1010 461 click --window "$WID" 1
sleep 0.4
xdotool type --window "$WID" --delay 60 "weak"
sleep 0.3
xdotool mousemove --window "$WID" "$SX" "$SY"
sleep 0.4
xdotool key --window "$WID" 3
sleep 0.4
xdotool mousemove --window "$WID" 995 484 click --window "$WID" 1
for _ in $(seq 1 24); do
  if grep -q "\"active\": true" "$RES/review.json" 2> /dev/null; then break; fi
  sleep 0.25
done
import -window "$WID" reason_field.png 2> /dev/null || true
# Ctrl+Q quits from the field too: typed into again, the window closes (the review saved first).
xdotool mousemove --window "$WID" 1010 461 click --window "$WID" 1
sleep 0.4
xdotool type --window "$WID" --delay 60 "x"
sleep 0.3
xdotool key --window "$WID" ctrl+q
quit=0
for _ in $(seq 1 40); do
  if ! kill -0 "$PID" 2> /dev/null; then quit=1; break; fi
  sleep 0.25
done
kill "$PID" 2> /dev/null || true
wait "$PID" 2> /dev/null || true
python3 - "$RES/review.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
c = r["corrections"]
assert len(c) == 1 and c[0]["class"] == "3+", ("the key 3 over the slide set no cell to 3+", c)
o = r["intensity_override"]
assert o["reason"] == "weak", ("the key went into the Reason field", o)
print("review keys leave the Reason field:", c[0], o)
PY
test "$quit" = 1 || { echo "Ctrl+Q did not quit from the Reason field" >&2; exit 1; }

# The status bar's frame time is the frame's work, not the idle wait for events (before session 25 an idle
# viewer showed about 260 ms). Read from the status line's characters, 7 px each from x = 8 (ProggyClean): the
# word before "ms |" at its end ("... | 3.1 ms | Opened y.svs") has at most 4 characters (under 100 ms).
start_viewer viewer4.log y.svs --no-results
xdotool mousemove --window "$WID" 1100 700  # over the panel: no position in the status line
sleep 3
import -window "$WID" idle.png
kill "$PID"
wait "$PID" 2> /dev/null || true
python3 -c "$PNG_ROWS
rows, w, h, bpp = png_rows('idle.png')
cells = ''.join('X' if any(min(rows[y][x * bpp:x * bpp + 3]) >= 200 for y in range(h - 26, h)
                           for x in range(8 + 7 * i, 15 + 7 * i)) else ' ' for i in range((w - 15) // 7))
words = [len(t) for t in cells.split()]
# ... NUMBER ms | Opened y.svs
assert words[-4:] == [2, 1, 6, 5], (cells, words)
assert words[-5] <= 4, ('idle frame time of %d characters (100 ms or more): %s' % (words[-5], cells))
print('idle frame time:', words[-5], 'characters')"
echo "focus session ok: review keys and Ctrl+Q leave the Reason field; idle frame time is the frame's work"

# An idle viewer draws nothing: it sleeps until an event or the next autosave (it redrew the same picture four
# times a second, 5-6 % of a core under llvmpipe), also with the cells drawn from cached tiles; and it still
# sleeps once its slide went away (deleted while open: before, the tiles that could not be read left those
# cached tiles waiting for good and the loop spun at 90 % of a core). CPU ticks (1/100 s) over 4 idle seconds.
# A slide of two levels: zoomed in, the tiles of level 0 are read from the file.
"$BIN/ihcscore" synth --width 4096 --height 4096 --slide g.svs --layout slide --seed 3 > /dev/null 2>&1
"$BIN/ihcscore" score g.svs -o out_g -q
cp g.svs gone.svs
start_viewer viewer5.log gone.svs --results out_g/slides/g
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
idle_ticks() {
  local a
  sleep 2
  a=$(ticks)
  sleep 4
  echo $(($(ticks) - a))
}
xdotool mousemove --window "$WID" 400 300
IDLE=$(idle_ticks)
rm gone.svs
xdotool mousemove --window "$WID" 460 387
for _ in $(seq 1 7); do
  xdotool click --window "$WID" 4
  sleep 0.2
done
for _ in $(seq 1 15); do
  xdotool key --window "$WID" Left Up
  sleep 0.3
done
GONE=$(idle_ticks)
kill "$PID"
wait "$PID" 2> /dev/null || true
grep -q "Cannot read gone.svs" viewer5.log || { echo "no tile of the deleted slide was asked for" >&2; exit 1; }
echo "idle CPU: $IDLE ticks in 4 s, $GONE ticks in 4 s once the slide was deleted"
test "$IDLE" -le 8 || { echo "an idle viewer used $IDLE ticks of CPU in 4 s" >&2; exit 1; }
test "$GONE" -le 8 || { echo "an idle viewer whose slide went away used $GONE ticks of CPU in 4 s" >&2; exit 1; }

# Letter shortcuts follow the letters printed on the keys, not their US positions (probe 7: on a German QWERTZ
# keyboard Ctrl+Z redid and Ctrl+Y undid; on a French AZERTY one Ctrl+Q did not quit and Ctrl+A did). xdotool
# types a key by its letter in the display's layout, as a person presses the key printed with it. The layout is
# switched while the viewer runs, as a desktop's layout switcher does (GLFW reads its own key table only when it
# starts: the probe's case), and put back to US however the test ends.
# On an X server of this step's own: ctest runs the GUI tests side by side on one server, where a layout switched
# here typed other tests' text in German or French (and a fresh-clone CI run lost its display in this step).
XPID=""
for n in $(seq 150 199); do
  [ -e "/tmp/.X$n-lock" ] && continue
  Xvfb ":$n" -screen 0 1600x1000x24 -nolisten tcp > xvfb-layout.log 2>&1 &
  XPID=$!
  for _ in $(seq 1 40); do
    if DISPLAY=":$n" xdpyinfo > /dev/null 2>&1; then break; fi
    sleep 0.25
  done
  if DISPLAY=":$n" xdpyinfo > /dev/null 2>&1; then export DISPLAY=":$n"; break; fi
  kill "$XPID" 2> /dev/null || true
  XPID=""
done
test -n "$XPID" || { echo "no X server of its own for the keyboard layout step" >&2; cat xvfb-layout.log >&2; exit 1; }
trap 'kill $PID 2> /dev/null || true; kill $XPID 2> /dev/null || true' EXIT
rm -f "$RES/review.json"
start_viewer viewer6.log x.svs --results "$RES" --autosave 1
sleep 1
setxkbmap -layout de
sleep 0.5
xdotool windowfocus --sync "$WID" || true
xdotool mousemove --window "$WID" "$SX" "$SY"
sleep 0.3
xdotool key --window "$WID" 2
for _ in $(seq 1 24); do
  if grep -q '"2+"' "$RES/review.json" 2> /dev/null; then break; fi
  sleep 0.25
done
grep -q '"2+"' "$RES/review.json"
xdotool key --window "$WID" ctrl+z
undone=0
for _ in $(seq 1 24); do
  if grep -q '"corrections": \[\]' "$RES/review.json" 2> /dev/null; then undone=1; break; fi
  sleep 0.25
done
kill "$PID"
wait "$PID" 2> /dev/null || true
test "$undone" = 1 || { echo "Ctrl+Z on a German keyboard did not undo" >&2; tail -3 viewer6.log >&2; exit 1; }
setxkbmap -layout us
start_viewer viewer7.log y.svs --no-results
sleep 1
setxkbmap -layout fr
sleep 0.5
xdotool windowfocus --sync "$WID" || true
xdotool mousemove --window "$WID" 400 300
# The window may be gone before xdotool sends the key's release (BadWindow): whether it quit is checked below.
xdotool key --window "$WID" ctrl+q 2> /dev/null || true
quit=0
for _ in $(seq 1 40); do
  if ! kill -0 "$PID" 2> /dev/null; then quit=1; break; fi
  sleep 0.25
done
setxkbmap -layout us
test "$quit" = 1 || { echo "Ctrl+Q on a French keyboard did not quit" >&2; exit 1; }
echo "keyboard layouts: Ctrl+Z undoes on QWERTZ, Ctrl+Q quits on AZERTY"
