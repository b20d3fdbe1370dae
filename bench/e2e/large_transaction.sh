#!/usr/bin/env bash
# One large transaction end to end: ROWS rows inserted in a single transaction, replicated
# by `pg2bq run` into bq-emulator (--no-storage: validated and acknowledged, not stored),
# reporting the time from COMMIT to BigQuery acknowledgement (spool checkpoint past the
# commit) and the agent's peak RSS (VmHWM). Uses BUILD (default build/) for the binaries.
#   usage: bench/e2e/large_transaction.sh [ROWS] (default 2000000)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${1:-2000000}
BUILD=${BUILD:-build}
BINDIR=${PG2BQ_PG_BINDIR:-/usr/lib/postgresql/15/bin}
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
WORK=$(mktemp -d /tmp/pg2bq-bench-XXXXXX)
PGDATA="$WORK/data"
AGENT_PID=""
EMU_PID=""
cleanup() {
  [ -n "$AGENT_PID" ] && kill -KILL "$AGENT_PID" 2>/dev/null || true
  [ -n "$EMU_PID" ] && kill -TERM "$EMU_PID" 2>/dev/null && wait "$EMU_PID" 2>/dev/null || true
  [ -f "$PGDATA/postmaster.pid" ] && as_postgres "$BINDIR/pg_ctl" stop -D "$PGDATA" -m fast -s >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$WORK"; fi
PORT=55320
while (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do PORT=$((PORT + 1)); done
echo x >"$WORK/pwfile"; chmod 644 "$WORK/pwfile"
as_postgres "$BINDIR/initdb" -D "$PGDATA" -U postgres --pwfile="$WORK/pwfile" --auth-local=trust \
  --auth-host=trust -E UTF8 --locale=C --no-sync --no-instructions >"$WORK/initdb.log"
cat >>"$PGDATA/postgresql.conf" <<EOF
wal_level = logical
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$WORK'
max_wal_size = 4GB
EOF
as_postgres "$BINDIR/pg_ctl" start -D "$PGDATA" -l "$WORK/server.log" -w -s
DSN="host=127.0.0.1 port=$PORT user=postgres dbname=postgres"
psql_() { "$BINDIR/psql" "$DSN" -X -q -v ON_ERROR_STOP=1 "$@"; }
"$BUILD/bq-emulator" --data "$WORK/bq" --no-storage >"$WORK/bq.ports" 2>"$WORK/bq.log" &
EMU_PID=$!
for _ in $(seq 100); do [ -s "$WORK/bq.ports" ] && break; sleep 0.1; done
read -r GRPC HTTP <"$WORK/bq.ports"
psql_ -c "CREATE TABLE big (id bigint PRIMARY KEY, customer text, amount numeric(12,2), at timestamptz)" \
  -c "CREATE PUBLICATION bench FOR ALL TABLES"
cat >"$WORK/pg2bq.conf" <<EOF
[source]
dsn = $DSN
[replication]
slot = bench
publication = bench
[target]
project = p
dataset = d
insecure = true
grpc_endpoint = ${GRPC#grpc=}
rest_endpoint = http://${HTTP#http=}
[agent]
state_dir = $WORK/state
metrics_address =
EOF
"$BUILD/pg2bq" run --config "$WORK/pg2bq.conf" >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 150); do
  [ "$(psql_ -At -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name='bench' AND active")" = 1 ] && break
  sleep 0.1
done
psql_ -c "INSERT INTO big VALUES (0, 'warm', 0, now())"
sleep 1
START_LSN=$(psql_ -At -c "SELECT pg_current_wal_lsn()")
T0=$(date +%s.%N)
psql_ -c "INSERT INTO big SELECT g, 'customer ' || (g % 1000), g % 10000 / 100.0, now() FROM generate_series(1, $ROWS) g"
T1=$(date +%s.%N)
while :; do
  ACKED=$("$BUILD/pg2bq" status --config "$WORK/pg2bq.conf" 2>/dev/null | sed -n 's/.*acknowledged LSN \([0-9A-F/]*\).*/\1/p')
  if [ -n "$ACKED" ] && [ "$(psql_ -At -c "SELECT '$ACKED'::pg_lsn > '$START_LSN'::pg_lsn")" = t ]; then break; fi
  kill -0 "$AGENT_PID" || { cat "$WORK/agent.log"; exit 1; }
  sleep 0.2
done
T2=$(date +%s.%N)
HWM=$(sed -n 's/VmHWM:\s*//p' /proc/$AGENT_PID/status)
CPU=$(awk '{printf "%.1f", ($14 + $15) / 100}' /proc/$AGENT_PID/stat)
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || true; AGENT_PID=""
awk -v r="$ROWS" -v t0="$T0" -v t1="$T1" -v t2="$T2" -v hwm="$HWM" -v cpu="$CPU" 'BEGIN {
  printf "rows %d in one transaction: INSERT+COMMIT %.2f s; COMMIT -> acknowledged %.2f s (%.0f rows/s after commit); agent peak RSS %s; agent CPU %s s\n",
    r, t1 - t0, t2 - t1, r / (t2 - t1), hwm, cpu }'
