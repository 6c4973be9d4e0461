#!/usr/bin/env bash
# Assembles the one Lambda artifact that every function of
# infra/template.yaml runs: infra/dist/bootstrap (the voronka binary for
# arm64 Linux) and infra/dist/voronka.toml (the school's config, storage in
# S3). `sam deploy` zips this folder.
#
#   infra/package.sh path/to/voronka.aws.toml
#
# Needs cargo-lambda (`cargo install cargo-lambda`, ~18 min, or
# `pip install cargo-lambda`) and the aarch64 target; see docs/deploy.md.
set -euo pipefail
cd "$(dirname "$0")/.."

config="${1:?usage: infra/package.sh path/to/voronka.aws.toml}"
[[ -f "$config" ]] || { echo "error: $config: no such file" >&2; exit 1; }
if ! grep -Eq '^[[:space:]]*kind[[:space:]]*=[[:space:]]*"s3"' "$config"; then
  echo "error: $config: on AWS the store is the lake bucket; set [storage] kind = \"s3\" and bucket = the LakeBucketName parameter" >&2
  exit 1
fi
if grep -Ev '^[[:space:]]*#' "$config" | grep -Eq '\{[[:space:]]*env[[:space:]]*='; then
  echo "warning: $config names credentials with env = \"...\"; on AWS use { secret = \"<slug>\" } (the template sets VORONKA_SECRET_<SLUG>)" >&2
fi

# Validate every key before building for 10 minutes.
cargo run --release --quiet -p voronka -- --config "$config" check-config

rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$' \
  || rustup target add aarch64-unknown-linux-gnu
cargo lambda build --release --arm64 -p voronka --bin voronka

rm -rf infra/dist
mkdir -p infra/dist
cp target/lambda/voronka/bootstrap infra/dist/bootstrap
cp "$config" infra/dist/voronka.toml
ls -l infra/dist
echo "artifact ready: infra/dist (now: sam deploy -t infra/template.yaml ...)"
