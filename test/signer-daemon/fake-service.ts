import { createHash, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { base64url, type JWK } from "jose";
import { WebSocketServer, type WebSocket } from "ws";
import { signingInputOf, verifyJws } from "./verify.js";

export interface FakeJob {
  id: string;
  did: string;
  verificationMethodId: string;
  keyRef?: string;
  alg: string;
  kind: string;
  operationId: string;
  signingInput: string;
  digest?: string;
  payload: Record<string, unknown>;
  status: "pending" | "signed" | "rejected" | "cancelled";
  signature?: string;
  reason?: string;
}

/**
 * A stand-in for the ssi-edge service that speaks api.md's signer protocol: DID-auth (first
 * message on the socket, Authorization header over HTTP, signature/aud/exp/jti all checked),
 * `ready` + backlog, pushed `jobs`, `sign`/`reject` answered with `result`, `cancelled`,
 * `ping`/`pong`, and the `GET/PUT /v1/signjobs` endpoints for poll mode.
 */
export class FakeService {
  readonly jobs = new Map<string, FakeJob>();
  /** Every frame a signer sent, parsed, in order. */
  readonly received: { type?: string; id?: string; [k: string]: unknown }[] = [];
  readonly closes: { code: number; reason: string }[] = [];
  authOk = 0;
  authFailed = 0;
  httpAuthOk = 0;
  /** The signing input of every DID-auth JWT presented: the only other thing the key signs. */
  readonly authInputs = new Set<string>();
  /** Delay before answering a `sign` with `result` (the drain test holds results back). */
  resultDelayMs = 0;
  resultSentAt: number | undefined;
  /**
   * Takes batched `{ type: "sign", signatures: [...] }` frames and answers each with one `results`
   * frame, as the current service does; false plays a service from before batched frames.
   */
  batches = false;
  private readonly usedJti = new Set<string>();
  private readonly authed = new Set<WebSocket>();
  private readonly server = http.createServer((req, res) => void this.http(req, res));
  private readonly wss = new WebSocketServer({ noServer: true });
  url = "";

  constructor(private readonly key: { did: string; kid: string; jwk: JWK; alg: string; keyRef?: string }) {
    this.server.on("upgrade", (req, socket, head) => {
      const u = new URL(req.url ?? "/", "http://x");
      if (u.pathname !== "/v1/signjobs/connect" || u.searchParams.get("did") !== key.did) return socket.destroy();
      this.wss.handleUpgrade(req, socket, head, (ws) => this.socket(ws));
    });
  }

  async start(port = 0): Promise<this> {
    await new Promise<void>((r) => this.server.listen(port, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /**
   * Creates a pending job for `payload` and pushes it to connected signers, built the way the
   * service builds one: header `{...header, alg, kid}` (a VC 2.0 payload gets `vc+jwt`), digest for
   * ECDSA. `job` overrides any field afterwards, which is how a hostile service is played.
   */
  addJob(
    payload: Record<string, unknown>,
    kind = "credential",
    opts: {
      header?: Record<string, unknown>;
      job?: Partial<FakeJob> & Record<string, unknown>;
    } = {},
  ): FakeJob {
    const { did, kid, alg } = this.key;
    const vc2 = payload.vc === undefined && payload.credentialSubject !== undefined;
    const header = opts.header ?? (vc2 ? { typ: "vc+jwt", cty: "vc" } : { typ: "JWT" });
    const signingInput = signingInputOf({ ...header, alg, kid }, payload);
    const job: FakeJob = {
      id: randomUUID(),
      did,
      verificationMethodId: kid,
      ...(this.key.keyRef ? { keyRef: this.key.keyRef } : {}),
      alg,
      kind,
      operationId: `credentials/${randomUUID()}`,
      signingInput,
      ...(alg === "EdDSA" ? {} : { digest: createHash("sha256").update(signingInput).digest("base64url") }),
      payload,
      status: "pending",
      ...opts.job,
    };
    this.jobs.set(job.id, job);
    this.broadcast({ type: "jobs", jobs: [job] });
    return job;
  }

  broadcast(msg: unknown): void {
    const raw = typeof msg === "string" ? msg : JSON.stringify(msg);
    for (const ws of this.authed) ws.send(raw);
  }

  /** Kills every socket without a close handshake, like a crashed or redeployed service. */
  dropAll(): void {
    for (const ws of this.wss.clients) ws.terminate();
  }

  /** Signatures sent for a job, in single frames and in batched ones. */
  signsFor(id: string): number {
    return this.received.filter((m) => m.type === "sign" && m.id === id).length + this.batchedSignsFor(id);
  }

  batchedSignsFor(id: string): number {
    let n = 0;
    for (const m of this.received) {
      if (m.type === "sign" && Array.isArray(m.signatures)) {
        n += (m.signatures as { id: string }[]).filter((s) => s.id === id).length;
      }
    }
    return n;
  }

  /** Checks a DID-auth JWT the way api.md says the service does. */
  async checkDidJwt(jwt: string): Promise<string | undefined> {
    const [h, p, s] = jwt.split(".");
    if (!h || !p || !s) return "not a compact JWS";
    this.authInputs.add(`${h}.${p}`);
    const header = JSON.parse(new TextDecoder().decode(base64url.decode(h)));
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(p)));
    if (header.typ !== "JWT" || header.alg !== this.key.alg || header.kid !== this.key.kid) return "bad header";
    if (!(await verifyJws(header.alg, this.key.jwk, `${h}.${p}`, s))) return "bad signature";
    const now = Math.floor(Date.now() / 1000);
    if (claims.iss !== this.key.did) return "bad iss";
    if (claims.aud !== this.url) return `bad aud ${claims.aud}`;
    if (typeof claims.iat !== "number" || typeof claims.exp !== "number") return "no iat/exp";
    if (claims.exp - claims.iat > 300 || claims.exp < now || claims.iat > now + 5) return "bad lifetime";
    if (typeof claims.jti !== "string" || this.usedJti.has(claims.jti)) return "jti replayed";
    this.usedJti.add(claims.jti);
    return undefined;
  }

  /** Applies a signature with the service's rules; returns the `result` fields. */
  async applySignature(id: string, signature: string): Promise<{ id: string; status: string; code?: string }> {
    const job = this.jobs.get(id);
    if (!job) return { id, status: "unknown", code: "not_found" };
    if (job.status === "signed") {
      return job.signature === signature ? { id, status: "signed" } : { id, status: "signed", code: "job_already_signed" };
    }
    if (job.status !== "pending") return { id, status: job.status, code: "job_not_pending" };
    if (!(await verifyJws(job.alg, this.key.jwk, job.signingInput, signature))) {
      return { id, status: "pending", code: "invalid_signature" };
    }
    job.status = "signed";
    job.signature = signature;
    return { id, status: "signed" };
  }

  private reject(id: string, reason: string): { id: string; status: string; code?: string } {
    const job = this.jobs.get(id);
    if (!job || job.status !== "pending") return { id, status: job?.status ?? "unknown", code: "job_not_pending" };
    job.status = "rejected";
    job.reason = reason;
    return { id, status: "rejected" };
  }

  private pending(): FakeJob[] {
    return [...this.jobs.values()].filter((j) => j.status === "pending");
  }

  private socket(ws: WebSocket): void {
    const timer = setTimeout(() => ws.close(4401, "auth timeout"), 10_000);
    ws.on("close", (code, reason) => {
      clearTimeout(timer);
      this.authed.delete(ws);
      this.closes.push({ code, reason: reason.toString() });
    });
    ws.on("message", async (data) => {
      const raw = data.toString();
      if (raw === "ping") return ws.send("pong");
      let msg: {
        type?: string;
        id?: string;
        token?: string;
        signature?: string;
        reason?: string;
        signatures?: { id: string; signature: string }[];
      };
      try {
        msg = JSON.parse(raw);
      } catch {
        return ws.send(JSON.stringify({ type: "error", code: "validation_failed", detail: "not JSON" }));
      }
      this.received.push(msg);
      if (!this.authed.has(ws)) {
        const err = msg.type === "auth" && msg.token?.startsWith("DID ") ? await this.checkDidJwt(msg.token.slice(4)) : "no auth";
        if (err) {
          this.authFailed++;
          return ws.close(4401, err);
        }
        clearTimeout(timer);
        this.authOk++;
        this.authed.add(ws);
        const backlog = this.pending();
        ws.send(JSON.stringify({ type: "ready", did: this.key.did, pending: backlog.length }));
        if (backlog.length > 0) ws.send(JSON.stringify({ type: "jobs", jobs: backlog }));
        return;
      }
      if (this.batches && msg.type === "sign" && Array.isArray(msg.signatures)) {
        const results = [];
        for (const s of msg.signatures) results.push(await this.applySignature(s.id, s.signature));
        ws.send(JSON.stringify({ type: "results", results }));
        this.resultSentAt = Date.now();
        return;
      }
      let result;
      if (msg.type === "sign" && msg.id && msg.signature) result = await this.applySignature(msg.id, msg.signature);
      else if (msg.type === "reject" && msg.id) result = this.reject(msg.id, msg.reason ?? "");
      else return ws.send(JSON.stringify({ type: "error", code: "validation_failed", detail: "bad message" }));
      if (this.resultDelayMs) await new Promise((r) => setTimeout(r, this.resultDelayMs));
      ws.send(JSON.stringify({ type: "result", ...result }));
      this.resultSentAt = Date.now();
    });
  }

  private async http(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    };
    const auth = req.headers.authorization ?? "";
    const err = auth.startsWith("DID ") ? await this.checkDidJwt(auth.slice(4)) : "no auth";
    if (err) return send(401, { code: "unauthorized", detail: err });
    this.httpAuthOk++;
    const u = new URL(req.url ?? "/", this.url);
    let body = "";
    for await (const chunk of req) body += chunk;
    const json = body ? JSON.parse(body) : undefined;
    if (req.method === "GET" && u.pathname === "/v1/signjobs") {
      if (u.searchParams.get("did") !== this.key.did || u.searchParams.get("status") !== "pending") {
        return send(400, { code: "validation_failed" });
      }
      return send(200, {
        signJobs: this.pending().slice(0, Number(u.searchParams.get("pageSize") ?? 100)),
      });
    }
    if (req.method === "PUT" && u.pathname === "/v1/signjobs") {
      this.received.push({ type: "http-batch", ...json });
      const results = [];
      for (const s of json.signatures) results.push(await this.applySignature(s.id, s.signature));
      return send(200, { results });
    }
    const m = /^\/v1\/signjobs\/([^/]+)\/reject$/.exec(u.pathname);
    if (req.method === "PUT" && m) {
      this.received.push({ type: "http-reject", id: m[1]!, reason: json.reason });
      const r = this.reject(decodeURIComponent(m[1]!), json.reason);
      return r.code ? send(409, r) : send(200, this.jobs.get(r.id));
    }
    send(404, { code: "not_found" });
  }
}

/** Polls `cond` until it holds or `ms` passes. */
export async function until(cond: () => boolean, ms = 10_000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
