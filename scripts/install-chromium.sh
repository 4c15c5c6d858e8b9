#!/usr/bin/env bash
# The browser test drives the system Chromium (Debian package `chromium`) with playwright-core; a test
# tool's own browser download cannot work offline. Idempotent; prints the browser path.
set -euo pipefail
for candidate in "${CHROMIUM_PATH:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then echo "$candidate"; exit 0; fi
done
if ! command -v apt-get >/dev/null 2>&1; then
  echo "No Chromium found and no apt-get: install Chromium and set CHROMIUM_PATH" >&2; exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "Installing Chromium from Debian packages (first run only)..." >&2
$sudo apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >&2
echo /usr/bin/chromium
