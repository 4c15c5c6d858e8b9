#!/bin/sh
# Creates or updates Temporal's schema in PostgreSQL: the `temporal` (persistence) and `temporal_visibility`
# databases, then every versioned schema step up to the one the admin-tools image ships. Runs in the
# temporalio/admin-tools image (temporal-sql-tool and the schema files under /etc/temporal/schema), as the
# one-shot `temporal-schema` service of docker-compose.yml, before the server starts: upstream's pattern since
# the auto-setup image was deprecated (docs/temporal-deployment.md).
#
# Idempotent: an existing database is kept, `setup-schema -v 0.0` leaves a versioned schema alone, and
# `update-schema` applies only the steps that are missing, so the same job upgrades the schema when
# TEMPORAL_ADMIN_TOOLS_TAG moves to a newer server release.
#
# Connection: SQL_HOST, SQL_PORT, SQL_USER and SQL_PASSWORD (temporal-sql-tool reads the password from the
# environment itself, so it stays out of the process list).
set -eu

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "${SQL_HOST:-postgresql}" -p "${SQL_PORT:-5432}" \
    -u "${SQL_USER:-temporal}" "$@"
}

schema_root="${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}"

# No wait loop: compose starts this job only once PostgreSQL's healthcheck (pg_isready) passes, and restarts
# it on failure a few times.
setup_database() {
  database="$1"
  versioned_dir="$2"
  # The postgres image already created a database named after POSTGRES_USER; any other is created here.
  if output="$(sql_tool --db "$database" create 2>&1)"; then
    echo "created database $database"
  elif printf '%s\n' "$output" | grep -qi "already exists"; then
    echo "database $database already exists"
  else
    printf '%s\n' "$output" >&2
    exit 1
  fi
  sql_tool --db "$database" setup-schema -v 0.0
  sql_tool --db "$database" update-schema -d "$versioned_dir"
  echo "schema of $database is current"
}

setup_database "${SQL_DATABASE_NAME:-temporal}" "$schema_root/temporal/versioned"
setup_database "${SQL_VISIBILITY_DATABASE_NAME:-temporal_visibility}" "$schema_root/visibility/versioned"
