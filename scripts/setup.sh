#!/usr/bin/env bash
# Everything segflow needs on a fresh machine, idempotent: npm packages (when missing or out of date) and
# the Temporal CLI (scripts/install-temporal-cli.sh). Quiet when there is nothing to do.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "Installing npm packages..." >&2
  npm ci --no-audit --no-fund >&2
fi
if ! bash scripts/install-temporal-cli.sh >/dev/null; then
  # Without Go or a binary, the dev server comes from the Temporal SDK's own download (needs internet).
  echo "No Temporal CLI installed; segflow will try the Temporal SDK's download of it instead." >&2
fi
