// Compares pg2bq's own Storage Write API .proto files (compiled by protoc into a
// descriptor set) with Google's official definitions shipped in the npm package
// @google-cloud/bigquery-storage (build/protos/protos.json): every message, enum
// and service we define must exist upstream with the same fields (number, type,
// label, name, oneof, map key), enum values and methods. It also checks that
// everything reachable from BigQueryWrite is defined by us.
//
// usage: node compare_protos.js OUR_DESCRIPTOR_SET.desc
'use strict';
const fs = require('fs');
const path = require('path');
const protobuf = require('protobufjs');
const descriptor = require('protobufjs/ext/descriptor');

const descPath = process.argv[2];
if (!descPath) {
  console.error('usage: node compare_protos.js OUR_DESCRIPTOR_SET.desc');
  process.exit(2);
}
const set = descriptor.FileDescriptorSet.decode(fs.readFileSync(descPath));
const ours = protobuf.Root.fromDescriptor(set).resolveAll();
const officialJson = require(path.join(
    path.dirname(require.resolve('@google-cloud/bigquery-storage/package.json')),
    'build/protos/protos.json'));
const official = protobuf.Root.fromJSON(officialJson).resolveAll();

const OWN_PACKAGES = ['google.cloud.bigquery.storage.v1', 'google.rpc'];
const errors = [];
let compared = {messages: 0, fields: 0, enums: 0, methods: 0};

function ownName(obj) {
  return obj.fullName.replace(/^\./, '');
}
function isOwn(obj) {
  const n = ownName(obj);
  return OWN_PACKAGES.some(p => n.startsWith(p + '.') &&
                                !n.slice(p.length + 1).startsWith('v1.'));
}
function typeName(field) {
  // Scalars compare by name, messages and enums by full name.
  return field.resolvedType ? ownName(field.resolvedType) : field.type;
}
function label(field) {
  if (field.map) return 'map';
  if (field.repeated) return 'repeated';
  // proto3 'optional' is a synthetic oneof in the descriptor.
  if (field.partOf && field.partOf.oneof.length === 1 &&
      field.partOf.name.startsWith('_')) {
    return 'proto3_optional';
  }
  return field.options && field.options.proto3_optional ? 'proto3_optional'
                                                        : 'singular';
}
// protobufjs leaves a map read from a descriptor as a repeated XxxEntry
// message; describe both forms alike: map<key, value>.
function shape(field) {
  const rt = field.resolvedType;
  if (!field.map && field.repeated && rt instanceof protobuf.Type && isMapEntry(rt)) {
    const k = rt.fields.key, v = rt.fields.value;
    return {type: typeName(v), label: 'map', keyType: k.type};
  }
  return {type: typeName(field), label: label(field), keyType: field.keyType || ''};
}
function realOneof(field) {
  if (!field.partOf) return '';
  if (field.partOf.name.startsWith('_') && field.partOf.oneof.length === 1) return '';
  return field.partOf.name;
}

