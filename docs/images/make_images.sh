#!/usr/bin/env bash
# Remakes the pictures in this folder with the `xgrad` command:
#   attention.svg       four heads of `xgrad attention` (the page itself is HTML), with the colour scale
#   attention_page.png  the top of that page as a browser shows it (only when chromium is installed)
#   loss.svg            `xgrad plot` of two tiny-preset runs: tiny Shakespeare (input.txt) and the built-in corpus
#   graph.svg           `xgrad graph` of a GPT with 1 layer and 2 heads, drawn by Graphviz's dot
# usage: docs/images/make_images.sh path/to/xgrad CHECKPOINT LOG [LOG...]
#   e.g. docs/images/make_images.sh build/xgrad out/tiny.safetensors shakespeare.jsonl out/tiny.jsonl
set -euo pipefail
XGRAD=$1 CKPT=$2
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

"$XGRAD" attention --checkpoint "$CKPT" --text "The cat sat on the mat" --out "$T/attention.html"
python3 - "$T/attention.html" "$HERE/attention.svg" <<'PY'
# The first two heads of the first two layers side by side in one SVG, and the colour scale.
import re, sys
page = open(sys.argv[1], encoding="utf-8").read()
svgs = re.findall(r"<svg\b.*?</svg>", page, re.S)
heads = int(re.search(r"(\d+) heads?,", page).group(1))
picked = [svgs[0], svgs[1], svgs[heads], svgs[heads + 1]] if len(svgs) >= heads + 2 else svgs[:4]
size = lambda s: [int(re.search(fr'{k}="(\d+)"', s).group(1)) for k in ("width", "height")]
w, h = max(size(s)[0] for s in picked), max(size(s)[1] for s in picked)
cols, gap, bar = 2, 16, 56
W, H = cols * w + (cols - 1) * gap + 20, ((len(picked) + cols - 1) // cols) * (h + gap) + bar
stops = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#fde725"]
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}">',
       "<style>g.cells rect:hover { stroke: #e0007a; stroke-width: 2px; }</style>",
       f'<rect width="{W}" height="{H}" fill="#fff"/>',
       '<defs><linearGradient id="viridis">' +
       "".join(f'<stop offset="{i / 8:.3f}" stop-color="{c}"/>' for i, c in enumerate(stops)) +
       "</linearGradient></defs>"]
for k, s in enumerate(picked):
    x, y = 10 + (k % cols) * (w + gap), (k // cols) * (h + gap)
    out.append(s.replace("<svg ", f'<svg x="{x}" y="{y}" ', 1))
y = H - bar + 14
font = "font-family=\"system-ui, 'DejaVu Sans', Helvetica, Arial, sans-serif\" font-size=\"12\" fill=\"#444\""
out.append(f'<text x="20" y="{y + 11}" {font}>attention weight</text>')
out.append(f'<rect x="130" y="{y}" width="240" height="14" fill="url(#viridis)" stroke="#bbb"/>')
for v in (0, 0.25, 0.5, 0.75, 1):
    out.append(f'<text x="{130 + 240 * v}" y="{y + 30}" text-anchor="middle" {font}>{v:g}</text>')
out.append("</svg>\n")
open(sys.argv[2], "w", encoding="utf-8").write("\n".join(out))
PY

if command -v chromium >/dev/null 2>&1; then
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1700,1000 \
    --screenshot="$T/page.png" "file://$T/attention.html" >/dev/null 2>&1
  cp "$T/page.png" "$HERE/attention_page.png"
fi

"$XGRAD" plot "${@/#/--log=}" --out "$HERE/loss.svg"

"$XGRAD" train --max-iters 50 --eval-interval 50 --eval-iters 2 --sample-tokens 0 --block-size 32 --n-embd 16 \
  --n-head 2 --n-layer 1 --batch-size 4 --threads 1 --out "$T/small.safetensors" >/dev/null
"$XGRAD" graph --checkpoint "$T/small.safetensors" --out "$T/graph.dot"
dot -Tsvg "$T/graph.dot" -o "$HERE/graph.svg"
ls -l "$HERE"
