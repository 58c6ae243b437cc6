/**
 * Request generators for the fuzz suite, read from the service's own OpenAPI document: values
 * that fit each schema (with real ids mixed in, so requests get past "not found"), and
 * mutations that break them in the ways clients do.
 */
import fc from "fast-check";
import { TOKEN } from "../support/api";

export type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  default?: unknown;
};

type Param = { name: string; in: "path" | "query" | "header"; required?: boolean; schema: JsonSchema };
export type Operation = { method: string; path: string; params: Param[]; body?: JsonSchema; schemas: Record<string, JsonSchema> };

/** One request before rendering: values, or raw text where a mutation wants exact bytes. */
export type Draft = {
  path: Record<string, { value: string; raw?: boolean }>;
  query: { name: string; value: string; raw?: boolean }[];
  body?: unknown;
  rawBody?: string;
  contentType?: string | null;
  label: string;
};

/** Real values by field name (ids that exist), and real bodies by "METHOD /path". */
export type Known = Record<string, unknown[]>;

export type RouteRequest = { method: string; path: string; headers: Record<string, string>; body?: string; label: string };

export function operationsOf(spec: {
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, JsonSchema> };
}): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, raw] of Object.entries(item)) {
      if (!["get", "put", "post", "delete", "patch"].includes(method)) continue;
      const op = raw as { parameters?: Param[]; requestBody?: { content?: Record<string, { schema?: JsonSchema }> } };
      out.push({
        method: method.toUpperCase(),
        path,
        params: op.parameters ?? [],
        body: op.requestBody?.content?.["application/json"]?.schema,
        schemas: spec.components.schemas,
      });
    }
  }
  return out;
}

const resolve = (s: JsonSchema, schemas: Record<string, JsonSchema>): JsonSchema => {
  let cur = s;
  for (let i = 0; cur.$ref && i < 10; i++) cur = schemas[cur.$ref.replace("#/components/schemas/", "")] ?? {};
  return cur;
};

/** Values for one schema; `name` picks real ids from `known` some of the time. */
export function valueFor(
  schema: JsonSchema,
  name: string,
  known: Known,
  schemas: Record<string, JsonSchema>,
  depth = 0,
): fc.Arbitrary<unknown> {
  const s = resolve(schema, schemas);
  const fromSchema = schemaValue(s, name, known, schemas, depth);
  const real = known[name];
  return real && real.length > 0
    ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...real) }, { weight: 1, arbitrary: fromSchema })
    : fromSchema;
}

function schemaValue(s: JsonSchema, name: string, known: Known, schemas: Record<string, JsonSchema>, depth: number): fc.Arbitrary<unknown> {
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum && s.enum.length > 0) return fc.constantFrom(...s.enum);
  const union = s.anyOf ?? s.oneOf;
  if (union && union.length > 0) return fc.oneof(...union.map((u) => valueFor(u, name, known, schemas, depth)));
  if (s.allOf && s.allOf.length > 0) return valueFor(s.allOf[0]!, name, known, schemas, depth);
  const types = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
  const type = types.find((t) => t !== "null") ?? (s.properties ? "object" : undefined);
  switch (type) {
    case "string": {
      if (s.format === "date-time")
        return fc.date({ min: new Date("2027-01-01"), max: new Date("2100-01-01"), noInvalidDate: true }).map((d) => d.toISOString());
      const maxLength = Math.min(s.maxLength ?? 40, 40);
      const minLength = Math.min(s.minLength ?? 0, maxLength);
      if (s.pattern) {
        try {
          return fc.stringMatching(new RegExp(s.pattern)).filter((v) => v.length >= minLength && v.length <= (s.maxLength ?? Infinity));
        } catch {
          // a pattern fast-check cannot generate from: plain strings below
        }
      }
      return fc.string({ minLength, maxLength });
    }
    case "integer": {
      const min = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : -1000);
      const max = s.maximum ?? (s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - 1 : 1000);
      return fc.integer({ min: Math.max(min, -1e9), max: Math.min(max, 1e9) });
    }
    case "number":
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "array": {
      const maxLength = Math.min(s.maxItems ?? 3, 3);
      return fc.array(s.items ? valueFor(s.items, name, known, schemas, depth + 1) : fc.jsonValue({ maxDepth: 2 }), {
        minLength: Math.min(s.minItems ?? 0, maxLength),
        maxLength,
      });
    }
    case "object": {
      if (s.properties && depth < 6) {
        const props = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, valueFor(v, k, known, schemas, depth + 1)]));
        return fc.record(props, { requiredKeys: (s.required ?? []).filter((k) => k in props) });
      }
      // A free-form member (data, evidence, a JWK): any JSON object.
      return fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** A request that fits the operation's schemas. */
