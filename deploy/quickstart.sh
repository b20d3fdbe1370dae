#!/usr/bin/env bash
# pg2bq quick start: installs the Debian packages, builds pg2bq into build/, starts a
# throw-away PostgreSQL 15 cluster (as the `postgres` OS user, in a temp dir, on a free
# loopback port), creates a small shop schema, a publication and a pgoutput slot, runs
# a sample workload, and shows `pg2bq stream` decoding every change from the slot.
#
# What it shows today: the replication stream and the pgoutput decoder (text and
# binary mode). The BigQuery half of pg2bq (spool, Storage Write API sink) is not
# wired into a command yet, so nothing is sent to BigQuery.
#
# Everything it starts is stopped and removed on exit, also on Ctrl-C or failure.
set -euo pipefail
cd "$(dirname "$0")/.."

BINDIR=${PG2BQ_PG_BINDIR:-/usr/lib/postgresql/15/bin}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing packages (deploy/install-deps.sh)"
bash deploy/install-deps.sh

say "building pg2bq into build/"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target pg2bq

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

WORK=$(mktemp -d /tmp/pg2bq-quickstart-XXXXXX)
PGDATA="$WORK/data"
cleanup() {
  if [ -f "$PGDATA/postmaster.pid" ]; then
    as_postgres "$BINDIR/pg_ctl" stop -D "$PGDATA" -m fast -s >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$WORK"; fi

# A port nobody listens on.
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

say "creating a sample schema, a publication and a slot"
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
ALTER TABLE orders REPLICA IDENTITY FULL;  -- old rows in full on update/delete
CREATE PUBLICATION quickstart FOR ALL TABLES;
SQL
# pg2bq creates the slot itself (--create-slot); with --end-lsn at the current position
# it returns at once.
NOW=$(psql_ -At -c "SELECT pg_current_wal_lsn()")
build/pg2bq stream --dsn "$DSN" --slot quickstart --publication quickstart --create-slot \
  --end-lsn "$NOW" --log-level warn
psql_ -c "SELECT pg_copy_logical_replication_slot('quickstart', 'quickstart_binary')" >/dev/null

say "running a sample workload"
psql_ <<'SQL'
INSERT INTO customers (email, name, tags) VALUES
  ('ada@example.com', 'Ada Lovelace', '{vip,early}'),
  ('alan@example.com', 'Alan Turing', NULL),
  ('grace@example.com', 'Grace Hopper', '{navy}');
BEGIN;
INSERT INTO orders (customer_id, total, items, ship_by)
  SELECT c.id, 19.99 * c.id, jsonb_build_array(jsonb_build_object('sku', 'B-' || c.id, 'qty', c.id)),
         DATE '2024-03-01' + c.id::int
  FROM customers c;
SELECT pg_logical_emit_message(true, 'audit', 'orders imported by the quick start') \g /dev/null
COMMIT;
UPDATE orders SET status = 'paid' WHERE customer_id = 1;
UPDATE customers SET email = 'alan.turing@example.com' WHERE id = 2;
BEGIN;  -- rolled back: never appears in the slot
DELETE FROM orders;
ROLLBACK;
DELETE FROM orders WHERE customer_id = 3;
SQL
END_LSN=$(psql_ -At -c "SELECT pg_current_wal_lsn()")

say "pg2bq stream: every change decoded from the slot, one JSON object per line"
echo "\$ build/pg2bq stream --dsn '...' --slot quickstart --publication quickstart --end-lsn $END_LSN"
build/pg2bq stream --dsn "$DSN" --slot quickstart --publication quickstart \
  --end-lsn "$END_LSN" --log-level warn | tee "$WORK/text.jsonl"

say "the same slot contents in --binary mode (values decoded from binary, printed as text)"
build/pg2bq stream --dsn "$DSN" --slot quickstart_binary --publication quickstart --binary \
  --end-lsn "$END_LSN" --log-level warn >"$WORK/binary.jsonl"
if cmp -s "$WORK/text.jsonl" "$WORK/binary.jsonl"; then
  echo "binary mode printed exactly the same $(wc -l <"$WORK/text.jsonl") lines as text mode"
else
  echo "binary mode output differs from text mode:"
  diff "$WORK/text.jsonl" "$WORK/binary.jsonl" || true
  exit 1
fi

say "done"
cat <<EOF
What you saw: pg2bq connected as a logical replication client, consumed the pgoutput
slot and decoded every insert, update, delete and logical message (the rolled-back
transaction never reached the slot). The slot's confirmed position advanced to what
was printed. Not shown yet: the spool and the BigQuery sink, which are not wired into
a command yet (see README.md, "What exists").
The cluster in $WORK is now stopped and removed.
EOF
