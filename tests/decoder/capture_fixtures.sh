#!/usr/bin/env bash
# Regenerates tests/decoder/fixtures/*.hex: real pgoutput bytes from a
# throw-away PostgreSQL 15 cluster (run as root; the cluster runs as postgres).
# Each fixture line is "<lsn> <xid> <hex payload>" as returned by
# pg_logical_slot_peek_binary_changes(). The same workload is peeked in text
# and binary mode, so tests can check that binary values formatted by the
# decoder equal the server's own text output byte for byte.
set -euo pipefail
cd "$(dirname "$0")"
out=$PWD/fixtures
bin=/usr/lib/postgresql/15/bin
dir=$(mktemp -d /tmp/pg2bq-decoder-fixtures.XXXXXX)
chown postgres "$dir"
trap 'runuser -u postgres -- $bin/pg_ctl -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
runuser -u postgres -- $bin/initdb -D "$dir/data" -A trust -E UTF8 --locale=C >/dev/null
cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
wal_level = logical
max_prepared_transactions = 4
logical_decoding_work_mem = 64kB
CONF
runuser -u postgres -- $bin/pg_ctl -D "$dir/data" -l "$dir/log" -w start >/dev/null
psql() { runuser -u postgres -- $bin/psql -h "$dir" -d postgres -X -q -v ON_ERROR_STOP=1 "$@"; }

psql <<'SQL'
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
CREATE DOMAIN email AS text;
CREATE TABLE all_types (
  id bigint PRIMARY KEY, b bool, i2 int2, i4 int4, i8 int8, o oid, f4 float4, f8 float8,
  n numeric, t text, vc varchar(10), bp char(5), nm name, ba bytea, u uuid, d date, tm time,
  ttz timetz, ts timestamp, tstz timestamptz, iv interval, j json, jb jsonb, ine inet, ci cidr,
  mac macaddr, m money, e mood, dom posint, em email, ai int4[], at text[], an numeric[],
  ats timestamptz[], ae mood[], ab bool[], af8 float8[], adom posint[], pt point);
CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE child (id serial PRIMARY KEY, pid int REFERENCES parent(id));
CREATE TABLE full_ident (a int, b text);
ALTER TABLE full_ident REPLICA IDENTITY FULL;
CREATE TABLE no_ident (a int, b text);
ALTER TABLE no_ident REPLICA IDENTITY NOTHING;
CREATE TABLE toasty (id int PRIMARY KEY, big text, small int);
ALTER TABLE toasty ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE wide (id bigint PRIMARY KEY, k int, t text, n numeric, ts timestamptz, f bool,
  j jsonb, u uuid);
CREATE TABLE bulk (id bigint PRIMARY KEY, t text);
CREATE PUBLICATION p FOR TABLE all_types, parent, child, full_ident, no_ident, toasty, wide;
CREATE PUBLICATION pstream FOR TABLE bulk;
SELECT 'slot' FROM pg_create_logical_replication_slot('s', 'pgoutput');
SELECT 'slot' FROM pg_create_logical_replication_slot('s2pc', 'pgoutput', false, true);
SQL

