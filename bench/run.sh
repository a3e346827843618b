#!/usr/bin/env bash
# make bench: the webhook ingest benchmark against a throwaway PostgreSQL
# cluster (durable settings; see internal/pgtest.StartBench) and against
# SQLite, with Telegraf (built from bench/telegraf) as the peer, raw COPY
# and plain net/http as baselines. Writes docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
DURATION=${BENCH_DURATION:-10s}
PGDIR=${BENCH_PG_DIR:-/tmp/tributary-bench-pg}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

make build
telegraf_note=""
if (cd bench/telegraf && CGO_ENABLED=0 timeout 1200 $GO build -o ../../bin/telegraf .) >"$out/telegraf-build.log" 2>&1; then
  telegraf_flag=(-telegraf bin/telegraf)
else
  telegraf_flag=()
  telegraf_note="Telegraf could not be built here (see the build log below), so this run has no peer column."
fi

url=$($GO run ./bench/pgcluster start -dir "$PGDIR")
stop_pg() { $GO run ./bench/pgcluster stop -dir "$PGDIR" || true; }
trap 'stop_pg; rm -rf "$out"' EXIT

$GO run ./bench/ingest -bin bin/tributary -database-url "$url" -duration "$DURATION" \
  "${telegraf_flag[@]}" -summary "$out/postgres.md" | tee "$out/postgres.log"
$GO run ./bench/ingest -bin bin/tributary -duration "$DURATION" -summary "$out/sqlite.md" | tee "$out/sqlite.log"

pgversion=$(psql "$url" -Atc 'SHOW server_version' 2>/dev/null || echo unknown)
{
  echo "# Benchmarks"
  echo
  echo "Produced by \`make bench\` (bench/run.sh) on $(date -u +%Y-%m-%d). Figures of one run; rerun for yours."
  echo
  echo "## Machine"
  echo
  echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
  echo "- Memory: $(awk '/MemTotal/ {printf "%.1f GB", $2/1048576}' /proc/meminfo)"
  echo "- Kernel: $(uname -sr); $($GO version | cut -d' ' -f3-)"
  echo "- PostgreSQL $pgversion, a throwaway cluster with durable settings (fsync and synchronous_commit on), on the same machine"
  echo "- Load average when the run ended: $(cut -d' ' -f1-3 /proc/loadavg) (the machine may be shared: compare ratios of one run, not figures across runs)"
  echo
  echo "Load: 32 keep-alive connections, no compression, $DURATION per phase after a warm-up; the load generator runs on the same cores."
  echo "Tributary answers 202 only after the batch's transaction committed; Telegraf (http_listener_v2 → outputs.postgresql) answers before writing."
  echo
  if [ -n "$telegraf_note" ]; then echo "$telegraf_note"; echo; fi
  echo "## Webhook → PostgreSQL"
  echo
  cat "$out/postgres.md"
  echo
  echo "## Webhook → SQLite (the embedded default)"
  echo
  cat "$out/sqlite.md"
  echo
  echo "## Reading the figures"
  echo
  echo "With 32 connections that each wait for their acknowledgement, Tributary's request rate is"
  echo "32 ÷ (time from request to commit): a group commit costs one round trip and one commit"
  echo "(records, rejected records, stats delta, rollups and the run in one pgx batch run as one"
  echo "implicit transaction), so what remains is the latency of that round trip and of"
  echo "PostgreSQL's commit, plus scheduling on cores shared with the load generator, PostgreSQL"
  echo "and Telegraf. Telegraf answers before it writes, so its rate does not include any commit."
  echo "On a loaded machine the scheduling delay dominates; compare the ratios within one run."
  echo
  echo "## Raw output"
  echo
  echo '```'
  cat "$out/postgres.log" "$out/sqlite.log"
  echo '```'
  if [ -n "$telegraf_note" ]; then echo; echo '```'; tail -30 "$out/telegraf-build.log"; echo '```'; fi
} > docs/benchmarks.md
echo "wrote docs/benchmarks.md"
