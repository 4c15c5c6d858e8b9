#!/usr/bin/env bash
# The observability test scrapes a worker with a real Prometheus (Debian package `prometheus`). Idempotent;
# installs only the binaries (the package's service is not started). Prints the prometheus path.
set -euo pipefail
if command -v prometheus >/dev/null 2>&1; then command -v prometheus; exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "No prometheus found and no apt-get: install Prometheus 2.x and put it on PATH" >&2; exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "Installing Prometheus from Debian packages (first run only)..." >&2
$sudo apt-get update -qq >&2
# policy-rc.d 101: no service starts during the install (containers and CI machines have no init anyway).
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >&2
command -v prometheus
