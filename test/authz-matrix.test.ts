import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { ORIGIN, api } from "./support/api";
import { didAuthJwt, externalDid, externalKey } from "./support/keys";

/**
 * The authorization matrix, generated from the service's own OpenAPI document: every route and
 * method it describes, asked by callers who may not use it. A route added later is covered
 * without touching this file.
 */

type Json = any;
type Route = { method: string; template: string; operation: Json };

/** An external DID whose key the test holds, with a DID-auth token maker. */
async function signer() {
  const key = await externalKey("Ed25519");
  const { did, vmId: vm } = await externalDid(key);
  const token = (o: { iat?: number; exp?: number } = {}) => didAuthJwt(key, { iss: did, kid: vm, ...o });
  return { did, vm, x: key.publicKeyJwk.x!, token };
}
type Signer = Awaited<ReturnType<typeof signer>>;

/** Everything of the victim's that no refusal may carry (the ids a caller names itself may be echoed). */
interface Victim extends Signer {
  jobId: string;
  operationId: string;
  credentialId: string;
  secrets: string[];
}

async function victimWithData(): Promise<Victim> {
  const s = await signer();
  const marker = `victim-only-${crypto.randomUUID()}`;
  const res = await api("PUT", "/v1/credentials", {
    issuer: s.did,
    verificationMethodId: s.vm,
    subject: "did:example:subject",
    data: { marker },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  const jobId: string = res.body.signJobs[0];
  const job = (await api("GET", `/v1/signjobs/${jobId}`)).body;
  return {
    ...s,
    jobId,
    operationId: res.body.id,
    credentialId: res.body.result?.response?.id ?? res.body.id.split("/").pop(),
    secrets: [marker, s.x, job.signingInput],
  };
}

const PUBLIC = (r: Route) => !r.template.startsWith("/v1/") || (r.method === "get" && r.template === "/v1/credentials/status/{listId}");
/** A path a public GET route answers (workerd hands the Worker every upgrade request as a GET). */
const PUBLIC_GET_PATH = (path: string) => !path.startsWith("/v1/") || /^\/v1\/credentials\/status\/[^/?]+(\?|$)/.test(path);
const SOCKET = (r: Route) => r.method === "get" && r.template === "/v1/signjobs/connect";

/** Path parameters of plausible shape, naming the victim's own resources where the route takes one. */
function fillPath(template: string, v: Victim): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (name === "did") return encodeURIComponent(v.did);
    if (name === "method") return "key";
    if (name === "listId") return "0123456789abcdef";
    if (template.startsWith("/v1/signjobs")) return v.jobId;
    if (template.startsWith("/v1/operations")) return v.operationId;
    if (template.startsWith("/v1/keys")) return encodeURIComponent(v.vm);
    if (template.startsWith("/v1/credentials")) return v.credentialId;
    return "x";
  });
}

