#!/usr/bin/env bash
# The multi-host test (test/cluster/) makes its hosts with `ip netns` from iproute2; install Debian's package
# when missing. Idempotent.
set -euo pipefail
if command -v ip >/dev/null 2>&1; then exit 0; fi
command -v apt-get >/dev/null 2>&1 || { echo "No \`ip\` command and no apt-get: install iproute2" >&2; exit 1; }
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "Installing iproute2 from Debian packages (first run only)..." >&2
$sudo apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends iproute2 >&2