export function arbitraryFor(op: Operation, known: Known): fc.Arbitrary<Draft> {
  const path = op.params.filter((p) => p.in === "path");
  const query = op.params.filter((p) => p.in === "query");
  const pathArb = fc.record(
    Object.fromEntries(path.map((p) => [p.name, valueFor(p.schema, p.name, known, op.schemas).map((v) => ({ value: String(v) }))])),
  );
  const queryArb = fc.tuple(
    ...query.map((p) => {
      const value = valueFor(p.schema, p.name, known, op.schemas).map((v) => ({ name: p.name, value: String(v) }));
      return p.required ? value : fc.option(value, { freq: 3, nil: undefined });
    }),
  );
  // Real, valid bodies for the route (when the suite has some) half the time, so mutations start
  // from requests that would succeed and reach past the first validation.
  const examples = known[`${op.method} ${op.path}`];
  const fromSchema = op.body ? valueFor(op.body, "(body)", known, op.schemas).map((b) => b as unknown) : fc.constant(undefined);
  const bodyArb = examples && examples.length > 0 ? fc.oneof(fc.constantFrom(...examples), fromSchema) : fromSchema;
  return fc.record({ path: pathArb, query: queryArb, body: bodyArb }).map(({ path: p, query: q, body }) => ({
    path: p as Draft["path"],
    query: (q as ({ name: string; value: string } | undefined)[]).filter((x): x is { name: string; value: string } => x !== undefined),
    ...(body !== undefined ? { body } : {}),
    label: "generated",
  }));
}

/** `levels` objects nested in one another. */
const nested = (levels: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = { a: v };
  return v;
};

const UNICODE = ["\ud800", "\udfff", "\u0000", "🧪🔑", "\u202e\u2066evil", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "ﬀ", "e\u0301", "\ufeff", "\uffff"];
/** Number literals JSON can carry but JavaScript and SQLite treat specially. */
const EDGE_NUMBERS = ["1e400", "-1e400", "-0", "9007199254740993", "1e-400", "0.1", "-1", "0", "4294967296", "1.0", "2e3"];
const BAD_PERCENT = [
  "%",
  "%E0%A4%A",
  "%zz",
  "%00",
  "..%2F..%2Fetc",
  "a%2Fb",
  "%C0%AF",
  "%ED%A0%80",
  "%FF",
  "x".repeat(5000),
  "%25%",
  "did%3Akey%3A%",
];
const BAD_JSON = [
  "",
  "{",
  '{"a":1,}',
  "{'a':1}",
  "[1,2",
  "nul",
  "\ufeff{}",
  '{"a":1}{"b":2}',
  "NaN",
  '{"a":"\\x41"}',
  '{"a":1e999999}',
  '"just a string"',
  "[]",
  "null",
  "0",
];
const CONTENT_TYPES = [
  null,
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/json;",
  "application/json; charset=latin1",
  "APPLICATION/JSON",
  "application/xml",
  "application/vc+jwt",
];
const RAW = (text: string) => `\u0000RAW:${text}\u0000`;