function fillQuery(op: Json, v: Victim): string {
  const q = new URLSearchParams();
  for (const p of op.parameters ?? []) {
    if (p.in !== "query" || !p.required) continue;
    q.set(p.name, p.name === "did" || p.name === "issuer" ? v.did : "x");
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** A minimal body that looks valid for the schema, with the victim's ids where a field names one. */
function sample(schema: Json, doc: Json, v: Victim, name = "", depth = 0): unknown {
  if (!schema || depth > 8) return null;
  if (schema.$ref) return sample(doc.components.schemas[schema.$ref.split("/").pop()], doc, v, name, depth + 1);
  for (const k of ["anyOf", "oneOf", "allOf"]) if (Array.isArray(schema[k])) return sample(schema[k][0], doc, v, name, depth + 1);
  if (schema.enum) return schema.enum[0];
  if ("const" in schema) return schema.const;
  const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== "null") : schema.type;
  switch (type) {
    case "object": {
      const out: Record<string, unknown> = {};
      // Required members, plus a signature where one may be given (a refinement wants one of two).
      const keys = [
        ...(schema.required ?? []),
        ...(schema.properties?.signature && !schema.required?.includes("signature") ? ["signature"] : []),
      ];
      for (const key of keys) out[key] = sample(schema.properties?.[key], doc, v, key, depth + 1);
      return out;
    }
    case "array":
      return Array.from({ length: Math.max(1, schema.minItems ?? 0) }, () => sample(schema.items, doc, v, name, depth + 1));
    case "integer":
    case "number":
      return schema.minimum ?? 1;
    case "boolean":
      return true;
    case "string": {
      if (name === "id") return v.jobId;
      if (name === "issuer" || name === "did" || name === "issuerDid") return v.did;
      if (name === "verificationMethodId") return v.vm;
      if (schema.format === "date-time") return "2030-01-01T00:00:00Z";
      return "A".repeat(Math.max(4, schema.minLength ?? 0));
    }
    default:
      return {};
  }
}

type Case = { name: string; expect: number[]; headers: (v: Victim, attacker: Signer) => Promise<Record<string, string>> };

const CASES: Case[] = [
  { name: "no auth", expect: [401], headers: async () => ({}) },
  { name: "wrong bearer", expect: [401], headers: async () => ({ authorization: "Bearer not-a-configured-token" }) },
  // A valid signer, of another DID: it may reach only its own sign jobs, and none of these.
  {
    name: "other DID's DID-auth",
    expect: [403, 404],
    headers: async (_, attacker) => ({ authorization: `DID ${await attacker.token()}` }),
  },
  {
    name: "expired DID-auth",
    expect: [401],
    headers: async (v) => {
      const now = Math.floor(Date.now() / 1000);
      return { authorization: `DID ${await v.token({ iat: now - 400, exp: now - 300 })}` };
    },
  },
  {
    name: "replayed jti",
    expect: [401],
    headers: async (v) => {
      const jwt = await v.token();
      const first = await api("GET", `/v1/signjobs?did=${encodeURIComponent(v.did)}`, undefined, { auth: `DID ${jwt}` });
      expect(first.status).toBe(200);
      return { authorization: `DID ${jwt}` };
    },
  },
  { name: "Upgrade: websocket without auth", expect: [401], headers: async () => ({ upgrade: "websocket" }) },
];

describe("authorization matrix from /openapi.json", () => {
  let doc: Json;
  let routes: Route[];
  let victim: Victim;
  let attacker: Signer;
  beforeAll(async () => {
    doc = (await api("GET", "/openapi.json", undefined, { auth: null })).body;
    routes = Object.entries(doc.paths as Record<string, Record<string, Json>>).flatMap(([template, item]) =>
      Object.entries(item)
        .filter(([method]) => ["get", "put", "post", "delete", "patch"].includes(method))
        .map(([method, operation]) => ({ method, template, operation })),
    );
    victim = await victimWithData();
    attacker = await signer();
  });

  it(
    "covers every described route with every case: 401/403/404 problems, never 5xx, nothing of another DID",
    { timeout: 120_000 },
    async () => {
      const protectedRoutes = routes.filter((r) => !PUBLIC(r));
      expect(protectedRoutes.length).toBeGreaterThan(20);
      const failures: string[] = [];
      let asked = 0;
      for (const route of routes) {
        for (const c of CASES) {
          const path = fillPath(route.template, victim) + fillQuery(route.operation, victim);
          const schema = route.operation.requestBody?.content?.["application/json"]?.schema;
          const body = schema ? JSON.stringify(sample(schema, doc, victim)) : undefined;
          const headers: Record<string, string> = { ...(await c.headers(victim, attacker)) };
          if (body) headers["content-type"] = "application/json";
          const res = await exports.default.fetch(new Request(`${ORIGIN}${path}`, { method: route.method.toUpperCase(), headers, body }));
          asked++;
          const where = `${route.method.toUpperCase()} ${route.template} [${c.name}]`;
          if (res.status >= 500) failures.push(`${where}: ${res.status}`);
          // An upgrade request reaches the Worker as a GET whatever its method, so a path that a
          // public GET route serves is answered as public.
          if (PUBLIC(route) || (c.name.startsWith("Upgrade") && PUBLIC_GET_PATH(path))) {
            await res.body?.cancel();
            continue;
          }
          if (SOCKET(route) && c.name.startsWith("Upgrade")) {
            // The one route that may authenticate after the upgrade: the socket opens, and is closed
            // with 4401 at its first frame that is not `auth`.
            if (res.status !== 101 || !res.webSocket) failures.push(`${where}: ${res.status}, expected 101`);
            else {
              const ws = res.webSocket;
              ws.accept();
              const closed = new Promise<number>((resolve) => ws.addEventListener("close", (ev) => resolve(ev.code)));
              ws.send(JSON.stringify({ type: "sign", id: victim.jobId, signature: "AAAA" }));
              const code = await closed;
              if (code !== 4401) failures.push(`${where}: socket closed with ${code}, expected 4401`);
            }
            continue;
          }
          const text = await res.text();
          if (!c.expect.includes(res.status))
            failures.push(`${where}: ${res.status}, expected ${c.expect.join("/")}: ${text.slice(0, 200)}`);
          if (res.headers.get("content-type") !== "application/problem+json")
            failures.push(`${where}: content-type ${res.headers.get("content-type")}`);
          for (const secret of victim.secrets) if (text.includes(secret)) failures.push(`${where}: the body carries the victim's data`);
        }
      }
      console.log(
        JSON.stringify({
          event: "authz_matrix",
          routes: routes.length,
          protected: protectedRoutes.length,
          cases: CASES.length,
          requests: asked,
        }),
      );
      expect(failures).toEqual([]);
      // The victim's job is untouched by all of it.
      expect((await api("GET", `/v1/signjobs/${victim.jobId}`)).body.status).toBe("pending");
    },
  );
});
