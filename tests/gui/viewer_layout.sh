#!/usr/bin/env bash
# The side panel shows every text whole, and the status line's cursor position is a point of the slide:
# - screenshots of the panel at the viewer's default 1280x800 window, at 1600x1000 and at a narrow 1100x800,
#   with every panel opened in turn, hold no cut text (tests/gui/common.sh, cut_text): no descender cut by a
#   button ("Neqative"), no label past the panel's edge ("Crosstalk guard (relative blueness) ["), no choice
#   running into its combo's arrow, no slider's digits under its grab;
# - the cursor position is shown over the slide only: not over the side panel, the status bar, the overview
#   or the margin beside the slide.
# Usage: viewer_layout.sh BIN_DIR WORK_DIR   (needs $DISPLAY: scripts/test runs ctest under xvfb-run)
set -euo pipefail
BIN="$1"
WORK="$2"
# shellcheck source=tests/gui/common.sh
source "$(dirname "$0")/common.sh"
scored_slide "$BIN" "$WORK" s 11
RES=out/slides/s

# The longest measurement name in the Thresholds panel's combo; the longest tool name in the Review panel's
# line; an include region for the Review panel's row with its "remove" button.
printf 'score_measurement = Cytoplasm: DAB OD std dev\n' > long_measurement.params
# panels W H NAME: screenshots of the panels in turn, as a script.
panels() {
  cat <<EOS
size $1 $2
wait
frames 3
screenshot $WORK/panels_$3_default.png
panel Slide close
panel Cells close
panel Thresholds close
panel Review close
panel Summary close
panel Detection open
frames 3
screenshot $WORK/panels_$3_detection.png
panel Detection close
panel Display open
panel Review open
panel Summary open
frames 3
screenshot $WORK/panels_$3_display_review_summary.png
panel Display close
panel Slide open
panel Cells open
panel Thresholds open
frames 3
EOS
}
{
  printf 'wait\nload-params long_measurement.params\ntool rectangle\ndrag 300 300 500 500\nframes 2\n'
  panels 1280 800 1280x800
  panels 1600 1000 1600x1000
  panels 1100 800 1100x800
  printf 'quit\n'
} > panels.txt
# A copy of the results: the region drawn here is saved with them, and the cursor session below needs none.
rm -rf panels_res && cp -r "$RES" panels_res
"$BIN/ihcview" s.svs --results panels_res --script panels.txt
for shot in "$WORK"/panels_*.png; do
  size=$(basename "$shot" | cut -d_ -f2)
  w=${size%x*}
  h=${size#*x}
  # The panel is the window's right 360 px above the 26 px status bar; its content ends 9 px from the window's
  # edge (border and padding), or 22 px with the scrollbar (grey 4F4F4F, 14 px wide) the taller states have.
  right=$((w - 1))
  edge=$((w - 9))
  if [ "$(count_colour "$shot" $((w - 10)) 0 $((w - 3)) $((h - 26)) 4F4F4F 3)" -ge 20 ]; then
    right=$((w - 14))
    edge=$((w - 22))
  fi
  cut=$(cut_text "$shot" $((w - 360)) 0 "$right" $((h - 26)) "$edge")
  if [ -n "$cut" ]; then
    echo "$shot: text cut in the side panel:" >&2
    echo "$cut" >&2
    exit 1
  fi
done
echo "side panel: no cut text at 1280x800, 1600x1000 and 1100x800 ($WORK/panels_*.png)"

# The cursor position (status line) at 1280x800, the canvas 920x774: at downsample 2 about the slide centre
# the 1600x1200 slide covers screen x 60-860, y 87-687; the overview covers x 710-910, y 10-160 (over the
# slide's top right); the side panel starts at x 920, the status bar at y 774. 0.5 um/px.
cat > cursor.txt <<EOS
wait
center 800 600 2
frames 2
mouse 460 387
expect-status 10.0x | x: 400.0 um, y: 300.0 um |
mouse 1100 300
expect-no-status um, y:
mouse 460 790
expect-no-status um, y:
mouse 30 387
expect-no-status um, y:
mouse 460 720
expect-no-status um, y:
mouse 800 100
expect-no-status um, y:
mouse 61 88
expect-status x: 1.0 um, y: 1.0 um |
quit
EOS
"$BIN/ihcview" s.svs --results "$RES" --script cursor.txt
echo "cursor position: shown over the slide only (not over the panel, status bar, overview or margin)"
echo "viewer layout test passed"
