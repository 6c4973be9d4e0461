#!/usr/bin/env bash
# The performance benchmark (docs/performance.md): builds voronka in release
# mode, makes a venv with DuckDB pinned, runs `voronka bench` on one core,
# then the DuckDB reference on the same normalized data, which compares the
# outputs and prints the ratio voronka aggregate / DuckDB last.
#
#   benches/perf/run.sh [--out DIR] [--scale X] [--years Y] [--reuse]
#
# Defaults: the large school (scale 8, 3 years) in target/bench-lake.
# Environment: VENV (default target/bench-venv), CORE (default 0).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=target/bench-lake
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --scale|--years|--seed|--end) ARGS+=("$1" "$2"); shift 2 ;;
    --reuse) ARGS+=("$1"); shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
VENV=${VENV:-$ROOT/target/bench-venv}
CORE=${CORE:-0}
DUCKDB_VERSION=2.0.1

echo "== machine"
echo "nproc: $(nproc); $(lscpu | grep 'Model name' | sed 's/  */ /g'); memory: $(free -g | awk '/Mem:/{print $2}') GiB"

echo "== build (release)"
cargo build --release -p voronka
BIN=$ROOT/target/release/voronka

echo "== venv with duckdb==$DUCKDB_VERSION"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -c "import duckdb, sys; sys.exit(duckdb.__version__ != '$DUCKDB_VERSION')" 2>/dev/null \
  || "$VENV/bin/pip" install -q "duckdb==$DUCKDB_VERSION"

# One core for everything measured: voronka's steps run on a
# current-thread runtime in child processes that inherit this affinity;
# DuckDB runs with threads=1 on the same core.
PIN=()
if command -v taskset >/dev/null; then PIN=(taskset -c "$CORE"); fi

echo "== voronka bench"
"${PIN[@]}" "$BIN" bench --out "$OUT" "${ARGS[@]}"

echo "== DuckDB reference"
"${PIN[@]}" "$VENV/bin/python" "$ROOT/benches/perf/duckdb_reference.py" --lake "$OUT" --threads 1
