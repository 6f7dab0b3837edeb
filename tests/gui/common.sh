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

# Screenshots are read with the standard library only (no numpy or PIL here). The PNG decoder of the two helpers below (8-bit RGB or RGBA, every filter): `rows[y][x * bpp + channel]`.
PNG_ROWS='
import struct, zlib
def png_rows(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    i, idat = 8, b""
    while i < len(data):
        n, kind = struct.unpack(">I4s", data[i:i + 8])
        body = data[i + 8:i + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), (path, depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        i += 12 + n
    raw, stride, rows, prev, p = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp), 0
    for _ in range(h):
        f, line = raw[p], bytearray(raw[p + 1:p + 1 + stride])
        p += 1 + stride
        for k in range(stride):
            a = line[k - bpp] if k >= bpp else 0
            b, c = prev[k], prev[k - bpp] if k >= bpp else 0
            if f == 1: line[k] = (line[k] + a) & 255
            elif f == 2: line[k] = (line[k] + b) & 255
            elif f == 3: line[k] = (line[k] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[k] = (line[k] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return rows, w, h, bpp
'

# count_colour PNG X0 Y0 X1 Y1 RRGGBB TOL: pixels of the box [X0,X1) x [Y0,Y1) within TOL of the colour on
# every channel.
count_colour() {
  python3 -c "$PNG_ROWS
import sys
path, x0, y0, x1, y1, hexcol, tol = sys.argv[1], *map(int, sys.argv[2:6]), sys.argv[6], int(sys.argv[7])
rows, w, h, bpp = png_rows(path)
want = [int(hexcol[j:j + 2], 16) for j in (0, 2, 4)]
print(sum(1 for y in range(max(0, y0), min(h, y1)) for x in range(max(0, x0), min(w, x1))
          if all(abs(rows[y][x * bpp + j] - want[j]) <= tol for j in range(3))))" "$@"
}

# differing_pixels A.png B.png X0 Y0 X1 Y1: pixels of the box that differ between two screenshots.
differing_pixels() {
  python3 -c "$PNG_ROWS
import sys
a, b = png_rows(sys.argv[1]), png_rows(sys.argv[2])
x0, y0, x1, y1 = map(int, sys.argv[3:7])
print(sum(1 for y in range(y0, y1) for x in range(x0, x1)
          if a[0][y][x * a[3]:x * a[3] + 3] != b[0][y][x * b[3]:x * b[3] + 3]))" "$@"
}

# cut_text PNG X0 Y0 X1 Y1 EDGE: text of the box (white, as Dear ImGui's dark style writes it) that shows cut or
# covered, one line per kind with its count and first pixels; nothing when all of it shows whole:
#   edge    past the content's right edge EDGE (the panel clips it a few px further: "[um" of a long label);
#   frame   on the top or bottom row of the frame around it, the window's background beyond (a descender cut
#           by a button too small for its text: "Neqative");
#   beside  between two frames of different colours (a combo's text running into its arrow button, or a
#           slider's digits into its grab);
#   grab    touching a slider's grab (the grab over the digits).
cut_text() {
  python3 -c "$PNG_ROWS
import sys
path, (x0, y0, x1, y1, edge) = sys.argv[1], map(int, sys.argv[2:7])
rows, w, h, bpp = png_rows(path)
px = lambda x, y: tuple(rows[y][x * bpp:x * bpp + 3])
white = lambda p: min(p) >= 230
bluish = lambda p: p[2] - p[0] >= 25  # frames, buttons, headers, grabs: every widget colour of the dark style
background = lambda p: max(p) - min(p) <= 4 and max(p) <= 40
grab = lambda p: all(abs(a - b) <= 6 for a, b in zip(p, (61, 133, 224)))  # ImGuiCol_SliderGrab
found = {}
for y in range(max(1, y0), min(h - 1, y1)):
    for x in range(max(1, x0), min(w - 1, x1)):
        if not white(px(x, y)):
            continue
        l, r, u, d = px(x - 1, y), px(x + 1, y), px(x, y - 1), px(x, y + 1)
        kind = ('edge' if x >= edge else
                'frame' if (bluish(l) or bluish(r)) and (background(u) or background(d)) else
                'beside' if bluish(l) and bluish(r) and max(abs(a - b) for a, b in zip(l, r)) > 6 else
                'grab' if any(grab(q) for q in (l, r, u, d)) else '')
        if kind:
            found.setdefault(kind, []).append((x, y))
for kind, at in found.items():
    print(kind, len(at), 'pixels, first at', ' '.join('%d,%d' % p for p in at[:4]))" "$@"
}
