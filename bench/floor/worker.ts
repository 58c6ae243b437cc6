/**
 * The platform floor the benchmarks compare against: what this machine's workerd, wrangler's
 * proxy and local D1 / Durable Object SQLite cost for the cheapest useful request, with none
 * of the service's middleware, auth or validation in the way.
 *
 *   PUT /floor  one D1 insert of the request body (the baseline for single creates and DIDs)
 *   PUT /fresh  one insert into a Durable Object named by a random id, so every request wakes
 *               an object that never existed (the baseline for 1,000 issuers, one request each)
 *   PUT /verify the least a verification can do: split `credentialJwt`, decode the issuer's
 *               Ed25519 did:key from its `kid`, and check the signature with WebCrypto (the
 *               baseline that shows what wrangler's proxy and workerd allow P6; no dates, no status)
 *   PUT /proto, PUT /proto/batch
 *               the minimal issuer the throughput aims were set against: a Worker and one
 *               Durable Object that builds a VC-JWT, signs it with WebCrypto Ed25519 and writes
 *               one job row and one outbox row per credential in one `transactionSync`, answering
 *               without touching D1 (its outbox is never delivered). What the service does beyond
 *               it (auth, validation, idempotency, operations, audit, the index, status) is the
 *               difference between the two in the same run.
 */
import { DurableObject } from "cloudflare:workers";

interface FloorEnv {
  DB: D1Database;
  FRESH: DurableObjectNamespace<FreshObject>;
  PROTO: DurableObjectNamespace<ProtoIssuer>;
}

export class FreshObject extends DurableObject<FloorEnv> {
  /** The least a new issuer object does: create its one table and write one row. */
  put(body: string): string {
    const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY, body TEXT NOT NULL, at INTEGER NOT NULL)");
    const id = crypto.randomUUID();
    sql.exec("INSERT INTO t (id, body, at) VALUES (?, ?, ?)", id, body, Date.now());
    return id;
  }
}

const enc = new TextEncoder();
const b64json = (value: unknown) => {
  let bin = "";
  for (const byte of enc.encode(JSON.stringify(value))) bin += String.fromCharCode(byte);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
};
const b64bytes = (bytes: ArrayBuffer) => {
  let bin = "";
  for (const byte of new Uint8Array(bytes)) bin += String.fromCharCode(byte);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
};

/** One credential request as the service's create takes it (bench/issuance.ts `credentialRequest`). */
type CredentialRequest = { issuer: string; subject: string; type?: string[]; data: Record<string, unknown> };

/** The minimal issuer (see the top of this file): one object, its key in memory, two rows per credential. */
export class ProtoIssuer extends DurableObject<FloorEnv> {
  private key: Promise<CryptoKey> | null = null;

  constructor(ctx: DurableObjectState, env: FloorEnv) {
    super(ctx, env);
    ctx.storage.sql.exec(
      `CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, jwt TEXT NOT NULL, created_at INTEGER NOT NULL);
       CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)`,
    );
  }

  async issue(requests: CredentialRequest[]): Promise<string[]> {
    this.key ??= (crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]) as Promise<CryptoKeyPair>).then(
      (pair) => pair.privateKey,
    );
    const key = await this.key;
    const now = Date.now();
    const header = b64json({ alg: "EdDSA", typ: "JWT", kid: "did:key:z6MkProto#z6MkProto" });
    const inputs = requests.map(
      (r) =>
        `${header}.${b64json({
          iss: r.issuer,
          sub: r.subject,
          nbf: Math.floor(now / 1000),
          jti: `urn:uuid:${crypto.randomUUID()}`,
          vc: {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            type: ["VerifiableCredential", ...(r.type ?? [])],
            credentialSubject: { id: r.subject, ...r.data },
          },
        })}`,
    );
    const signatures = await Promise.all(inputs.map((input) => crypto.subtle.sign({ name: "Ed25519" }, key, enc.encode(input))));
    const jwts = inputs.map((input, i) => `${input}.${b64bytes(signatures[i]!)}`);
    const sql = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      for (const jwt of jwts) {
        const id = crypto.randomUUID();
        sql.exec("INSERT INTO jobs (id, jwt, created_at) VALUES (?, ?, ?)", id, jwt, now);
        sql.exec("INSERT INTO outbox (body) VALUES (?)", JSON.stringify({ id, jwt }));
      }
    });
    return jwts;
  }
}

const BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/** base58btc, enough for a did:key's 34 bytes. */
function base58(text: string): Uint8Array {
  let n = 0n;
  for (const c of text) {
    const v = BASE58.indexOf(c);
    if (v < 0) throw new Error("not base58");
    n = n * 58n + BigInt(v);
  }
  const bytes: number[] = [];
  for (; n > 0n; n >>= 8n) bytes.unshift(Number(n & 255n));
  for (const c of text) {
    if (c !== "1") break;
    bytes.unshift(0);
  }
  return new Uint8Array(bytes);
}

const b64url = (s: string) => Uint8Array.from(atob(s.replaceAll("-", "+").replaceAll("_", "/")), (c) => c.charCodeAt(0));

async function verifyJwt(jwt: string): Promise<boolean> {
  const [h, p, sig] = jwt.split(".");
  const header = JSON.parse(new TextDecoder().decode(b64url(h!))) as { kid: string };
  const multibase = header.kid.split("#")[0]!.slice("did:key:".length);
  const key = base58(multibase.slice(1)).slice(2); // multicodec 0xed 0x01, then the raw key
  const pub = await crypto.subtle.importKey("raw", key, { name: "Ed25519" }, false, ["verify"]);
  return crypto.subtle.verify({ name: "Ed25519" }, pub, b64url(sig!), new TextEncoder().encode(`${h}.${p}`));
}

const json = (value: unknown, status: number) =>
  new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json" } });

export default {
  async fetch(request: Request, env: FloorEnv): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (request.method !== "PUT") return pathname === "/readiness" ? json({ status: "OK" }, 200) : json({ code: "not_found" }, 404);
    if (pathname === "/verify") {
      const { credentialJwt } = (await request.json()) as { credentialJwt: string };
      return json({ verified: await verifyJwt(credentialJwt) }, 200);
    }
    if (pathname === "/proto" || pathname === "/proto/batch") {
      const parsed = (await request.json()) as CredentialRequest | { requests: CredentialRequest[] };
      const requests = "requests" in parsed ? parsed.requests : [parsed];
      const jwts = await env.PROTO.getByName("issuer").issue(requests);
      return json(pathname === "/proto" ? { jwt: jwts[0] } : { jwts }, 201);
    }
    // Parse like the service would, so the baseline pays for the same body handling.
    const body = JSON.stringify(await request.json());
    if (pathname === "/floor") {
      const id = crypto.randomUUID();
      await env.DB.prepare("INSERT INTO floor (id, body, at) VALUES (?, ?, ?)").bind(id, body, Date.now()).run();
      return json({ id }, 201);
    }
    if (pathname === "/fresh") {
      const stub = env.FRESH.get(env.FRESH.idFromName(crypto.randomUUID()));
      return json({ id: await stub.put(body) }, 201);
    }
    return json({ code: "not_found" }, 404);
  },
} satisfies ExportedHandler<FloorEnv>;
