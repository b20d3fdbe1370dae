// Conformance: Google's official Node clients against bq-emulator.
//   @google-cloud/bigquery          -> the emulator's REST endpoint (apiEndpoint)
//   @google-cloud/bigquery-storage  -> its gRPC endpoint (managedwriter, insecure)
// Creates a dataset and tables (one with a primary key), appends plain rows on a
// COMMITTED stream with offsets, CDC upserts/deletes with out-of-order sequence
// numbers on the _default stream, adds a column, reads everything back with
// the official client and checks it.
//
// usage: node official_clients.js PATH/TO/bq-emulator
'use strict';
// No GCE metadata server here: keep google-auth-library from probing for one.
process.env.METADATA_SERVER_DETECTION = 'none';
const assert = require('assert/strict');
const {spawn} = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');

const {BigQuery} = require('@google-cloud/bigquery');
const {managedwriter, adapt} = require('@google-cloud/bigquery-storage');
// The gRPC and auth libraries the official clients themselves use.
const gaxPath = require.resolve('google-gax', {
  paths: [path.dirname(require.resolve('@google-cloud/bigquery-storage'))],
});
const {grpc} = require(gaxPath);
const authPath = require.resolve('google-auth-library', {
  paths: [path.dirname(require.resolve('@google-cloud/bigquery'))],
});
const {OAuth2Client} = require(authPath);

const binary = process.argv[2];
if (!binary) {
  console.error('usage: node official_clients.js PATH/TO/bq-emulator');
  process.exit(2);
}

function startEmulator(dataDir) {
  const child = spawn(binary, ['--data', dataDir, '--grpc-port', '0', '--http-port', '0'],
                      {stdio: ['ignore', 'pipe', 'inherit']});
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('bq-emulator did not start in 20 s')), 20000);
    child.on('exit', code => reject(new Error(`bq-emulator exited early (${code})`)));
    readline.createInterface({input: child.stdout}).once('line', line => {
      clearTimeout(timer);
      const m = /^grpc=([\d.]+):(\d+) http=([\d.]+):(\d+)$/.exec(line);
      if (!m) return reject(new Error('unexpected first line: ' + line));
      resolve({child, grpcHost: m[1], grpcPort: Number(m[2]), http: `http://${m[3]}:${m[4]}`});
    });
  });
}

const PROJECT = 'conformance-project';
const DATASET = 'conf';

