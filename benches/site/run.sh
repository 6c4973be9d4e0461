#!/usr/bin/env bash
# Benchmark of the rendered site (NOT run by CI): for every page, the bytes
# a CDN would send (HTML + JS + CSS + JSON, gzip) and Lighthouse 12.2.3
# performance + accessibility scores, desktop and mobile presets.
# Targets: ≤ 400 KB per page, scores ≥ 95.
#
#   bash benches/site/run.sh                 # builds the demo site (--days 60) first
#   bash benches/site/run.sh DIR/site        # an already built site
#   BENCH_PRESETS=desktop bash benches/site/run.sh DIR/site index.html
#
# Needs Node >= 20 (Lighthouse 13 wants Node 22, hence 12.2.3) and chromium
# (CHROME_PATH, default /usr/bin/chromium). Takes ~20–30 s per page and preset.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export CHROME_PATH="${CHROME_PATH:-/usr/bin/chromium}"

if [ ! -x "$HERE/node_modules/.bin/lighthouse" ]; then
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
fi

WORK=""
trap '[ -n "$WORK" ] && rm -rf "$WORK"' EXIT
SITE="${1:-}"
[ $# -gt 0 ] && shift
if [ -z "$SITE" ]; then
  BIN="$ROOT/target/release/voronka"
  [ -x "$BIN" ] || BIN="$ROOT/target/debug/voronka"
  [ -x "$BIN" ] || { (cd "$ROOT" && cargo build -q -p voronka); BIN="$ROOT/target/debug/voronka"; }
  WORK=$(mktemp -d /tmp/voronka-bench.XXXXXX)
  echo "building the demo site with $BIN …" >&2
  "$BIN" demo --out "$WORK/demo" --days 60 >"$WORK/demo.log" 2>&1 || { cat "$WORK/demo.log" >&2; exit 1; }
  SITE="$WORK/demo/site"
fi

node "$HERE/bench.mjs" "$SITE" "$@"
