#!/usr/bin/env bash
# Text editing in the viewer's ImGui widgets, scripted: `press` and `type` put key events and characters into the
# queue real GLFW events take (InputTrickle, given to ImGui just before NewFrame), so Ctrl+A, typing, Backspace,
# Enter and Esc in the file browser's name field are checked deterministically, without xdotool. As a person
# would: save the parameters with the Save... browser under a typed name; save again under that name (the
# browser asks; Esc leaves the file alone, Enter again replaces it); correct a typo with Backspace; open a slide
# by typing its name. Assertions on the saved files, on pixels and on the viewer's log.
# Usage: viewer_browser_keys.sh BIN_DIR WORK_DIR   (needs $DISPLAY: scripts/test runs ctest under xvfb-run)
set -euo pipefail
trap 'echo "viewer_browser_keys.sh: line $LINENO failed: $BASH_COMMAND" >&2' ERR
BIN="$1"
WORK="$2"
# shellcheck source=tests/gui/common.sh
source "$(dirname "$0")/common.sh"  # PNG_ROWS
rm -rf "$WORK"
mkdir -p "$WORK/p" "$WORK/home"
cd "$WORK"
WORK=$(pwd)  # absolute: the scripts name files in it
export HOME="$WORK/home"  # the viewer's recent-files list
"$BIN/ihcscore" synth --width 1600 --height 1200 --slide s.svs --layout field --seed 11 > /dev/null 2>&1
"$BIN/ihcscore" synth --width 1600 --height 1200 --slide t.svs --layout field --seed 5 > /dev/null 2>&1
# view NAME: the viewer on s.svs running NAME.txt, its stderr in NAME.log (shown when it fails: an ImGui assertion,
# a failed expectation).
view() {
  if ! "$BIN/ihcview" s.svs --script "$1.txt" 2> "$1.log"; then
    cat "$1.log" >&2
    return 1
  fi
}

# Pixels of the 1280x800 window with the browser (a modal in the middle) open:
#   1250 17   the Slide panel's header: 274160 when no modal is open (ImGui dims the window behind a modal, fading
#             in with time: not a colour to expect);
#   300 159   the browser's title bar (ImGui's active title colour 294A7A);
#   289 615   the stem of the R of "Replace" on the browser's accept button (FFFFFF); with "Save" there, the
#             button's colour 2D4F77;
#   270 637   the '/' starting the red line "<path> exists: Replace overwrites it" (FF594D).
# The name field opens with its text selected: End clears the selection, so that Ctrl+A is what selects it
# (without Ctrl+A the typed name would be appended).
cat > save.txt << EOS
wait
browse save-params $WORK/p
expect-pixel 300 159 294A7A 3
press end
press ctrl+a
type keys.params
expect-pixel 289 615 2D4F77 3
screenshot $WORK/typed.png
press enter
expect-pixel 1250 17 274160 3
save-params $WORK/direct.params
quit
EOS
view save
test "$(ls p)" = keys.params
cmp p/keys.params direct.params  # what the browser saved is the form, as save-params writes it
test "$(grep -c "asks before replacing" save.log || true)" = 0
# The batch reads it: the viewer's form was the default preset's.
diff <("$BIN/ihcscore" params | tail -n +2) <("$BIN/ihcscore" params --params p/keys.params | tail -n +2)
echo "Ctrl+A, typed name, Enter: saved $WORK/p/keys.params; screenshot $WORK/typed.png"

# Saving again under that name: Enter makes the browser ask (the button says Replace, the reason in red); Esc
# then closes it and the file is left as it was.
cp -p p/keys.params before.params
# save_again: the start of a session saving keys.params again (a changed parameter), up to the question.
save_again() {
  cat << EOS
wait
param min_area_um2 45
browse save-params $WORK/p
press end
press ctrl+a
type keys.params
press enter
expect-pixel 289 615 FFFFFF 0
EOS
}
{
  save_again
  cat << EOS
expect-pixel 270 637 FF594D 3
expect-pixel 300 159 294A7A 3
screenshot $WORK/replace_asked.png
press escape
expect-pixel 1250 17 274160 3
quit
EOS
} > ask.txt
view ask
test "$(grep -cxF "file browser: asks before replacing $WORK/p/keys.params" ask.log)" = 1
cmp p/keys.params before.params
test ! p/keys.params -nt before.params
echo "saving over keys.params asks (screenshot $WORK/replace_asked.png); Esc left the file unchanged"

