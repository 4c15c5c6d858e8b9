#!/usr/bin/env bash
# Validates docker-compose.yml with `docker compose config` (client only: no Docker engine is needed).
# Uses the machine's Compose v2 when there is one; otherwise builds Compose v2 once from Go modules into
# .cache/ (like the Temporal CLI), so a fresh CI machine checks the file too.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
version="${COMPOSE_VERSION:-v2.40.3}"
cached="$root/.cache/compose/docker-compose"

if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif [ -x "$cached" ]; then
  compose=("$cached")
else
  command -v go >/dev/null 2>&1 || { echo "No docker compose and no Go to build it: cannot check docker-compose.yml" >&2; exit 1; }
  echo "Building Docker Compose $version from Go modules to check docker-compose.yml (first run only)..." >&2
  mkdir -p "$(dirname "$cached")"
  # `go install pkg@version` refuses Compose (its go.mod has exclude directives), so build inside a copy of
  # the module as downloaded from the module proxy, where those directives apply as intended.
  src="$(go mod download -json "github.com/docker/compose/v2@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -n "$src" ] || { echo "could not download github.com/docker/compose/v2@$version" >&2; exit 1; }
  work="$(mktemp -d)"
  cp -R "$src/." "$work/"
  chmod -R u+w "$work"
  (cd "$work" && CGO_ENABLED=0 go build -trimpath -o "$cached" ./cmd) >&2
  rm -rf "$work"
  compose=("$cached")
fi

# Once with the defaults a new user has (no .env), once scaled out with the encryption profile.
env -u SEGMENT_WRITE_KEY "${compose[@]}" -f docker-compose.yml config --quiet
SEGFLOW_WORKER_REPLICAS=3 "${compose[@]}" -f docker-compose.yml --profile encryption config --quiet
# The images a plain `docker compose up` pulls are the ones deploy/versions.env names (the defaults in the file
# repeat it; test/unit/versions.test.ts checks them one by one, this checks what Compose resolves).
plain="$("${compose[@]}" -f docker-compose.yml --profile encryption config --images | sort)"
pinned="$("${compose[@]}" -f docker-compose.yml --env-file deploy/versions.env --profile encryption config --images | sort)"
if [ "$plain" != "$pinned" ]; then
  echo "docker-compose.yml resolves other images than deploy/versions.env names:" >&2
  diff <(printf '%s\n' "$plain") <(printf '%s\n' "$pinned") >&2 || true
  exit 1
fi
if printf '%s\n' "$plain" | grep -Eq '(:latest$|^[^:]+$)'; then
  echo "docker-compose.yml: every image needs a pinned tag, not latest:" >&2
  printf '%s\n' "$plain" >&2
  exit 1
fi
echo "docker-compose.yml: valid" >&2