async function main() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bq-emulator-conformance-'));
  const emu = await startEmulator(dataDir);
  const {WriterClient, JSONWriter} = managedwriter;
  let writeClient;
  try {
    // REST: the official BigQuery client. No Google credentials exist here, so
    // it gets a fixed access token; the emulator ignores Authorization.
    const auth = new OAuth2Client();
    auth.setCredentials({access_token: 'emulator', expiry_date: Date.now() + 3600e3});
    const bq = new BigQuery({projectId: PROJECT, apiEndpoint: emu.http, authClient: auth,
                             autoRetry: false});
    const [dataset] = await bq.createDataset(DATASET);
    const [exists] = await bq.dataset(DATASET).exists();
    assert.equal(exists, true);
    await assert.rejects(bq.createDataset(DATASET), err => err.code === 409);

    const schema = [
      {name: 'id', type: 'INTEGER', mode: 'REQUIRED'},
      {name: 'name', type: 'STRING'},
      {name: 'price', type: 'NUMERIC'},
      {name: 'updated', type: 'TIMESTAMP'},
      {name: 'tags', type: 'STRING', mode: 'REPEATED'},
    ];
    const [items] = await dataset.createTable('items', {
      schema,
      tableConstraints: {primaryKey: {columns: ['id']}},
      clustering: {fields: ['id']},
      maxStaleness: '0-0 0 0:0:1',
    });
    const [meta] = await items.getMetadata();
    assert.deepEqual(meta.tableConstraints.primaryKey.columns, ['id']);
    assert.deepEqual(meta.clustering.fields, ['id']);
    const [events] = await dataset.createTable('events', {
      schema: [{name: 'seq', type: 'INTEGER'}, {name: 'what', type: 'STRING'}],
    });

    // gRPC: the official Storage Write API client, insecure channel.
    writeClient = new WriterClient({
      projectId: PROJECT,
      servicePath: emu.grpcHost,
      port: emu.grpcPort,
      sslCreds: grpc.credentials.createInsecure(),
    });
    const itemsPath = `projects/${PROJECT}/datasets/${DATASET}/tables/items`;
    const eventsPath = `projects/${PROJECT}/datasets/${DATASET}/tables/events`;

    // 1. Plain rows on a COMMITTED stream with explicit offsets.
    const streamId = await writeClient.createWriteStream({
      streamType: managedwriter.CommittedStream, destinationTable: eventsPath});
    const eventsStream = await writeClient.getWriteStream({streamId, view: 'FULL'});
    const eventsDescriptor = adapt.convertStorageSchemaToProto2Descriptor(
        eventsStream.tableSchema, 'root');
    const eventsConn = await writeClient.createStreamConnection({streamId});
    const eventsWriter = new JSONWriter({connection: eventsConn, protoDescriptor: eventsDescriptor});
    const r1 = await eventsWriter.appendRows([{seq: 1, what: 'a'}, {seq: 2, what: 'b'}], 0).getResult();
    assert.equal(Number(r1.appendResult.offset.value), 0);
    const r2 = await eventsWriter.appendRows([{seq: 3, what: 'c'}], 2).getResult();
    assert.equal(Number(r2.appendResult.offset.value), 2);
    // A replayed offset is refused with ALREADY_EXISTS (6).
    const dup = await eventsWriter.appendRows([{seq: 3, what: 'c'}], 2).getResult()
                    .then(r => r, e => e);
    const dupCode = dup.code ?? dup.error?.code;
    assert.equal(dupCode, 6, 'replayed offset should be ALREADY_EXISTS: ' + JSON.stringify(dup));
    eventsWriter.close();
    const fin = await writeClient.finalizeWriteStream({name: streamId});
    assert.equal(Number(fin.rowCount), 3);

    // 2. CDC on the _default stream of the keyed table, sequence numbers out of order.
    const defaultStream = await writeClient.getWriteStream({
      streamId: `${itemsPath}/streams/_default`, view: 'FULL'});
    const cdcDescriptor = adapt.convertStorageSchemaToProto2Descriptor(
        defaultStream.tableSchema, 'root', adapt.withChangeType(), adapt.withChangeSequenceNumber());
    const cdcConn = await writeClient.createStreamConnection({
      streamId: managedwriter.DefaultStream, destinationTable: itemsPath});
    const cdc = new JSONWriter({connection: cdcConn, protoDescriptor: cdcDescriptor});
    // Microseconds since the epoch (a JS Date would keep only milliseconds).
    const t0 = Date.parse('2024-05-06T07:08:09.123Z') * 1000 + 456;
    const pending = [
      cdc.appendRows([
        {id: 1, name: 'one v2', price: '10.50', updated: t0, tags: ['x'],
         _CHANGE_TYPE: 'UPSERT', _CHANGE_SEQUENCE_NUMBER: '00000002'},
        {id: 2, name: 'two', price: '2', updated: t0, tags: [],
         _CHANGE_TYPE: 'UPSERT', _CHANGE_SEQUENCE_NUMBER: '00000001'},
        {id: 3, name: 'three', price: '3.000000001', updated: t0, tags: ['a', 'b'],
         _CHANGE_TYPE: 'UPSERT', _CHANGE_SEQUENCE_NUMBER: '00000001'},
      ]),
      // Older than what is stored: must lose.
      cdc.appendRows([{id: 1, name: 'one v1 (late)', _CHANGE_TYPE: 'UPSERT',
                       _CHANGE_SEQUENCE_NUMBER: '00000001'}]),
      // Hex sections compare as numbers: 0000000A > 00000009.
      cdc.appendRows([{id: 3, name: 'three v9', _CHANGE_TYPE: 'UPSERT',
                       _CHANGE_SEQUENCE_NUMBER: '00000009'}]),
      cdc.appendRows([{id: 3, name: 'three vA', price: '30', _CHANGE_TYPE: 'UPSERT',
                       _CHANGE_SEQUENCE_NUMBER: '0000000A'}]),
      // Delete needs only the key; a later delete with an older number loses.
      cdc.appendRows([{id: 2, _CHANGE_TYPE: 'DELETE', _CHANGE_SEQUENCE_NUMBER: '00000005'}]),
      cdc.appendRows([{id: 3, _CHANGE_TYPE: 'DELETE', _CHANGE_SEQUENCE_NUMBER: '00000003'}]),
      cdc.appendRows([{id: 4, name: 'four', _CHANGE_TYPE: 'UPSERT',
                       _CHANGE_SEQUENCE_NUMBER: '00000001/00000002'}]),
    ];
    for (const pw of pending) {
      const res = await pw.getResult();
      assert.ok(!res.error, 'append failed: ' + JSON.stringify(res.error));
    }
    // A row with a bad value comes back as a row error of that request.
    const bad = await cdc.appendRows([{id: 5, name: 'ok', _CHANGE_TYPE: 'UPSERT',
                                       _CHANGE_SEQUENCE_NUMBER: '1'},
                                      {id: 6, name: 'bad', _CHANGE_TYPE: 'UPSERT',
                                       _CHANGE_SEQUENCE_NUMBER: 'not-hex'}]).getResult()
                          .then(r => r, e => e);
    const rowErrors = bad.rowErrors || [];
    assert.equal(rowErrors.length, 1, 'expected one row error: ' + JSON.stringify(bad));
    assert.equal(Number(rowErrors[0].index), 1);
    cdc.close();

    // 3. Read back with the official client (tabledata.list).
    const [rows] = await items.getRows();
    rows.sort((a, b) => Number(a.id) - Number(b.id));
    const simple = rows.map(r => ({
      id: Number(r.id),
      name: r.name,
      price: r.price === null ? null : r.price.toString(),
      updated: r.updated === null ? null : r.updated.value,
      tags: r.tags,
    }));
    assert.deepEqual(simple, [
      {id: 1, name: 'one v2', price: '10.5', updated: '2024-05-06T07:08:09.123456000Z', tags: ['x']},
      {id: 3, name: 'three vA', price: '30', updated: null, tags: []},
      {id: 4, name: 'four', price: null, updated: null, tags: []},
    ]);
    const [eventRows] = await events.getRows();
    assert.deepEqual(eventRows.map(r => [r.seq, r.what]).sort(),
                     [[1, 'a'], [2, 'b'], [3, 'c']]);
    // Paging through tabledata.list with a small page size.
    // Paging through tabledata.list one row per page (pageToken round trips).
    const paged = [];
    let query = {maxResults: 1, autoPaginate: false};
    let pages = 0;
    while (query) {
      const [page, next] = await events.getRows(query);
      paged.push(...page);
      query = next;
      assert.ok(++pages <= 4, 'paging does not end');
    }
    assert.equal(paged.length, 3);
    assert.equal(pages, 3);

    // 4. Add a column (tables.patch) and see it in tables.get.
    const [before] = await items.getMetadata();
    await items.setMetadata({schema: {fields: [...before.schema.fields,
                                                {name: 'note', type: 'STRING', mode: 'NULLABLE'}]}});
    const [after] = await items.getMetadata();
    assert.equal(after.schema.fields.length, 6);
    assert.equal(after.schema.fields[5].name, 'note');
    // Dropping a column is refused, as in BigQuery.
    await assert.rejects(items.setMetadata({schema: {fields: after.schema.fields.slice(1)}}),
                         err => err.code === 400);

    await items.delete();
    const [gone] = await items.exists();
    assert.equal(gone, false);
    console.log('OK: official @google-cloud/bigquery and @google-cloud/bigquery-storage ' +
                'clients agree with bq-emulator');
  } finally {
    if (writeClient) writeClient.close();
    emu.child.kill('SIGKILL');
    fs.rmSync(dataDir, {recursive: true, force: true});
  }
}

main().then(() => process.exit(0), err => {
  console.error('FAILED:', err);
  process.exit(1);
});
