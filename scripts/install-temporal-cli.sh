#!/usr/bin/env bash
# Makes a Temporal CLI binary available and prints its absolute path on stdout (last line).
# Idempotent: a second run finds the cached binary and returns at once.
#
# Order of preference:
#   1. $TEMPORAL_CLI_PATH, if it names an executable file
#   2. the project cache (.cache/temporal-cli/temporal), built earlier by this script
#   3. `temporal` already on PATH
#   4. build it from Go modules: go install github.com/temporalio/cli/cmd/temporal@v1.5.1
#      (v1.5.1 is the newest tag `go install` accepts: v1.6.0 adds a `replace` directive)
set -euo pipefail

version="${TEMPORAL_CLI_VERSION:-v1.5.1}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_dir="${SEGFLOW_CACHE_DIR:-$root/.cache}/temporal-cli"
cached="$cache_dir/temporal"

log() { printf '%s\n' "$*" >&2; }

if [ -n "${TEMPORAL_CLI_PATH:-}" ]; then
  if [ -x "$TEMPORAL_CLI_PATH" ]; then echo "$TEMPORAL_CLI_PATH"; exit 0; fi
  log "TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH is not an executable file"; exit 1
fi
if [ -x "$cached" ]; then echo "$cached"; exit 0; fi
if command -v temporal >/dev/null 2>&1; then command -v temporal; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  log "No Temporal CLI found and Go is not installed."
  log "Install Go >= 1.25 (https://go.dev/dl) and re-run, or install the Temporal CLI"
  log "(https://docs.temporal.io/cli#install) and set TEMPORAL_CLI_PATH to it."
  exit 1
fi

mkdir -p "$cache_dir"
log "Building Temporal CLI $version from Go modules (first run only; takes a few minutes)..."
# GOBIN puts the binary straight into our cache; GOFLAGS=-mod=mod avoids surprises from a user's
# global settings; CGO is not needed (the dev server uses pure-Go SQLite).
tmp_bin="$(mktemp -d)"
if ! CGO_ENABLED=0 GOBIN="$tmp_bin" go install "github.com/temporalio/cli/cmd/temporal@$version" >&2; then
  rm -rf "$tmp_bin"
  log "go install github.com/temporalio/cli/cmd/temporal@$version failed (see above)."
  exit 1
fi
mv "$tmp_bin/temporal" "$cached"
rm -rf "$tmp_bin"
log "Temporal CLI installed at $cached"
echo "$cached"
