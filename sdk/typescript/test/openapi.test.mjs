// The SDK's declared types against the OpenAPI document a real herald
// serve publishes at /openapi.json. src/types.ts is read with the
// TypeScript compiler; every interface tagged `@schema X` must declare
// exactly X's properties (nested objects and $refs included), the same ones
// required, with types of the same JSON kinds (string, number, boolean,
// null, array, object) and the same enums; `@parameters METHOD path` does
// the same for an operation's query parameters. `@sdk name` exempts a
// property the SDK adds or reshapes; `@always name` one the SDK always
// sets although the API may leave it out; a property typed DateInput (a
// Date, ISO string or Unix ms the SDK sends as an ISO string) matches a
// string. A change on either side that the other does not follow fails here.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import ts from 'typescript';
import { sdkRoot, startHerald } from './helpers/herald.mjs';

let h;
let doc;
before(async () => {
  h = await startHerald();
  const res = await fetch(`${h.url}/openapi.json`);
  assert.equal(res.status, 200);
  doc = await res.json();
});
after(async () => h?.stop());

const typesFile = path.join(sdkRoot, 'src', 'types.ts');
const program = ts.createProgram([typesFile], {
  strict: true,
  exactOptionalPropertyTypes: true,
  target: ts.ScriptTarget.ES2020,
  lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
  noEmit: true,
  types: [],
});
const checker = program.getTypeChecker();
const source = program.getSourceFile(typesFile);

/** The @sdk and @always names of each interface, by its symbol. */
const tagsOf = new Map();

/** The interfaces of types.ts with their tags. */
function taggedInterfaces() {
  const out = [];
  ts.forEachChild(source, (node) => {
    if (!ts.isInterfaceDeclaration(node)) return;
    const tags = ts.getJSDocTags(node);
    const text = (t) => (typeof t.comment === 'string' ? t.comment : ts.getTextOfJSDocComment(t.comment) ?? '').trim();
    const schema = tags.filter((t) => t.tagName.text === 'schema').map(text);
    const params = tags.filter((t) => t.tagName.text === 'parameters').map(text);
    const first = (name) => new Set(tags.filter((t) => t.tagName.text === name).map((t) => text(t).split(/\s+/)[0]));
    const sdk = first('sdk');
    const always = first('always');
    const symbol = checker.getSymbolAtLocation(node.name);
    if (symbol) tagsOf.set(symbol, { sdk, always });
    if (schema.length || params.length) out.push({ name: node.name.text, node, schema: schema[0], params: params[0], sdk, always });
  });
  return out;
}

function resolve(s) {
  let seen = 0;
  while (s && s.$ref) {
    const name = s.$ref.replace('#/components/schemas/', '');
    s = doc.components.schemas[name];
    assert.ok(s, `unresolved ${name}`);
    if (++seen > 20) throw new Error('$ref loop');
  }
  return s;
}

/** The JSON kinds a schema allows (undefined: anything). */
function schemaKinds(s) {
  s = resolve(s);
  if (!s) return undefined;
  if ('const' in s) return new Set([jsonKind(s.const)]);
  if (s.type) {
    const ks = new Set();
    for (const t of [].concat(s.type)) ks.add(t === 'integer' ? 'number' : t);
    return ks;
  }
  const alts = s.oneOf ?? s.anyOf;
  if (alts) {
    const ks = new Set();
    for (const a of alts) {
      const k = schemaKinds(a);
      if (!k) return undefined;
      for (const x of k) ks.add(x);
    }
    return ks;
  }
  if (s.properties) return new Set(['object']);
  return undefined;
}

function jsonKind(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'number' ? 'number' : typeof v;
}

/** The members of a TS type (unions flattened, undefined dropped, boolean as one). */
function members(type) {
  if (type.flags & ts.TypeFlags.TypeParameter) {
    type = checker.getDefaultFromTypeParameter(type) ?? checker.getBaseConstraintOfType(type) ?? type;
  }
  const list = type.isUnion() ? type.types : [type];
  return list.filter((t) => !(t.flags & ts.TypeFlags.Undefined));
}

