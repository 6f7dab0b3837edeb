# Sourced by the viewer tests (viewer_script.sh, viewer_xdotool.sh).

# scored_slide BIN WORK NAME SEED: a fresh WORK folder (made the current directory) holding a 1600x1200 synthetic
# slide WORK/NAME.svs scored by the batch into WORK/out/slides/NAME.
scored_slide() {
  local bin="$1" work="$2" name="$3" seed="$4"
  rm -rf "$work"
  mkdir -p "$work/home"
  cd "$work"
  # The viewer's lists (recent files, output folders it found results in) stay with the test, not the user.
  export HOME="$work/home"
  "$bin/ihcscore" synth --width 1600 --height 1200 --slide "$name.svs" --layout field --seed "$seed" > /dev/null 2>&1
  "$bin/ihcscore" score "$name.svs" -o out > /dev/null 2>&1
}

# negative_near_centre CELLS_CSV: prints "x y", the level-0 centroid of the Negative cell nearest the slide centre.
negative_near_centre() {
  python3 - "$1" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
neg = [r for r in rows if r["Classification"] == "Negative"]
best = min(neg, key=lambda r: (float(r["Centroid X px"]) - 800) ** 2 + (float(r["Centroid Y px"]) - 600) ** 2)
print(best["Centroid X px"], best["Centroid Y px"])
PY
}

# expect_exit STATUS ERR_FILE COMMAND...: runs COMMAND with stderr in ERR_FILE; fails unless it exits with STATUS
# ("nonzero": any failure).
expect_exit() {
  local want="$1" err="$2" status=0
  shift 2
  "$@" 2> "$err" || status=$?
  if [ "$want" = nonzero ]; then
    test "$status" -ne 0
  else
    test "$status" -eq "$want"
  fi
}
