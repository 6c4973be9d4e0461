#!/usr/bin/env bash
# Fuzzes the vendor parsers and the webhook body handling for a bounded
# time (docs/reliability.md, "Fuzzing").
#
#   benches/fuzz/run.sh [SECONDS]            # default 60
#
# With a nightly toolchain and cargo-fuzz, the libFuzzer route is
# described in docs/reliability.md. This script uses the stable route that
# works everywhere: `fuzz_all`, a deterministic random-input loop over
# mutated seeds (fixtures/ plus the raw/ zone of a small demo lake), built
# in release mode from fuzz/ (its own cargo project, outside the
# workspace). Exit status 1 means a panic was found; the input is saved
# under fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TO_RUN="${1:-60}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    if rustup toolchain list 2>/dev/null | grep -q nightly; then
        cargo install cargo-fuzz --locked || echo "cargo-fuzz not installed; using the stable loop"
    else
        echo "no nightly toolchain (cargo-fuzz needs one): using the stable loop"
    fi
fi

LAKE="$(mktemp -d)"
trap 'rm -rf "$LAKE"' EXIT
# Seeds: every vendor's responses as the real connectors stored them.
cargo run --quiet -p voronka -- demo --out "$LAKE/demo" --seed 3 --days 21 --scale 0.2 >/dev/null
cargo run --release --manifest-path fuzz/Cargo.toml --bin fuzz_all -- \
    --seconds "$SECONDS_TO_RUN" --lake "$LAKE/demo"
