#!/usr/bin/env bash
# Browser tests of the rendered site (tests/browser/, node:test + headless
# Debian chromium via playwright-core, axe-core). Not part of `cargo test`;
# .ci/run calls it after the Rust tests (which leave target/debug/voronka).
#
#   bash .ci/browser.sh                       # build the demo site, run the tests
#   VORONKA_SITE=DIR/site bash .ci/browser.sh # test an already built site
#   VORONKA_SCREENSHOTS=1 bash .ci/browser.sh # also rewrite docs/screenshots/*.png
#
# Needs Node >= 20 and npm (registry access for `npm ci`); installs Debian's
# chromium if it is missing. Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export CARGO_TERM_COLOR=never
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "   took %.1f s\n", b - a }'; }
T0=$(now)

step "chromium"
if ! command -v "${CHROMIUM_PATH:-/usr/bin/chromium}" >/dev/null 2>&1; then
  t=$(now)
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  took "$t"
fi
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
"$CHROMIUM_PATH" --version 2>/dev/null | grep -v '^\[' || true
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "Node >= 20 is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
echo "node $(node --version)"

step "npm ci (tests/browser)"
t=$(now)
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
took "$t"

WORK=""
cleanup() { if [ -n "$WORK" ]; then rm -rf "$WORK"; fi; }
trap cleanup EXIT

if [ -z "${VORONKA_SITE:-}" ]; then
  step "voronka binary (debug)"
  BIN="$ROOT/target/debug/voronka"
  # CI runs this after `cargo test --workspace`, which leaves the debug
  # binary in place: use it. Build it only when it is missing (or when
  # VORONKA_BUILD=1 asks for a fresh one).
  if [ ! -x "$BIN" ] || [ "${VORONKA_BUILD:-0}" = 1 ]; then
    t=$(now)
    cargo build -q -p voronka
    took "$t"
  fi
  echo "$BIN ($(date -u -r "$BIN" '+built %Y-%m-%d %H:%M UTC'))"

  step "demo site (--days 60)"
  t=$(now)
  WORK=$(mktemp -d /tmp/voronka-browser.XXXXXX)
  "$BIN" demo --out "$WORK/demo" --days 60 >"$WORK/demo.log" 2>&1 || {
    cat "$WORK/demo.log" >&2
    exit 1
  }
  tail -n 1 "$WORK/demo.log"
  took "$t"
  export VORONKA_SITE="$WORK/demo/site"
fi
echo "site: $VORONKA_SITE ($(find "$VORONKA_SITE" -name '*.html' | wc -l) pages)"

step "node --test (tests/browser)"
t=$(now)
cd tests/browser
status=0
node --test --test-reporter=spec --test-concurrency=1 ./*.test.mjs || status=$?
took "$t"

step "done"
awk -v a="$T0" -v b="$(now)" 'BEGIN { printf "browser tests: %.0f s in all\n", b - a }'
exit "$status"
