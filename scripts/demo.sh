#!/usr/bin/env bash
# `npm run demo`: from a fresh clone, installs what is missing, then imports samples/events.csv on an embedded
# default — a local Temporal dev server (with Web UI), a worker and a local Segment stand-in — and exits.
# Pass other arguments to `segflow dev` instead, e.g. `npm run demo -- --import my.ndjson` or `npm run demo -- ` (stay up).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
if [ "$#" -eq 0 ]; then set -- --import samples/events.csv --exit; fi
exec node_modules/.bin/tsx src/cli.ts dev "$@"
