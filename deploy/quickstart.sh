#!/usr/bin/env bash
# pg2bq quick start: installs the Debian packages, builds pg2bq and bq-emulator into build/,
# starts a throw-away PostgreSQL 15 cluster (as the `postgres` OS user, in a temp dir, on a
# free loopback port) and the local BigQuery emulator, creates a small shop schema, runs
# `pg2bq run` while a realistic workload writes, shows the lag draining, and ends with
# `pg2bq verify` comparing every table with its BigQuery copy.
#
# Everything it starts is stopped and removed on exit, also on Ctrl-C or failure.
set -euo pipefail
cd "$(dirname "$0")/.."

BINDIR=${PG2BQ_PG_BINDIR:-/usr/lib/postgresql/15/bin}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing packages (deploy/install-deps.sh)"
bash deploy/install-deps.sh

say "building pg2bq and bq-emulator into build/"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target pg2bq bq-emulator

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

WORK=$(mktemp -d /tmp/pg2bq-quickstart-XXXXXX)
PGDATA="$WORK/data"
AGENT_PID=""
EMU_PID=""
cleanup() {
  [ -n "$AGENT_PID" ] && kill -KILL "$AGENT_PID" 2>/dev/null || true
  [ -n "$EMU_PID" ] && kill -TERM "$EMU_PID" 2>/dev/null && wait "$EMU_PID" 2>/dev/null || true
  if [ -f "$PGDATA/postmaster.pid" ]; then
    as_postgres "$BINDIR/pg_ctl" stop -D "$PGDATA" -m fast -s >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$WORK"; fi

PORT=54320
while (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do PORT=$((PORT + 1)); done

say "starting a throw-away PostgreSQL 15 cluster in $WORK (port $PORT)"
PASSWORD=quickstart
echo "$PASSWORD" >"$WORK/pwfile"
chmod 644 "$WORK/pwfile"
as_postgres "$BINDIR/initdb" -D "$PGDATA" -U postgres --pwfile="$WORK/pwfile" \
  --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync \
  --no-instructions >"$WORK/initdb.log"
cat >>"$PGDATA/postgresql.conf" <<EOF
wal_level = logical
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$WORK'
max_replication_slots = 10
max_wal_senders = 10
timezone = 'UTC'
EOF
as_postgres "$BINDIR/pg_ctl" start -D "$PGDATA" -l "$WORK/server.log" -w -s
DSN="host=127.0.0.1 port=$PORT user=postgres password=$PASSWORD dbname=postgres"
psql_() { "$BINDIR/psql" "$DSN" -X -q -v ON_ERROR_STOP=1 "$@"; }

say "starting bq-emulator (the local BigQuery Storage Write API + REST emulator)"
mkdir -p "$WORK/bq"
build/bq-emulator --data "$WORK/bq" >"$WORK/bq.ports" 2>"$WORK/bq.log" &
EMU_PID=$!
for _ in $(seq 100); do [ -s "$WORK/bq.ports" ] && break; sleep 0.1; done
read -r GRPC HTTP <"$WORK/bq.ports"
GRPC=${GRPC#grpc=}
HTTP=${HTTP#http=}
echo "bq-emulator: gRPC $GRPC, REST http://$HTTP"

say "creating a sample schema and a publication"
psql_ <<'SQL'
CREATE TYPE order_status AS ENUM ('new', 'paid', 'shipped', 'cancelled');
CREATE TABLE customers (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email text NOT NULL UNIQUE,
  name text,
  signed_up timestamptz NOT NULL DEFAULT now(),
  tags text[]
);
CREATE TABLE orders (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  customer_id bigint NOT NULL REFERENCES customers(id),
  status order_status NOT NULL DEFAULT 'new',
  total numeric(12,2) NOT NULL,
  items jsonb NOT NULL,
  placed_at timestamptz NOT NULL DEFAULT now(),
  ship_by date
);
CREATE PUBLICATION quickstart FOR ALL TABLES;
SQL

cat >"$WORK/pg2bq.conf" <<EOF
[source]
dsn = host=127.0.0.1 port=$PORT user=postgres dbname=postgres
[replication]
slot = quickstart
publication = quickstart
[target]
project = quickstart
dataset = shop
insecure = true
grpc_endpoint = $GRPC
rest_endpoint = http://$HTTP
[agent]
state_dir = $WORK/state
metrics_address = 127.0.0.1:0
EOF
chmod 600 "$WORK/pg2bq.conf"
export PG2BQ_SOURCE_PASSWORD=$PASSWORD  # secrets from the environment, not the file

say "starting pg2bq run (log: $WORK/agent.log)"
echo "\$ build/pg2bq run --config $WORK/pg2bq.conf"
build/pg2bq run --config "$WORK/pg2bq.conf" >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 150); do
  [ "$(psql_ -At -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'quickstart' AND active")" = 1 ] && break
  kill -0 "$AGENT_PID" 2>/dev/null || { cat "$WORK/agent.log"; exit 1; }
  sleep 0.1
done

say "running a sample workload (customers, orders, updates, deletes)"
psql_ <<'SQL'
INSERT INTO customers (email, name, tags)
  SELECT 'user' || g || '@example.com', 'User ' || g, ARRAY['tag' || (g % 5)]
  FROM generate_series(1, 2000) g;
INSERT INTO orders (customer_id, total, items, ship_by, status)
  SELECT 1 + (g % 2000), (g % 500) * 1.25,
         jsonb_build_array(jsonb_build_object('sku', 'B-' || g, 'qty', 1 + g % 4)),
         DATE '2024-03-01' + (g % 60), 'new'
  FROM generate_series(1, 20000) g;
UPDATE orders SET status = 'paid' WHERE total > 300;
UPDATE customers SET name = name || ' (vip)' WHERE id % 10 = 0;
DELETE FROM orders WHERE total < 5;
BEGIN;  -- rolled back: never replicated
DELETE FROM orders;
ROLLBACK;
SQL

say "lag draining: rows in BigQuery while pg2bq catches up (the slot position is confirmed every 10 s)"
for _ in $(seq 60); do
  LAG=$(psql_ -At -c "SELECT pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'quickstart'")
  ROWS=$(curl -s "http://$HTTP/bigquery/v2/projects/quickstart/datasets/shop/tables/orders/data?maxResults=1" \
    | sed -n 's/.*"totalRows": *"\([0-9]*\)".*/\1/p')
  echo "slot lag ${LAG} bytes, BigQuery orders rows: ${ROWS:-0}"
  if build/pg2bq verify --config "$WORK/pg2bq.conf" >/dev/null 2>&1; then break; fi
  sleep 0.5
done

say "pg2bq verify: every table compared with its BigQuery copy"
echo "\$ build/pg2bq verify --config $WORK/pg2bq.conf"
build/pg2bq verify --config "$WORK/pg2bq.conf"

say "stopping pg2bq (SIGTERM: flush, checkpoint, exit 0)"
kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
AGENT_PID=""
tail -n 3 "$WORK/agent.log"

say "pg2bq status: spool positions, tables, dead letters and the slot"
echo "\$ build/pg2bq status --config $WORK/pg2bq.conf"
build/pg2bq status --config "$WORK/pg2bq.conf"

say "done"
cat <<EOF
What you saw: pg2bq consumed the pgoutput slot, spooled every change to disk, wrote the
rows into BigQuery (here the local emulator) with the Storage Write API as CDC
UPSERT/DELETE rows, and 'pg2bq verify' found every table equal to PostgreSQL.
The cluster, the emulator and $WORK are now stopped and removed.
EOF
