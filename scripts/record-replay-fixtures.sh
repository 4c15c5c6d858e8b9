#!/usr/bin/env bash
# Re-records the workflow histories CI replays (test/fixtures/histories/, docs/upgrades.md): every workflow
# shape runs once on a real worker and dev server, and its histories replace the committed ones.
# Record from the released code (main) and commit the result with the release.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh >/dev/null
rm -f test/fixtures/histories/*.json
SEGFLOW_RECORD_HISTORIES=1 npx vitest run --project integration test/integration/replay.test.ts -t 'recording fresh histories'
# The fresh fixtures must also pass the replay check itself.
npx vitest run --project integration test/integration/replay.test.ts
