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
# Node 22.18+ and 24 strip TypeScript types natively, so when the Temporal SDK require()s a `.ts` file by path (the
# codec's failure converter, src/temporal-connection.ts) Node itself loads it as CommonJS and fails on its `import`;
# Node 20 leaves it to the test runner. Tests run from sources, so they turn native stripping off; a built install
# loads the compiled `.js` from dist and is not affected (test/integration/production-install.test.ts).
if node -e 'process.exit(process.features.typescript ? 0 : 1)' 2>/dev/null; then
  export NODE_OPTIONS="${NODE_OPTIONS:-} --no-experimental-strip-types"
fi
npx vitest run "$@"