function tsKind(t) {
  const f = t.flags;
  if (f & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return 'any';
  if (f & ts.TypeFlags.StringLike) return 'string';
  if (f & ts.TypeFlags.NumberLike) return 'number';
  if (f & ts.TypeFlags.BooleanLike) return 'boolean';
  if (f & ts.TypeFlags.Null) return 'null';
  if (checker.isArrayType(t) || checker.isTupleType(t)) return 'array';
  if (t.symbol?.name === 'Date') return 'date';
  if (f & ts.TypeFlags.Object) return 'object';
  return `other(${checker.typeToString(t)})`;
}

const problems = [];

/** Compares one schema with one TS type at a path, recursing into objects. */
function compareValue(where, schema, type, depth = 0, dateInput = false) {
  const s = resolve(schema);
  const ms = members(type);
  const kinds = new Set(ms.map(tsKind).map((k) => (dateInput && (k === 'date' || k === 'number') ? 'string' : k)));
  if (dateInput && schemaKinds(s)?.has('number') && kinds.has('string')) kinds.add('number');
  if (kinds.has('any')) return; // declared unknown: the SDK makes no claim
  const want = schemaKinds(s);
  if (want) {
    for (const k of kinds) {
      const ok = want.has(k) || (k === 'date' && want.has('string'));
      if (!ok) problems.push(`${where}: the SDK allows ${k} (${checker.typeToString(type)}); the API's type is ${[...want].join('|')}`);
    }
    for (const k of want) {
      if (!kinds.has(k)) problems.push(`${where}: the API allows ${k}; the SDK's type is ${checker.typeToString(type)}`);
    }
  }
  if (s?.enum) {
    const lits = ms.filter((t) => t.isStringLiteral()).map((t) => t.value);
    if (lits.length !== ms.length) {
      problems.push(`${where}: the API's values are ${s.enum.join('|')}; the SDK declares ${checker.typeToString(type)}`);
    } else if ([...lits].sort().join('|') !== [...s.enum].sort().join('|')) {
      problems.push(`${where}: the API's values are ${[...s.enum].sort().join('|')}; the SDK's are ${[...lits].sort().join('|')}`);
    }
  }
  if (depth > 6 || !s) return;
  const objs = ms.filter((t) => tsKind(t) === 'object');
  if (s.properties && objs.length === 1) compareObject(where, s, objs[0], undefined, depth + 1);
  const arrs = ms.filter((t) => tsKind(t) === 'array');
  if (s.type && [].concat(s.type).includes('array') && s.items && arrs.length === 1) {
    compareValue(`${where}[]`, s.items, checker.getTypeArguments(arrs[0])[0], depth + 1);
  }
  if (s.additionalProperties && typeof s.additionalProperties === 'object' && objs.length === 1) {
    // A map: every declared key of the SDK's type holds the map's value.
    for (const p of checker.getPropertiesOfType(objs[0])) {
      compareValue(`${where}.${p.name}`, s.additionalProperties, checker.getTypeOfSymbol(p), depth + 1);
    }
  }
}

function compareObject(where, schema, type, tags, depth = 0) {
  const s = resolve(schema);
  tags ??= tagsOf.get(type.symbol) ?? tagsOf.get(type.aliasSymbol) ?? { sdk: new Set(), always: new Set() };
  const { sdk, always } = tags;
  const props = new Map(checker.getPropertiesOfType(type).map((p) => [p.name, p]));
  const wire = s.properties ?? {};
  const required = new Set(s.required ?? []);
  for (const name of Object.keys(wire)) {
    if (sdk.has(name)) continue;
    if (!props.has(name)) problems.push(`${where}.${name}: in the API, not declared by the SDK`);
  }
  for (const [name, p] of props) {
    if (sdk.has(name)) continue;
    if (!(name in wire)) {
      problems.push(`${where}.${name}: declared by the SDK, not in the API`);
      continue;
    }
    const optional = (p.flags & ts.SymbolFlags.Optional) !== 0;
    if (required.has(name) && optional) problems.push(`${where}.${name}: required by the API, optional in the SDK`);
    if (!required.has(name) && !optional && !always.has(name)) problems.push(`${where}.${name}: optional in the API, required in the SDK`);
    const declared = p.valueDeclaration?.type?.getText() ?? '';
    compareValue(`${where}.${name}`, wire[name], checker.getTypeOfSymbol(p), depth, /\bDateInput\b/.test(declared));
  }
}

describe('types.ts against /openapi.json', () => {
  const tagged = taggedInterfaces();

  it('tags schemas and operations the document has', () => {
    assert.ok(tagged.length >= 25, `only ${tagged.length} tagged interfaces`);
    for (const t of tagged) {
      if (t.schema) assert.ok(doc.components.schemas[t.schema], `${t.name}: no schema ${t.schema} in /openapi.json`);
      if (t.params) {
        const [method, p] = t.params.split(/\s+/);
        assert.ok(doc.paths[p]?.[method.toLowerCase()], `${t.name}: no operation ${t.params}`);
      }
    }
  });

  it('covers every schema of the routes the SDK calls', () => {
    const covered = new Set(tagged.map((t) => t.schema).filter(Boolean));
    const used = [
      'SendRequest', 'EmailInput', 'PushInput', 'SMSInput', 'CallbackInput', 'SendResponse', 'MultiInput', 'MultiSendRequest',
      'ChannelResult', 'MultiSendResponse', 'Schedule', 'DispatchRequest', 'DispatchResponse', 'Job', 'JobList', 'LogEntry',
      'MessageList', 'Attempt', 'AttemptList', 'PatchRequest', 'ReprocessResponse', 'BulkReprocessRequest',
      'BulkReprocessResponse', 'SendLog', 'Error',
    ];
    for (const s of used) assert.ok(covered.has(s), `no interface is tagged @schema ${s}`);
  });

  for (const t of tagged) {
    it(`${t.name} ${t.schema ? `= schema ${t.schema}` : `= parameters of ${t.params}`}`, () => {
      problems.length = 0;
      const type = checker.getTypeAtLocation(t.node.name);
      if (t.schema) {
        compareObject(t.name, doc.components.schemas[t.schema], type, t);
      } else {
        const [method, p] = t.params.split(/\s+/);
        const op = doc.paths[p][method.toLowerCase()];
        const params = (op.parameters ?? []).filter((x) => x.in === 'query');
        const schema = {
          type: 'object',
          properties: Object.fromEntries(params.map((x) => [x.name, x.schema ?? {}])),
          required: params.filter((x) => x.required).map((x) => x.name),
        };
        compareObject(t.name, schema, type, t);
      }
      assert.deepEqual(problems, []);
    });
  }

  it("declares every field of the seed SDK's interfaces (Ductape's docs), with the seed's names", () => {
    const seed = {
      IPushOptions: ['product', 'env', 'notification', 'input', 'session', 'cache'],
      IEmailOptions: ['product', 'env', 'notification', 'input', 'session', 'cache'],
      ISmsOptions: ['product', 'env', 'notification', 'input', 'session', 'cache'],
      ICallbackOptions: ['product', 'env', 'notification', 'input', 'session', 'cache'],
      IPushInput: ['device_tokens', 'title', 'body', 'data'],
      IEmailInput: ['recipients', 'subject', 'template'],
      ISmsInput: ['recipients', 'body'],
      ICallbackInput: ['query', 'headers', 'params', 'body'],
      INotificationResult: ['success', 'channel', 'messageId', 'error'],
      IMultiChannelNotificationResult: ['success', 'channels'],
      INotificationMessageLogResult: ['items', 'total', 'page', 'limit', 'hasMore'],
      INotificationMessageLogEntry: [
        '_id', 'workspace_id', 'product_id', 'product_tag', 'env', 'notification_tag', 'input', 'status', 'type',
        'process_id', 'error', 'retries', 'session', 'cache', 'created_at', 'updated_at',
      ],
      IGetMessagesQuery: ['product_tag', 'product_id', 'env', 'notification_tag', 'status', 'type', 'process_id', 'start_date', 'end_date', 'page', 'limit'],
      ISchedule: ['start_at', 'cron', 'every', 'limit', 'endDate', 'tz'],
    };
    const decls = new Map();
    ts.forEachChild(source, (n) => {
      if (ts.isInterfaceDeclaration(n)) decls.set(n.name.text, n);
    });
    for (const [name, fields] of Object.entries(seed)) {
      assert.ok(decls.has(name), `no interface ${name}`);
      const props = new Set(checker.getPropertiesOfType(checker.getTypeAtLocation(decls.get(name).name)).map((p) => p.name));
      for (const f of fields) assert.ok(props.has(f), `${name}.${f}`);
    }
    const channels = checker.getPropertiesOfType(checker.getTypeOfSymbol(checker.getPropertyOfType(checker.getTypeAtLocation(decls.get('IMultiChannelNotificationResult').name), 'channels')));
    assert.deepEqual(channels.map((p) => p.name).sort(), ['callback', 'email', 'push', 'sms']);
  });

  it('catches drift: a changed document fails the comparison', () => {
    const entry = tagged.find((t) => t.schema === 'LogEntry');
    const saved = doc.components.schemas.LogEntry;
    try {
      doc.components.schemas.LogEntry = structuredClone(saved);
      doc.components.schemas.LogEntry.properties.delivered_at = { type: 'string' };
      doc.components.schemas.LogEntry.properties.status.enum.push('archived');
      doc.components.schemas.LogEntry.properties.retries = { type: 'string' };
      problems.length = 0;
      compareObject(entry.name, doc.components.schemas.LogEntry, checker.getTypeAtLocation(entry.node.name), entry);
      assert.ok(problems.some((p) => p.includes('delivered_at')), problems.join('\n'));
      assert.ok(problems.some((p) => p.includes('.status') && p.includes('archived')), problems.join('\n'));
      assert.ok(problems.some((p) => p.includes('.retries')), problems.join('\n'));
    } finally {
      doc.components.schemas.LogEntry = saved;
    }
  });
});
