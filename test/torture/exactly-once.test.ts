/**
 * Torture: exactly-once under faults (issue 8). One external issuer gets 2,000 credentials in 40
 * batch creates, each with its own Idempotency-Key, while two signers race to sign everything
 * they see (a WebSocket signer sending one `sign` frame per job, and a REST batch signer, both with the issuer's P-256 key, whose
 * signatures differ every time, so a lost race is a visible `job_already_signed`). Meanwhile the
 * object is evicted (sockets closed or hibernated) and aborted at random deliveries (a commit
 * whose answer is lost, whether a create's or a signature's), and D1 fails ~10% of the outbox's
 * batches (half before writing, half after writing with the answer lost). Creates are retried
 * with their key after every abort and at random.
 *
 * At the end: every acknowledged create has exactly one job and one credential row, each job was
 * signed once, every JWT verifies, nothing is pending, and D1 equals the object once the alarm
 * has drained the outbox. Faults come from a seeded PRNG; the assertions hold whatever the
 * interleaving, and nothing waits on a clock except the outbox's own backoff at the end.
 */
import { env, exports } from "cloudflare:workers";
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { expect, it } from "vitest";
import { ORIGIN, api, enc } from "../support/api";
import { seeded, type FaultCounts } from "../support/faults";
import { didAuth, externalDid, externalKey, stubOf, type ExternalKey, type Issuer } from "../support/keys";

const CREATES = 40;
const PER_CREATE = 50;
const D1_FAULT_RATE = 0.1;
const SEED = 0x5eed_2026;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Tally {
  d1: FaultCounts;
  abortsArmed: number;
  aborts: number;
  evictions: { close: number; hibernate: number };
  createAttempts: number;
  createRetriesWithKey: number;
  createRefusals: Record<number, number>;
  socket: {
    sessions: number;
    frames: number;
    submitted: number;
    signed: number;
    alreadySigned: number;
  };
  rest: {
    passes: number;
    submitted: number;
    alreadySigned: number;
    errors: Record<number, number>;
  };
}

/** The faults installed into each fresh instance of the object (an evicted or aborted one comes back clean). */
class Faults {
  abortNext = false;
  constructor(
    private readonly random: () => number,
    readonly tally: Tally,
  ) {}

  async ensure(did: string): Promise<void> {
    await runInDurableObject(stubOf(did), (instance, state) => {
      const o = instance as unknown as { outbox: { db: D1Database }; tortured?: boolean };
      if (o.tortured) return;
      o.tortured = true;
      o.outbox.db = this.wrap(o.outbox.db, state);
    });
  }