# ... and Enter again replaces it.
{
  save_again
  cat << EOS
press enter
expect-pixel 1250 17 274160 3
quit
EOS
} > replace.txt
view replace
test "$(grep -cxF "file browser: asks before replacing $WORK/p/keys.params" replace.log)" = 1
if cmp -s p/keys.params before.params; then
  echo "keys.params was not replaced" >&2
  exit 1
fi
test p/keys.params -nt before.params
grep -qx "min_area_um2 = 45" p/keys.params
"$BIN/ihcscore" params --params p/keys.params > read_back.txt
grep -qx "min_area_um2 = 45" read_back.txt
test "$(ls p)" = keys.params
echo "Enter on Replace overwrote keys.params (min_area_um2 = 45, read back by ihcscore params)"

# Backspace: "abcx", Backspace, ".params" saves abc.params.
cat > edit.txt << EOS
wait
browse save-params $WORK/p
press end
press ctrl+a
type abcx
press backspace
screenshot $WORK/backspace.png
type .params
press enter
expect-pixel 1250 17 274160 3
quit
EOS
view edit
test "$(ls p | tr '\n' ' ')" = "abc.params keys.params "  # no abcx.params
echo "Backspace removed the x: saved $WORK/p/abc.params; screenshot $WORK/backspace.png"

# Tab takes the keyboard from the name field to the folder field (its text selected), where a typed folder and
# Enter list that folder: the h of "home/", its first entry, in the folders' blue at 274 226. The name field then
# has the keyboard again: a slide's name typed there and Enter open it, and the canvas shows t.svs as opening it
# directly does (a pixel where s.svs looks different).
printf 'wait\nexpect-pixel 460 387 000000 0\nquit\n' > probe.txt
pixel_of() {
  "$BIN/ihcview" "$1" --script probe.txt 2>&1 | sed -n 's/.*pixel (460, 387) is \([0-9A-F]\{6\}\).*/\1/p' || true
}
T_PIXEL=$(pixel_of t.svs)
S_PIXEL=$(pixel_of s.svs)
test -n "$T_PIXEL"
test -n "$S_PIXEL"
test "$T_PIXEL" != "$S_PIXEL"
cat > open.txt << EOS
wait
expect-pixel 460 387 $S_PIXEL 0
browse slide $WORK/p
press tab
type $WORK
press enter
expect-pixel 274 226 8CC7FF 0
screenshot $WORK/tab_folder.png
type t.svs
press enter
wait
expect-pixel 460 387 $T_PIXEL 0
screenshot $WORK/opened.png
quit
EOS
view open > open.out
test "$(grep -c "^first full view" open.out)" = 2  # s.svs, then t.svs
grep -qx "$WORK/t.svs" home/.config/ihcview/recent.txt
echo "Tab + folder + Enter listed $WORK (screenshot $WORK/tab_folder.png); t.svs typed next + Enter opened it (pixel"\
  "$T_PIXEL, s.svs has $S_PIXEL; screenshot $WORK/opened.png)"

# A refusal too long for the dialog wraps: the whole red line is in the dialog, on two lines or more (it ran past
# the dialog's edge, the reason cut off). The red text's rows in the dialog's lower part (below the overview's red
# box) form two bands or more.
LONG=no-such-slide-with-a-name-long-enough-to-run-past-the-edge-of-the-file-browser-dialog-of-ihcview.svs
printf 'wait\nbrowse slide %s\ntype %s\npress enter\nframes 3\nscreenshot %s/refused_long.png\npress escape\nquit\n' \
  "$WORK" "$LONG" "$WORK" > long.txt
view long
python3 -c "$PNG_ROWS
rows, w, h, bpp = png_rows('refused_long.png')
red = [y for y in range(450, 700) if any(all(abs(rows[y][x * bpp + k] - v) <= 40 for k, v in enumerate((255, 89, 77)))
                                   for x in range(260, 1020))]
bands = sum(1 for i, y in enumerate(red) if i == 0 or y - red[i - 1] > 1)  # a blank row between lines
assert bands >= 2, ('the refusal is on one line, cut at the dialog edge', red)"
echo "a long refusal wraps in the browser (screenshot $WORK/refused_long.png)"

# Key names are checked before anything runs, the error naming the line.
printf 'wait\npress ctrl+enter\npress hyper+a\nquit\n' > bad_key.txt
status=0
"$BIN/ihcview" s.svs --script bad_key.txt 2> bad_key.err || status=$?
test "$status" = 1
grep -qx "ihcview: bad_key.txt:3: press: unknown modifier 'hyper' in 'hyper+a' (ctrl, shift, alt, super)" bad_key.err
echo "viewer browser keys test passed"