psql <<'SQL'
SET TimeZone = 'UTC';
INSERT INTO all_types VALUES
 (1, true, 1, 2, 3, 4, 1.5, 2.25, 12.345, 'hello', 'vc', 'ab', 'nm', '\x00ff10',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-02-29', '13:14:15.123456', '13:14:15+05:30',
  '2024-02-29 13:14:15.5', '2024-02-29 13:14:15.000001+00', '1 year 2 mons 3 days 04:05:06.7',
  '{"a": [1, 2]}', '{"b": 1, "a": "x"}', '192.168.1.2/24', '10.0.0.0/8', '08:00:2b:01:02:03',
  1234567.89, 'happy', 7, 'x@y.z', '{1,NULL,3}', '{"a b","",NULL,"NULL","q\"uote","back\\slash",plain}',
  '{1.5,NaN,-Infinity}', '{"2024-01-01 00:00:00+00",infinity}', '{sad,happy}', '{t,f,NULL}',
  '{0.1,-0,1e300}', '{1,2}', '(1,2)'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (3, false, -32768, -2147483648, -9223372036854775808, 4294967295, '-0', '-0', 'NaN', '', '',
  '', '', '\x', '00000000-0000-0000-0000-000000000000', '-infinity', '00:00:00', '00:00:00-12:34:56',
  '-infinity', 'infinity', '-1 years -2 mons +3 days -04:05:06', '[]', '{}', '::1', '2001:db8::/32',
  'ff:ff:ff:ff:ff:ff', -92233720368547758.08, 'sad', 1, '', '{}', '{}', '{}', '{}', '{}', '{}', '{}',
  '{}', '(0,0)'),
 (4, true, 32767, 2147483647, 9223372036854775807, 0, 'Infinity', '-Infinity', 'Infinity', 'ünïcödé ☃',
  'tab	x', 'a', 'x', '\xdeadbeef', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '0044-03-15 BC', '24:00:00',
  '23:59:59.999999+14', '0001-01-01 00:00:00 BC', '4713-11-24 00:00:00+00 BC', '-178000000 years',
  '"str"', '[1, "a", null, true, 1.50]', '::ffff:1.2.3.4', '::ffff:1.2.3.0/120', '00:00:00:00:00:00',
  92233720368547758.07, 'ok', 2147483647, 'e', '[0:2]={1,2,3}', '{"{}",",","\\"}',
  '{0.000000000000000000000000000000001,-12345678901234567890.0987654321}', '{NULL}', '{}', '{}',
  '{Infinity,-Infinity,NaN}', '{}', '(1.5,-2)'),
 (5, false, 0, 0, 0, 0, 1e-5, 1e16, '-0.000000000000000000000000000000000000000001234', 'x', 'x', 'x',
  'x', '\x5c', '123e4567-e89b-12d3-a456-426614174000', '294276-12-31', '00:00:00.000001', '12:00:00+00',
  '294276-12-31 23:59:59.999999', '1970-01-01 00:00:00+00', '-00:00:00.000001', 'null', 'null',
  '2001:db8:0:0:1:0:0:1', '2001:db8:1::/48', '01:23:45:67:89:ab', 0, 'sad', 3, 'x', '{-1,0}',
  '{NULL,null}', '{0}', '{}', '{}', '{}', '{1.7976931348623157e308,5e-324,123456789012345680}', '{}', '(0,0)'),
 (6, true, 1, 1, 1, 1, 3.4028235e38, 0.1, '1e-16383', 'y', 'y', 'y', 'y', '\x', '123e4567-e89b-12d3-a456-426614174000',
  '2000-01-01', '23:59:59.5', '00:00:00+00:00:01', '2000-01-01 00:00:00', '1999-12-31 23:59:59.999999+00',
  '1 day -00:00:01', '{"nested": {"deep": [{"x": "\u00e9"}]}}', '{"k": "\u00e9", "n": 1e3}', '0.0.0.0/0', '0.0.0.0/0',
  '00:00:00:00:00:01', -0.01, 'ok', 5, 'y', '{1}', '{"with\"quote"}', '{1e1000}', '{}', '{}', '{}', '{1234567.0,0.001,1e-5}', '{}', '(0,0)');
INSERT INTO all_types (id, f4, f8, n, iv) VALUES
 (7, 1234567, 123456789012345, 100000000, '2 years 1 day'),
 (8, 123456, 1e15, 0.1, '-2 years -1 day 00:00:01'),
 (9, 1e-4, 1e-4, 1e-4, '1 mon'),
 (10, 0.00012345, 123.456e-10, '9999.9999', '00:00:00.5'),
 (11, 1.17549435e-38, 2.2250738585072014e-308, '10000', '100:00:00'),
 (12, 16777216, 9007199254740993, '-1', '-1 mon 1 day');
UPDATE all_types SET i4 = 42, t = 'changed' WHERE id = 1;
UPDATE all_types SET id = 100 WHERE id = 2;
DELETE FROM all_types WHERE id = 3;
SQL

psql <<'SQL'
INSERT INTO parent VALUES (1), (2);
INSERT INTO child (pid) VALUES (1), (2);
INSERT INTO full_ident VALUES (1, 'one'), (2, NULL);
UPDATE full_ident SET b = 'uno' WHERE a = 1;
DELETE FROM full_ident WHERE a = 2;
INSERT INTO no_ident VALUES (1, 'x');
INSERT INTO toasty VALUES (1, repeat('0123456789', 1000), 1);
UPDATE toasty SET small = 2 WHERE id = 1;
DELETE FROM toasty WHERE id = 1;
SELECT 'msg' FROM pg_logical_emit_message(true, 'pg2bq', 'transactional payload');
SELECT 'msg' FROM pg_logical_emit_message(false, 'pg2bq', E'\\x00010203'::bytea);
BEGIN;
INSERT INTO parent VALUES (3);
SELECT 'msg' FROM pg_logical_emit_message(true, 'in-txn', '');
COMMIT;
SELECT 'origin' FROM pg_replication_origin_create('node_a');
SELECT 'origin' FROM pg_replication_origin_session_setup('node_a');
BEGIN;
SELECT 'origin' FROM pg_replication_origin_xact_setup('0/ABCDEF', '2024-01-01 00:00:00+00');
INSERT INTO parent VALUES (4);
COMMIT;
SELECT 'origin' FROM pg_replication_origin_session_reset();
TRUNCATE parent, child RESTART IDENTITY CASCADE;
TRUNCATE full_ident;
ALTER TABLE no_ident ADD COLUMN c int;
INSERT INTO no_ident VALUES (2, 'y', 3);
INSERT INTO wide SELECT g, g * 7, 'row ' || g, g * 1.25, '2024-05-06 07:08:09.123456+00',
  g % 2 = 0, jsonb_build_object('g', g, 'tag', 'abc'), md5(g::text)::uuid FROM generate_series(1, 50) g;
SQL

# Streamed transactions (protocol 2): one committed with an aborted
# subtransaction, one aborted entirely.
psql <<'SQL'
SELECT 'slot' FROM pg_create_logical_replication_slot('sstream', 'pgoutput');
BEGIN;
INSERT INTO bulk SELECT g, repeat('s', 20) FROM generate_series(1000, 1399) g;
SAVEPOINT sp;
INSERT INTO bulk SELECT g, repeat('a', 20) FROM generate_series(2000, 2399) g;
ROLLBACK TO SAVEPOINT sp;
UPDATE bulk SET t = 'u' WHERE id = 1000;
DELETE FROM bulk WHERE id = 1001;
SELECT 'msg' FROM pg_logical_emit_message(true, 'streamed', 'm');
INSERT INTO bulk SELECT g, repeat('t', 20) FROM generate_series(3000, 3399) g;
COMMIT;
BEGIN;
INSERT INTO bulk SELECT g, repeat('x', 20) FROM generate_series(5000, 5799) g;
ROLLBACK;
SQL

# Two-phase (protocol 3).
psql <<'SQL'
BEGIN; INSERT INTO parent VALUES (10); PREPARE TRANSACTION 'gid-commit';
COMMIT PREPARED 'gid-commit';
BEGIN; INSERT INTO parent VALUES (11); PREPARE TRANSACTION 'gid-rollback';
ROLLBACK PREPARED 'gid-rollback';
SQL

settings="SET DateStyle=ISO; SET TimeZone=UTC; SET IntervalStyle=postgres; SET extra_float_digits=1; SET bytea_output=hex; SET lc_monetary='C';"
peek() {  # slot file options...
  local slot=$1 file=$2; shift 2
  psql -At -c "$settings" -c "SELECT lsn, xid, encode(data, 'hex') FROM pg_logical_slot_peek_binary_changes('$slot', NULL, NULL, $*)" \
    | sed '/^$/d; /^SET$/d' | tr '|' ' ' >"$out/$file"
  echo "$file: $(wc -l <"$out/$file") messages"
}
peek s v1_text.hex "'proto_version', '1', 'publication_names', 'p', 'messages', 'true'"
peek s v1_binary.hex "'proto_version', '1', 'publication_names', 'p', 'messages', 'true', 'binary', 'true'"
peek sstream v2_stream.hex "'proto_version', '2', 'publication_names', 'pstream', 'streaming', 'on', 'messages', 'true'"
peek s2pc v3_twophase.hex "'proto_version', '3', 'publication_names', 'p', 'two_phase', 'on', 'messages', 'true'"
psql -At -F ' ' -c "SELECT oid, typtype, typcategory, typbasetype, typelem, typname FROM pg_type
  WHERE typnamespace = 'public'::regnamespace AND typrelid = 0 ORDER BY oid" >"$out/types.txt"
echo "types.txt: $(wc -l <"$out/types.txt") types"
