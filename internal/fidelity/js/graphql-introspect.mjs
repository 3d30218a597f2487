// Drives Herald's POST /graphql with graphql-js, as GraphiQL, Apollo and
// codegen do: the standard introspection query (getIntrospectionQuery, with
// every option of graphql-js 16 and with none), buildClientSchema on the
// answer, then the caller's queries validated against that schema before
// they are sent. Input: {url, key, queries: [{name, query, variables}],
// bad: [query]}. Output: what the Go test asserts.
import { readFileSync } from "node:fs";
import {
  buildClientSchema, getIntrospectionQuery, validateSchema, validate, parse,
  isObjectType, isInputObjectType, isEnumType, isScalarType, version,
} from "graphql";

const input = JSON.parse(readFileSync(0, "utf8"));

async function post(body, accept) {
  const res = await fetch(input.url + "/graphql", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: accept, Authorization: `Bearer ${input.key}` },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch (e) { throw new Error(`not JSON (${res.status}): ${text}`); }
  return { status: res.status, contentType: res.headers.get("content-type"), json };
}

const out = { version, introspections: {}, types: {}, fields: {}, queries: {}, bad: [] };

const full = getIntrospectionQuery({
  descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true,
  inputValueDeprecation: true, oneOf: true,
});
let schema;
for (const [name, query] of [["default", getIntrospectionQuery()], ["full", full]]) {
  const res = await post({ query, operationName: "IntrospectionQuery" }, "application/graphql-response+json, application/json;q=0.9");
  const r = { status: res.status, contentType: res.contentType, errors: res.json.errors ?? null };
  if (res.json.data) {
    const s = buildClientSchema(res.json.data); // throws on anything malformed
    r.schemaErrors = validateSchema(s).map((e) => e.message);
    r.description = s.description ?? null;
    r.directives = s.getDirectives().map((d) => ({ name: d.name, isRepeatable: d.isRepeatable }));
    if (name === "full") schema = s;
  }
  out.introspections[name] = r;
}

const kindOf = (t) => isObjectType(t) ? "OBJECT" : isInputObjectType(t) ? "INPUT_OBJECT" : isEnumType(t) ? "ENUM" : isScalarType(t) ? "SCALAR" : "OTHER";
for (const [name, t] of Object.entries(schema.getTypeMap())) {
  if (name.startsWith("__")) continue;
  out.types[name] = kindOf(t);
  if (isObjectType(t) || isInputObjectType(t)) {
    for (const [fname, f] of Object.entries(t.getFields())) {
      out.fields[`${name}.${fname}`] = String(f.type);
      for (const a of f.args ?? []) out.fields[`${name}.${fname}(${a.name})`] = String(a.type);
    }
  }
  if (isInputObjectType(t)) out.fields[`${name}.isOneOf`] = String(t.isOneOf);
  if (isEnumType(t)) out.fields[`${name}.values`] = t.getValues().map((v) => v.name).join(",");
  if (isScalarType(t) && t.specifiedByURL) out.fields[`${name}.specifiedByURL`] = t.specifiedByURL;
}

// The caller's queries: valid against the client schema, then sent.
for (const q of input.queries) {
  const doc = parse(q.query);
  const invalid = validate(schema, doc).map((e) => e.message);
  const res = await post({ query: q.query, variables: q.variables ?? null }, "application/json");
  out.queries[q.name] = { clientValidation: invalid, status: res.status, data: res.json.data ?? null, errors: res.json.errors ?? null };
}

// Queries the server must refuse as request errors (GraphQL over HTTP):
// every location must lie inside the caller's text.
for (const query of input.bad) {
  const res = await post({ query }, "application/graphql-response+json");
  const lines = query.split("\n");
  const locationsInside = (res.json.errors ?? []).every((e) => (e.locations ?? []).every((l) =>
    l.line >= 1 && l.line <= lines.length && l.column >= 1 && l.column <= lines[l.line - 1].length + 1));
  out.bad.push({ status: res.status, contentType: res.contentType, hasData: "data" in res.json, errors: res.json.errors ?? null, locationsInside });
}

process.stdout.write(JSON.stringify(out));
