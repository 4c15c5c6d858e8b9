#!/bin/sh
# Creates segflow's namespace (when missing) with its retention, then registers segflow's search attributes
# (deploy/register-search-attributes.sh). Runs in the temporalio/admin-tools image as the one-shot
# `temporal-namespace` service of docker-compose.yml, once the server is healthy. Idempotent.
set -eu

address="${TEMPORAL_ADDRESS:-temporal:7233}"
namespace="${TEMPORAL_NAMESPACE:-default}"
# Reject reports and job results stay inspectable in the UI for a week after a job closes.
retention="${TEMPORAL_NAMESPACE_RETENTION:-168h}"
wait_seconds="${WAIT_SECONDS:-300}"

waited=0
until temporal operator cluster health --address "$address" 2>/dev/null | grep -q SERVING; do
  if [ "$waited" -ge "$wait_seconds" ]; then
    echo "Temporal at $address not serving after ${wait_seconds}s" >&2
    exit 1
  fi
  echo "waiting for Temporal at $address..."
  sleep 2
  waited=$((waited + 2))
done

if temporal operator namespace describe --address "$address" --namespace "$namespace" >/dev/null 2>&1; then
  echo "namespace $namespace already exists"
else
  temporal operator namespace create --address "$address" --namespace "$namespace" --retention "$retention" \
    --description "segflow jobs"
  echo "created namespace $namespace (retention $retention)"
fi

exec sh "$(dirname "$0")/register-search-attributes.sh"
