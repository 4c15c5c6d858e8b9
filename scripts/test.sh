#!/usr/bin/env bash
# `npm test`: set up what is missing, then run every test (unit + integration on a real Temporal dev server,
# then the multi-host test on scripts/cluster.sh's PostgreSQL-backed Temporal server).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
# The Web UI test drives the system Chromium; install it from Debian packages when missing.
export CHROMIUM_PATH="$(bash scripts/install-chromium.sh)"
# The observability test runs a real Prometheus (Debian package) against a worker.
bash scripts/install-prometheus.sh >/dev/null
# The multi-host cluster test (test/cluster/) needs iproute2; it builds and starts scripts/cluster.sh itself.
bash scripts/install-iproute2.sh
npx tsc -p tsconfig.json --noEmit
npx vitest run "$@"
