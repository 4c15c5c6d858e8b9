#!/bin/sh
# Registers segflow's search attributes (SegflowKind, SegflowState, SegflowSource; all Keyword) on a namespace,
# so the Temporal UI's workflow list can filter segflow jobs. Idempotent: attributes that already exist are
# left alone. Needs the Temporal CLI (`temporal`).
#
#   docker compose: run by deploy/setup-namespace.sh as the one-shot temporal-namespace service.
#   Any other self-hosted cluster, once per namespace:
#     TEMPORAL_ADDRESS=host:7233 TEMPORAL_NAMESPACE=default sh deploy/register-search-attributes.sh
set -eu

address="${TEMPORAL_ADDRESS:-temporal:7233}"
namespace="${TEMPORAL_NAMESPACE:-default}"
wait_seconds="${WAIT_SECONDS:-300}"
attributes="SegflowKind SegflowState SegflowSource"

# The namespace may be created by another job (deploy/setup-namespace.sh) or a person: wait for it. Listing its
# search attributes, not `namespace describe`: describe reads the database and succeeds at once, while the
# search-attribute calls go through the frontend's namespace cache, which learns of a new namespace up to ~10 s later.
waited=0
until temporal operator search-attribute list --address "$address" --namespace "$namespace" >/dev/null 2>&1; do
  if [ "$waited" -ge "$wait_seconds" ]; then
    echo "namespace $namespace not reachable at $address after ${wait_seconds}s" >&2
    exit 1
  fi
  echo "waiting for namespace $namespace at $address..."
  sleep 2
  waited=$((waited + 2))
done

existing="$(temporal operator search-attribute list --address "$address" --namespace "$namespace" 2>/dev/null || true)"
for name in $attributes; do
  if printf '%s\n' "$existing" | grep -Eq "^[[:space:]]*$name[[:space:]]+Keyword([[:space:]]|\$)"; then
    echo "search attribute $name already registered"
    continue
  fi
  if output="$(temporal operator search-attribute create --address "$address" --namespace "$namespace" --name "$name" --type Keyword 2>&1)"; then
    echo "registered search attribute $name (Keyword)"
  elif printf '%s\n' "$output" | grep -qi "already exist" && ! printf '%s\n' "$output" | grep -qi "different type"; then
    # Older servers refuse a duplicate instead of accepting it; same name and type is what we want.
    echo "search attribute $name already registered"
  else
    # Includes "already exists and has different type": someone registered the name as another type.
    printf '%s\n' "$output" >&2
    exit 1
  fi
done
