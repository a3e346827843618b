#!/bin/bash
# Entry point of the streaming replica. On the first start (an empty data
# directory) it copies the primary with pg_basebackup: -R writes
# standby.signal and primary_conninfo, -C -S creates the replication slot
# that keeps the WAL the replica has not received yet. Then it runs
# PostgreSQL as a hot standby. Runs as the postgres user.
set -euo pipefail

until pg_isready -h "$PRIMARY_HOST" -U "$REPLICATION_USER" -d postgres -q; do
  echo "waiting for $PRIMARY_HOST"
  sleep 1
done

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  # A slot left by an earlier replica whose volume was removed would make
  # -C fail: drop it first.
  psql -h "$PRIMARY_HOST" -U "$REPLICATION_USER" -d postgres -v ON_ERROR_STOP=1 -qAt \
    -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$SLOT'" >/dev/null
  echo "copying $PRIMARY_HOST with pg_basebackup"
  pg_basebackup -h "$PRIMARY_HOST" -U "$REPLICATION_USER" -D "$PGDATA" \
    -X stream -R -C -S "$SLOT" --checkpoint=fast --progress
  chmod 0700 "$PGDATA"
fi

exec postgres -c hot_standby=on