/** Picks a JSON path of an object value (members of members, array items), or null. */
function paths(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = [], depth = 0): (string | number)[][] {
  if (depth > 5 || value === null || typeof value !== "object") return out;
  for (const [k, v] of Array.isArray(value) ? value.entries() : Object.entries(value)) {
    const p = [...prefix, k];
    out.push(p);
    paths(v, p, out, depth + 1);
  }
  return out;
}

function setAt(root: unknown, path: (string | number)[], f: (old: unknown) => unknown): unknown {
  if (path.length === 0) return f(root);
  const copy: unknown = structuredClone(root);
  let cur = copy as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (f === DELETE) {
    if (Array.isArray(cur)) cur.splice(Number(last), 1);
    else delete cur[last];
  } else cur[last] = f(cur[last]);
  return copy;
}
const DELETE = (): undefined => undefined;

type Mutation = (d: Draft) => Draft;

/** Ways to break a request: in its body, its path, its query, its bytes or its content type. */
export function mutations(op: Operation): fc.Arbitrary<Mutation> {
  const pick = fc.nat();
  const withBody: fc.Arbitrary<Mutation>[] = op.body
    ? [
        fc.tuple(pick, fc.constantFrom<unknown>(42, -1, true, null, [], {}, "x", [[]], 1.5)).map(([i, v]) => (d: Draft) => {
          const ps = paths(d.body);
          return ps.length === 0
            ? { ...d, body: v, label: "wrong type (body)" }
            : { ...d, body: setAt(d.body, ps[i % ps.length]!, () => v), label: `wrong type at ${ps[i % ps.length]!.join(".")}` };
        }),
        pick.map((i) => (d: Draft) => {
          const ps = paths(d.body);
          return ps.length === 0
            ? d
            : { ...d, body: setAt(d.body, ps[i % ps.length]!, DELETE), label: `missing ${ps[i % ps.length]!.join(".")}` };
        }),
        fc.tuple(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 })).map(([k, v]) => (d: Draft) => {
          const body =
            d.body && typeof d.body === "object" && !Array.isArray(d.body) ? { ...(d.body as object), [k || "extra"]: v } : { extra: v };
          return { ...d, body, label: `extra field ${k}` };
        }),
        fc
          .tuple(pick, fc.constantFrom(70_000, 300_000, 1_100_000), fc.constantFrom("x", "é", "🧪", "\\"))
          .map(([i, n, ch]) => (d: Draft) => {
            const ps = paths(d.body);
            const huge = ch.repeat(Math.ceil(n / ch.length));
            return ps.length === 0
              ? { ...d, body: huge, label: "huge body string" }
              : {
                  ...d,
                  body: setAt(d.body, ps[i % ps.length]!, () => huge),
                  label: `huge string (${n}) at ${ps[i % ps.length]!.join(".")}`,
                };
          }),
        fc.tuple(pick, fc.constantFrom(33, 40, 65, 3000)).map(([i, levels]) => (d: Draft) => {
          const ps = paths(d.body);
          const deep = nested(levels);
          return ps.length === 0
            ? { ...d, body: deep, label: `deep ${levels}` }
            : { ...d, body: setAt(d.body, ps[i % ps.length]!, () => deep), label: `deep ${levels} at ${ps[i % ps.length]!.join(".")}` };
        }),
        fc.tuple(pick, fc.constantFrom(...UNICODE)).map(([i, u]) => (d: Draft) => {
          const ps = paths(d.body);
          if (ps.length === 0) return { ...d, body: u, label: "unicode body" };
          const p = ps[i % ps.length]!;
          return {
            ...d,
            body: setAt(d.body, p, (old) => (typeof old === "string" ? `${old}${u}` : u)),
            label: `unicode at ${p.join(".")}`,
          };
        }),
        fc.tuple(pick, fc.constantFrom(...EDGE_NUMBERS)).map(([i, n]) => (d: Draft) => {
          const ps = paths(d.body);
          if (ps.length === 0) return { ...d, rawBody: n, label: `number ${n}` };
          return { ...d, body: setAt(d.body, ps[i % ps.length]!, () => RAW(n)), label: `number ${n} at ${ps[i % ps.length]!.join(".")}` };
        }),
        fc
          .constantFrom(...BAD_JSON)
          .map((text) => (d: Draft) => ({ ...d, rawBody: text, label: `bad JSON ${JSON.stringify(text.slice(0, 20))}` })),
        fc.constantFrom(...CONTENT_TYPES).map((ct) => (d: Draft) => ({ ...d, contentType: ct, label: `content type ${ct}` })),
      ]
    : [];
  const pathParams = op.params.filter((p) => p.in === "path");
  const withPath: fc.Arbitrary<Mutation>[] = pathParams.map((p) =>
    fc.oneof(
      fc.constantFrom(...BAD_PERCENT).map((v) => (d: Draft) => ({
        ...d,
        path: { ...d.path, [p.name]: { value: v, raw: true } },
        label: `path ${p.name}=${v.slice(0, 20)}`,
      })),
      fc
        .constantFrom(...UNICODE, "", " ", "did:key:", "../..", "did:web:localhost%3A1")
        .map((v) => (d: Draft) => ({ ...d, path: { ...d.path, [p.name]: { value: v } }, label: `path ${p.name} ${JSON.stringify(v)}` })),
    ),
  );
  const queryNames = op.params.filter((p) => p.in === "query").map((p) => p.name);
  const withQuery: fc.Arbitrary<Mutation>[] = [
    fc
      .tuple(fc.constantFrom(...queryNames, "pageSize", "pageToken", "unknown"), fc.constantFrom(...BAD_PERCENT))
      .map(([name, v]) => (d: Draft) => ({
        ...d,
        query: [...d.query, { name, value: v, raw: true }],
        label: `query ${name}=${v.slice(0, 20)}`,
      })),
    fc
      .tuple(
        fc.constantFrom(...queryNames, "pageSize"),
        fc.constantFrom("0", "-1", "1001", "1e309", "abc", "", "1.5", "99999999999999999999", "0x10"),
      )
      .map(([name, v]) => (d: Draft) => ({
        ...d,
        query: [...d.query, { name, value: v }, { name, value: v }],
        label: `query ${name}=${v} twice`,
      })),
    fc.jsonValue({ maxDepth: 2 }).map((v) => (d: Draft) => ({
      ...d,
      query: [
        ...d.query,
        {
          name: "pageToken",
          value: btoa(JSON.stringify(v) ?? "x")
            .replace(/=+$/, "")
            .replace(/\+/g, "-")
            .replace(/\//g, "_"),
        },
      ],
      label: `pageToken ${JSON.stringify(v)?.slice(0, 30)}`,
    })),
  ];
  return fc.oneof(...withBody, ...withPath, ...withQuery);
}

/** encodeURIComponent, except that a lone surrogate (which it refuses) goes as U+FFFD's bytes. */
function encodeLoosely(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return [...new TextEncoder().encode(value)].map((b) => `%${b.toString(16).padStart(2, "0").toUpperCase()}`).join("");
  }
}

export function render(op: Operation, d: Draft): RouteRequest {
  const path = op.path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const p = d.path[name];
    if (!p) return "x";
    return p.raw ? p.value : encodeLoosely(p.value);
  });
  const query = d.query.map((q) => `${encodeLoosely(q.name)}=${q.raw ? q.value : encodeLoosely(q.value)}`).join("&");
  const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` };
  let body: string | undefined;
  if (d.rawBody !== undefined) body = d.rawBody;
  else if (d.body !== undefined) body = JSON.stringify(d.body).replace(/"\\u0000RAW:([^"\\]*)\\u0000"/g, "$1");
  if (body !== undefined && d.contentType !== null) headers["content-type"] = d.contentType ?? "application/json";
  return {
    method: op.method,
    path: `${path}${query ? `?${query}` : ""}`,
    headers,
    ...(body !== undefined ? { body } : {}),
    label: d.label,
  };
}