// protos.json is generated with camelCase field names; protoc keeps the
// declared snake_case ones. Compare in protobufjs's camelCase form, and check
// that ours really are the snake_case spelling of the official names.
function camel(name) {
  return protobuf.util.camelCase(name);
}
// protoc's synthetic XxxEntry message of a map field (protos.json has none).
function isMapEntry(type) {
  const parent = type.parent;
  if (!(parent instanceof protobuf.Type)) return false;
  return parent.fieldsArray.some(f => {
    const c = camel(f.name);
    return (f.map || f.repeated) && c.charAt(0).toUpperCase() + c.slice(1) + 'Entry' === type.name;
  });
}
function compareMessage(mine, theirs) {
  compared.messages++;
  const where = ownName(mine);
  const theirsByCamel = {};
  for (const t of theirs.fieldsArray) theirsByCamel[camel(t.name)] = t;
  const mineByCamel = {};
  for (const f of mine.fieldsArray) mineByCamel[camel(f.name)] = f;
  for (const f of mine.fieldsArray) {
    if (f.name !== f.name.toLowerCase()) {
      errors.push(`${where}.${f.name}: field names must be snake_case as in the .proto reference`);
    }
    const t = theirsByCamel[camel(f.name)];
    compared.fields++;
    if (!t) {
      errors.push(`${where}.${f.name}: field not in the official definition`);
      continue;
    }
    const a = shape(f), b = shape(t);
    const checks = [
      ['number', f.id, t.id],
      ['type', a.type, b.type],
      ['label', a.label, b.label],
      ['oneof', realOneof(f), realOneof(t)],
      ['map key', a.keyType, b.keyType],
    ];
    for (const [what, a, b] of checks) {
      if (a !== b) errors.push(`${where}.${f.name}: ${what} is ${a}, official is ${b}`);
    }
  }
  for (const t of theirs.fieldsArray) {
    if (!mineByCamel[camel(t.name)]) {
      errors.push(`${where}.${t.name} (= ${t.id}): official field missing in ours`);
    }
  }
}
function compareEnum(mine, theirs) {
  compared.enums++;
  const where = ownName(mine);
  const a = JSON.stringify(mine.values), b = JSON.stringify(theirs.values);
  if (a !== b) errors.push(`${where}: values ${a}, official ${b}`);
}
function compareService(mine, theirs) {
  for (const m of mine.methodsArray) {
    compared.methods++;
    const t = theirs.methods[m.name];
    const where = `${ownName(mine)}.${m.name}`;
    if (!t) {
      errors.push(`${where}: method not in the official service`);
      continue;
    }
    m.resolve();
    t.resolve();
    const checks = [
      ['request', ownName(m.resolvedRequestType), ownName(t.resolvedRequestType)],
      ['response', ownName(m.resolvedResponseType), ownName(t.resolvedResponseType)],
      ['client streaming', !!m.requestStream, !!t.requestStream],
      ['server streaming', !!m.responseStream, !!t.responseStream],
    ];
    for (const [what, a, b] of checks) {
      if (a !== b) errors.push(`${where}: ${what} is ${a}, official is ${b}`);
    }
  }
  for (const t of theirs.methodsArray) {
    if (!mine.methods[t.name]) errors.push(`${ownName(mine)}.${t.name}: official method missing`);
  }
}

function walk(ns) {
  for (const obj of ns.nestedArray || []) {
    if (obj instanceof protobuf.Type || obj instanceof protobuf.Enum ||
        obj instanceof protobuf.Service) {
      if (isOwn(obj) && !isMapEntry(obj)) {
        const theirs = official.lookup(ownName(obj));
        if (!theirs || theirs.constructor !== obj.constructor) {
          errors.push(`${ownName(obj)}: not in the official definitions`);
        } else if (obj instanceof protobuf.Type) {
          compareMessage(obj, theirs);
        } else if (obj instanceof protobuf.Enum) {
          compareEnum(obj, theirs);
        } else {
          compareService(obj, theirs);
        }
      }
    }
    if (obj.nestedArray) walk(obj);
  }
}
walk(ours);

// Completeness: everything the official BigQueryWrite service reaches.
const svcName = 'google.cloud.bigquery.storage.v1.BigQueryWrite';
if (!ours.lookup(svcName)) errors.push(`${svcName}: missing`);
const seen = new Set();
function reach(type) {
  const name = ownName(type);
  if (seen.has(name)) return;
  seen.add(name);
  if (!ours.lookup(name)) errors.push(`${name}: reachable from BigQueryWrite but not defined by us`);
  // Well-known types (google.protobuf.*) come from protobuf itself; only our
  // own packages are followed further.
  if (type instanceof protobuf.Type && isOwn(type)) {
    for (const f of type.fieldsArray) {
      f.resolve();
      if (f.resolvedType) reach(f.resolvedType);
    }
  }
}
const svc = official.lookup(svcName);
for (const m of svc.methodsArray) {
  m.resolve();
  reach(m.resolvedRequestType);
  reach(m.resolvedResponseType);
}

const c = compared;
console.log(`compared ${c.messages} messages, ${c.fields} fields, ${c.enums} enums, ` +
            `${c.methods} methods; ${seen.size} types reachable from BigQueryWrite`);
if (errors.length) {
  for (const e of errors) console.error('MISMATCH ' + e);
  process.exit(1);
}
if (c.messages < 15 || c.methods < 6) {
  console.error('too little compared: the descriptor set looks incomplete');
  process.exit(1);
}
console.log('OK: identical to the official definitions');