  private wrap(real: D1Database, state: DurableObjectState): D1Database {
    // The proxy handler below has its own `this`; the fault state is reached through this name.
    // oxlint-disable-next-line typescript/no-this-alias
    const faults = this;
    const { d1 } = this.tally;
    return new Proxy(real, {
      get(target, prop) {
        if (prop === "batch") {
          return async (statements: D1PreparedStatement[]) => {
            if (faults.abortNext) {
              // The change is committed in the object; its delivery and its answer die here.
              faults.abortNext = false;
              faults.tally.aborts++;
              state.abort("torture: abort after commit");
            }
            d1.deliveries++;
            if (faults.random() >= D1_FAULT_RATE) return target.batch(statements);
            if (faults.random() < 0.5) {
              d1.refused++;
              throw new Error("D1_ERROR: injected fault before the write");
            }
            await target.batch(statements);
            d1.lost++;
            throw new Error("D1_ERROR: injected fault after the write");
          };
        }
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }
}

/** A signer daemon on the socket: signs every job it is offered (a `sign` frame each); reconnects when closed. */
class SocketSigner {
  private stopped = false;
  private ws: WebSocket | null = null;
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly key: ExternalKey,
    private readonly issuer: Issuer,
    private readonly tally: Tally["socket"],
  ) {}

  start(): void {
    this.done = (async () => {
      while (!this.stopped) {
        try {
          await this.session();
        } catch {
          // the object was aborted or evicted mid-handshake: connect again
        }
        if (!this.stopped) await sleep(5);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.ws?.close(1000, "done");
    await this.done;
  }

  private async session(): Promise<void> {
    const res = await exports.default.fetch(
      new Request(`${ORIGIN}/v1/signjobs/connect?did=${enc(this.issuer.did)}`, {
        headers: { Upgrade: "websocket", authorization: await didAuth(this.key, this.issuer) },
      }),
    );
    const ws = res.webSocket;
    if (res.status !== 101 || !ws) throw new Error(`connect answered ${res.status}`);
    ws.accept();
    this.ws = ws;
    this.tally.sessions++;
    if (this.stopped) ws.close(1000, "done");
    await new Promise<void>((resolve) => {
      ws.addEventListener("close", () => resolve());
      ws.addEventListener("error", () => resolve());
      ws.addEventListener("message", (ev) => {
        if (typeof ev.data !== "string" || !ev.data.startsWith("{")) return;
        const frame = JSON.parse(ev.data) as {
          type: string;
          jobs?: { id: string; signingInput: string }[];
          status?: string;
          code?: string;
        };
        if (frame.type === "result") {
          if (frame.code === "job_already_signed") this.tally.alreadySigned++;
          else if (frame.status === "signed") this.tally.signed++;
        }
        if (frame.type !== "jobs" || !frame.jobs) return;
        this.tally.frames++;
        const jobs = frame.jobs;
        // One `sign` frame per job, each answered by a `result` frame.
        void Promise.all(jobs.map(async (j) => ({ id: j.id, signature: await this.key.sign(j.signingInput) }))).then((signatures) => {
          try {
            for (const sig of signatures) ws.send(JSON.stringify({ type: "sign", ...sig }));
            this.tally.submitted += signatures.length;
          } catch {
            // closed meanwhile; the jobs are offered again on the next session
          }
        });
      });
    });
  }
}

/** A signer polling over REST: lists what is pending, signs it all, submits one batch. Returns how many it saw. */
async function restPass(key: ExternalKey, issuer: Issuer, tally: Tally["rest"]): Promise<number> {
  tally.passes++;
  const page = await api("GET", `/v1/signjobs?did=${enc(issuer.did)}&status=pending&pageSize=500`);
  if (page.status !== 200) {
    tally.errors[page.status] = (tally.errors[page.status] ?? 0) + 1;
    return -1;
  }
  const jobs = page.body.signJobs as { id: string; signingInput: string }[];
  if (jobs.length === 0) return 0;
  const signatures = await Promise.all(jobs.map(async (j) => ({ id: j.id, signature: await key.sign(j.signingInput) })));
  const res = await api("PUT", "/v1/signjobs", { signatures });
  if (res.status !== 200) {
    tally.errors[res.status] = (tally.errors[res.status] ?? 0) + 1;
    return jobs.length;
  }
  tally.submitted += signatures.length;
  tally.alreadySigned += (res.body.results as { code?: string }[]).filter((r) => r.code === "job_already_signed").length;
  return jobs.length;
}

it("2,000 credentials, two racing signers, evictions, aborts and failing D1 writes: each signed exactly once, D1 equal to the object", async () => {
  const plan = seeded(SEED);
  const tally: Tally = {
    d1: { refused: 0, lost: 0, deliveries: 0 },
    abortsArmed: 0,
    aborts: 0,
    evictions: { close: 0, hibernate: 0 },
    createAttempts: 0,
    createRetriesWithKey: 0,
    createRefusals: {},
    socket: { sessions: 0, frames: 0, submitted: 0, signed: 0, alreadySigned: 0 },
    rest: { passes: 0, submitted: 0, alreadySigned: 0, errors: {} },
  };
  const faults = new Faults(seeded(SEED + 1), tally);
  const key = await externalKey("P-256");
  const issuer = await externalDid(key);
  const did = issuer.did;

  const socket = new SocketSigner(key, issuer, tally.socket);
  socket.start();
  let creating = true;
  const rest = (async () => {
    while (creating) {
      await restPass(key, issuer, tally.rest);
      await sleep(20);
    }
  })();

  /** Creates (or re-asks for) one batch with its key until it is acknowledged; every answer must be the same operations. */
  const acknowledged: string[] = [];
  const create = async (c: number): Promise<string[]> => {
    const body = {
      requests: Array.from({ length: PER_CREATE }, (_, i) => ({
        issuer: did,
        verificationMethodId: issuer.vmId,
        subject: `did:example:holder-${c}-${i}`,
        data: { create: c, item: i },
      })),
    };
    for (let attempt = 1; attempt <= 50; attempt++) {
      tally.createAttempts++;
      const res = await api("PUT", "/v1/credentials/batch", body, {
        headers: { "idempotency-key": `torture-${c}` },
      });
      if (res.status === 202) return (res.body.operations as { id: string }[]).map((o) => o.id);
      // Temporary refusals only (the object aborted twice in a row, or the first call still running).
      expect([409, 503], JSON.stringify(res.body)).toContain(res.status);
      tally.createRefusals[res.status] = (tally.createRefusals[res.status] ?? 0) + 1;
      await sleep(10);
    }
    throw new Error(`create ${c} was never acknowledged`);
  };

  for (let c = 0; c < CREATES; c++) {
    await faults.ensure(did);
    const roll = plan();
    const abort = roll < 0.2;
    if (abort) {
      // The next delivery (this create's, or a signature's) aborts the object after its commit.
      faults.abortNext = true;
      tally.abortsArmed++;
    } else if (roll < 0.35) {
      const webSockets = plan() < 0.5 ? "close" : "hibernate";
      await evictDurableObject(stubOf(did), { webSockets }).then(
        () => tally.evictions[webSockets]++,
        () => undefined, // not running at that instant: nothing to evict
      );
      await faults.ensure(did);
    }
    const ids = await create(c);
    expect(ids).toHaveLength(PER_CREATE);
    if (abort || plan() < 0.2) {
      // The client cannot know whether its answer was the real one: it asks again with the key.
      tally.createRetriesWithKey++;
      expect(await create(c)).toEqual(ids);
    }
    acknowledged.push(...ids);
  }
  faults.abortNext = false;
  creating = false;
  await rest;
  await socket.stop();

  // Whatever is still pending (offered to a socket that went away, say) the REST signer finishes.
  for (let pass = 0; ; pass++) {
    expect(pass, "jobs stayed pending").toBeLessThan(200);
    const seen = await restPass(key, issuer, tally.rest);
    if (seen === 0) break;
  }

  // The outbox drains through the alarm, with the real D1 (a fresh instance carries no faults).
  const stub = () => stubOf(did);
  await evictDurableObject(stub(), { webSockets: "close" }).catch(() => undefined);
  for (let round = 0; ; round++) {
    const left = await runInDurableObject(
      stub(),
      (_i, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n,
    );
    if (left === 0) break;
    expect(round, `${left} outbox rows never delivered`).toBeLessThan(300);
    // Rows that failed wait out their backoff (seconds); the alarm delivers them once due.
    await runInDurableObject(stub(), (_i, state) => state.storage.setAlarm(Date.now()));
    await runDurableObjectAlarm(stub());
    await sleep(100);
  }

  // ── The object: one job per acknowledged operation, each signed once, nothing pending.
  type Job = {
    id: string;
    kind: string;
    operation_id: string;
    status: string;
    signing_input: string;
    signature: string | null;
  };
  const { jobs, signedOnce, operations, dead } = await runInDurableObject(stub(), (_i, state) => ({
    jobs: state.storage.sql.exec<Job>("SELECT id, kind, operation_id, status, signing_input, signature FROM jobs").toArray(),
    signedOnce: state.storage.sql
      .exec<{ job_id: string; n: number }>("SELECT job_id, count(*) AS n FROM audit WHERE event = 'signed' GROUP BY job_id")
      .toArray(),
    operations: state.storage.sql.exec<{ id: string; done: number }>("SELECT id, done FROM operations").toArray(),
    dead: state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox_dead").one().n,
  }));
  expect(new Set(acknowledged).size).toBe(CREATES * PER_CREATE);
  expect(jobs.filter((j) => j.status === "pending")).toEqual([]);
  const credentialJobs = jobs.filter((j) => j.kind === "credential");
  expect(credentialJobs).toHaveLength(CREATES * PER_CREATE);
  expect(new Set(credentialJobs.map((j) => j.operation_id))).toEqual(new Set(acknowledged));
  expect(credentialJobs.every((j) => j.status === "signed" && j.signature)).toBe(true);
  expect(signedOnce).toHaveLength(CREATES * PER_CREATE);
  expect(signedOnce.every((r) => r.n === 1)).toBe(true);
  expect(operations).toHaveLength(CREATES * PER_CREATE);
  expect(operations.every((o) => o.done === 1)).toBe(true);
  expect(dead).toBe(0);

  // ── D1 equals the object: one credential index row per acknowledged create, signed once (a
  // credential's one D1 row); the JWT is the object's, as the API answers it.
  const rows = (
    await env.DB.prepare("SELECT id, state FROM credential_index WHERE issuer = ?").bind(did).all<{ id: string; state: number }>()
  ).results;
  expect(rows).toHaveLength(CREATES * PER_CREATE);
  expect(new Set(rows.map((r) => `credentials/${r.id}`))).toEqual(new Set(credentialJobs.map((j) => j.operation_id)));
  expect(rows.every((r) => r.state === 1)).toBe(true);
  expect(await env.DB.prepare("SELECT id FROM credentials WHERE issuer = ?").bind(did).first()).toBeNull();
  // The JWTs are the object's: a sample read through the API is the job's JWT.
  const jwts = credentialJobs.map((j) => `${j.signing_input}.${j.signature}`);
  for (const [i, j] of [0, 777, credentialJobs.length - 1].map((i) => [i, credentialJobs[i]!] as const)) {
    const op = await api("GET", `/v1/operations/${j.operation_id}`);
    expect(op.body.result.response.credentialJwt, `credential ${i}`).toBe(jwts[i]);
    const cred = await api("GET", `/v1/credentials/${op.body.result.response.id}`);
    expect(cred.body.credentialJwt, `credential ${i}`).toBe(jwts[i]);
  }

  // The operations too: their D1 record is the index row (done once signed), not an `operations` row.
  expect(await env.DB.prepare("SELECT id FROM operations WHERE issuer = ?").bind(did).first()).toBeNull();
  const indexed = new Map(rows.map((r) => [`credentials/${r.id}`, r.state === 0 ? 0 : 1]));
  expect(indexed).toEqual(new Map(operations.map((o) => [o.id, o.done])));

  // Signers saw only answers a client can act on: never a 5xx other than a temporary 503.
  expect(Object.keys(tally.rest.errors).filter((status) => Number(status) >= 500 && status !== "503")).toEqual([]);

  // ── Every JWT verifies against the issuer's key (and a sample through the service's own verifier).
  const publicKey = await crypto.subtle.importKey(
    "jwk",
    { ...issuer.doc.verificationMethod[0]!.publicKeyJwk } as unknown as JsonWebKey,
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["verify"],
  );
  const utf8 = new TextEncoder();
  const b64 = (s: string) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (ch) => ch.charCodeAt(0));
  let verified = 0;
  for (const jwt of jwts) {
    const [h, p, s] = jwt.split(".");
    if (await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, publicKey, b64(s!), utf8.encode(`${h}.${p}`))) verified++;
  }
  expect(verified).toBe(CREATES * PER_CREATE);
  for (const jwt of jwts.slice(0, 3)) {
    expect((await api("PUT", "/v1/credentials/verification", { credentialJwt: jwt })).body).toEqual({ verified: true });
  }

  console.log(JSON.stringify({ torture: "exactly-once", jobs: credentialJobs.length, ...tally }));
}, 120_000);
