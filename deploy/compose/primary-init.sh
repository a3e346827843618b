#!/bin/bash
# Runs once, when the primary's data directory is created (the postgres
# image runs /docker-entrypoint-initdb.d/*.sh): adds the replication role
# the replica's pg_basebackup and streaming connect as, and lets it in.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v pw="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'pw';
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
