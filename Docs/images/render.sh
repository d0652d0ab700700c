#!/usr/bin/env bash
# Regenerates the pictures of Docs/visualize.md from the bundled model:
#   bash Docs/images/render.sh            (after `make` or `swift build`; BLT=path/to/blt to choose)
# Needs rsvg-convert and pngquant (Debian: apt-get install -y librsvg2-bin pngquant).
set -euo pipefail
cd "$(dirname "$0")/../.."
BLT=${BLT:-$( [ -x .build/release/blt ] && echo .build/release/blt || echo .build/debug/blt )}
out=Docs/images
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Prose: the first two paragraphs of the held-out sample, as a document of their own.
sed -n '4,12p' Models/sample.txt > "$work/prose.txt"
"$BLT" patch --model Models/blt-tiny --svg "$out/prose-patches.svg" "$work/prose.txt" > /dev/null
"$BLT" eval --model Models/blt-tiny --svg "$out/prose-surprisal.svg" "$work/prose.txt" > /dev/null
# Code: a short Python function.
"$BLT" patch --model Models/blt-tiny --svg "$out/code-patches.svg" "$out/count_names.py" > /dev/null

for name in prose-patches prose-surprisal code-patches; do
  rsvg-convert "$out/$name.svg" -o "$work/$name.png"
  pngquant --force --quality 70-95 --output "$out/$name.png" "$work/$name.png"
  rm "$out/$name.svg"
done
ls -l "$out"/*.png
