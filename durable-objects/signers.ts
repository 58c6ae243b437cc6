import { ADMISSION_HEADER, fingerprint, isLiveOperatorToken, operatorTokenId, type Principal } from "../src/core/principal";
import { problemBody, problemResponse, type ProblemCode } from "../src/http/errors";
import type { IssuerKey } from "../src/keys/model";
import type { SignJob, Submission } from "../src/signjobs/model";
import { fail, type Result } from "./engine";
import type { JobRow, JobStore } from "./jobs";
import {
  ADMISSION_TTL_MS,
  AUTH_TIMEOUT_MS,
  AttachmentSchema,
  CANCELLED_PAGE,
  CLOSE_FORBIDDEN,
  CLOSE_UNAUTHORIZED,
  LEASE_MS,
  MAX_UNAUTHENTICATED,
  PAGE_SIZE,
  closeReason,
  parseMessage,
  resultFrame,
  type Attachment,
  type ServerFrame,
  type SocketPrincipal,
} from "./signer-protocol";

/** What the hub needs from the issuer object. */
export interface SignerHubHost {
  submit(id: string, submission: Submission, origin: string): Promise<Result<SignJob>>;
  reject(id: string, reason: string): Promise<Result<SignJob>>;
  jobs(): JobStore;
  authenticate(jwt: string, audience: string): Promise<Result<{ verificationMethodId: string }>>;
  key(verificationMethodId: string): Promise<IssuerKey | null>;
  /** Moves whenever a key is revoked or the DID deleted, so sockets know to check their principal again. */
  authEpoch(): number;
  deactivated(): boolean;
  afterChange(): Promise<void>;
}

/** Who an admitted upgrade is, until its fetch arrives with the ticket. */
type Admission = { principal: SocketPrincipal | null; origin: string; until: number };

type Socket = { ws: WebSocket; a: Attachment };

/**
 * Jobs one signer holds at most. A signer reconnecting to a large backlog gets this many, and more
 * as it answers, instead of the whole backlog at once, whose leases would run out before it could
 * sign them all and be offered again and again.
 */
export const MAX_IN_FLIGHT = 1000;
type Lease = { job_id: string; signer: string };

const problem = (status: number, code: ProblemCode, detail: string) => problemResponse(problemBody(status, code, detail));

/**
 * Connected signers of one issuer: hibernatable WebSockets, the backlog on connect, pushes of new
 * jobs, and leases so each pending job is with one signer at a time.
 *
 * Nothing lives in memory that matters: sockets and who they are come back from
 * `ctx.getWebSockets()` and their attachments, leases are rows of `leases`, and both the auth
 * deadline of a fresh socket and lease expiry are driven by the object's one alarm (`nextDue`).
 */
export class SignerHub {
  /** Where the round robin among equally loaded signers starts next; losing it on eviction is harmless. */
  private turn = 0;
  /** Tickets of admitted upgrades, used within moments; losing them to an eviction only refuses that upgrade. */
  private readonly admissions = new Map<string, Admission>();

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: Env,
    private readonly did: () => string,
    private readonly host: SignerHubHost,
  ) {
    // Keep-alives are answered by the runtime, so a quiet signer does not wake the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  private get sql(): SqlStorage {
    return this.ctx.storage.sql;
  }

  // ── engine hooks ─────────────────────────────────────────────────────────

  /** New jobs of one creation batch: one `jobs` frame to the least-loaded connected signer, leased to it. */
  offer(jobs: SignJob[]): void {
    let pending = jobs.filter((j) => j.status === "pending");
    const tried = new Set<string>();
    // The least-loaded signer first; what it has no room for goes to the next, the rest wait unleased.
    for (let target = this.pick(tried); target && pending.length > 0; target = this.pick(tried)) {
      tried.add(target.a.signer);
      pending = pending.slice(this.deliver(target, pending, Date.now()));
    }
  }

  /**
   * Tops up signers that have room with pending jobs nobody holds (after answers, cancellations,
   * or REST signatures freed their leases). Cheap when no signer is connected.
   */
  topUp(): void {
    const signers = this.signers();
    if (signers.length === 0) return;
    const now = Date.now();
    // Usually every pending job is already with a signer: two counts say so without a join.
    const pending = this.host.jobs().pendingCount();
    const leased = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM leases WHERE until > ?", now).one().n;
    if (pending <= leased) return;
    for (const s of signers) {
      if (this.inFlight(s.a.signer, now) > MAX_IN_FLIGHT / 2) continue;
      this.sendUnleased(s, now);
    }
  }

  /** Jobs that ended without a signature: their leases go, and every signer is told to drop them. */
  ended(ids: string[]): void {
    for (const id of ids) this.sql.exec("DELETE FROM leases WHERE job_id = ?", id);
    const signers = this.signers();
    for (let i = 0; i < ids.length; i += CANCELLED_PAGE) {
      const frame: ServerFrame = { type: "cancelled", ids: ids.slice(i, i + CANCELLED_PAGE) };
      for (const s of signers) send(s.ws, frame);
    }
  }

  signed(id: string): void {
    this.sql.exec("DELETE FROM leases WHERE job_id = ?", id);
  }

  /** Closes sockets that did not authenticate in time and offers jobs whose lease ran out again. */
  onAlarm(now: number): void {
    for (const s of this.sockets()) {
      if (s.a.principal === null && s.a.authDeadline !== null && s.a.authDeadline <= now) {
        refuse(s.ws, "no auth message within 10 s");
      }
    }
    // Every round re-leases or drops the rows it read, so this ends.
    for (;;) {
      const expired = this.sql
        .exec<Lease>("SELECT job_id, signer FROM leases WHERE until <= ? ORDER BY until LIMIT 500", now)
        .toArray();
      if (expired.length === 0) break;
      this.reoffer(expired, new Set(), now);
    }
  }

  /** The earliest lease expiry or auth deadline, for the object's alarm. */
  nextDue(): number | null {
    let due = this.sql.exec<{ t: number | null }>("SELECT min(until) AS t FROM leases").one().t;
    for (const { a } of this.sockets()) {
      if (a.principal === null && a.authDeadline !== null && (due === null || a.authDeadline < due)) due = a.authDeadline;
    }
    return due;
  }

  // ── sockets ──────────────────────────────────────────────────────────────

  /**
   * Step one of a signer socket, over RPC: the Worker says who is connecting (it authenticated
   * the upgrade's Authorization header, or nobody yet) and gets a one-time ticket for the fetch
   * that carries the upgrade. The object never takes who is calling from a header, so a request
   * that reaches `fetch` without a ticket it issued gets nothing.
   */
  async admit(principal: Principal | null, origin: string): Promise<Result<string>> {
    let who: SocketPrincipal | null = null;
    if (principal?.kind === "operator") {
      who = { kind: "operator", tokenId: principal.tokenId };
    } else if (principal?.kind === "did") {
      if (principal.did !== this.did()) return fail("forbidden", "a signer may only connect for its own DID");
      const key = await this.host.key(principal.verificationMethodId);
      if (!key || key.revoked) return fail("unauthorized", "the key this signer authenticated with is not usable");
      who = { kind: "did", keyId: await fingerprint(key.id) };
    }
    const now = Date.now();
    for (const [t, a] of this.admissions) if (a.until <= now) this.admissions.delete(t);
    const ticket = crypto.randomUUID();
    this.admissions.set(ticket, { principal: who, origin: origin.slice(0, 512), until: now + ADMISSION_TTL_MS });
    return { ok: true, value: ticket };
  }

  /** Accepts a signer socket the Worker admitted: authenticated already, or due to send `auth` first. */
  async connect(request: Request): Promise<Response> {
    const ticket = request.headers.get(ADMISSION_HEADER);
    const admission = ticket === null ? undefined : this.admissions.get(ticket);
    if (ticket !== null) this.admissions.delete(ticket);
    if (!admission || admission.until <= Date.now()) return problem(401, "unauthorized", "connect through /v1/signjobs/connect");
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return problem(426, "validation_failed", "this endpoint needs Upgrade: websocket");
    }
    const did = this.did();
    const asked = new URL(request.url).searchParams.get("did");
    if (asked !== null && asked !== did) return problem(404, "not_found", `DID ${asked} not found`);
    const { principal, origin } = admission;
    if (principal === null && this.sockets().filter((s) => s.a.principal === null).length >= MAX_UNAUTHENTICATED) {
      const res = problem(429, "rate_limited", `too many sockets of this issuer are waiting to authenticate; retry in ${AUTH_TIMEOUT_MS / 1000} s`);
      res.headers.set("retry-after", String(AUTH_TIMEOUT_MS / 1000));
      return res;
    }

    const { 0: client, 1: server } = new WebSocketPair();
    const now = Date.now();
    const attachment: Attachment = {
      v: 2,
      signer: crypto.randomUUID(),
      principal,
      epoch: this.host.authEpoch(),
      connectedAt: now,
      authDeadline: principal ? null : now + AUTH_TIMEOUT_MS,
      origin,
    };
    this.ctx.acceptWebSocket(server, [attachment.signer]);
    server.serializeAttachment(attachment);
    if (principal) this.welcome({ ws: server, a: attachment });
    await this.host.afterChange();
    return new Response(null, { status: 101, webSocket: client });
  }

  async message(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    if (ws.readyState !== WebSocket.OPEN) return;
    const a = attachmentOf(ws);
    if (!a) return void closeQuietly(ws, 1011, "socket state lost");
    const parsed = parseMessage(raw);
    if (!parsed.ok) return void send(ws, parsed.frame);
    const msg = parsed.message;
    if (msg.type === "auth") return this.authenticate(ws, a, msg.token);
    if (a.principal === null) return refuse(ws, "send {type:'auth', token} before anything else");
    // Every frame that changes state runs as a principal that is still valid now, not at connect.
    if (!(await this.stillAllowed(ws, a, a.principal))) return;
    let result: Result<SignJob>;
    if (msg.type === "sign") {
      const submission: Submission = msg.jws !== undefined ? { jws: msg.jws } : { signature: msg.signature! };
      if (msg.signatureFormat !== undefined) submission.signatureFormat = msg.signatureFormat;
      result = await this.host.submit(msg.id, submission, a.origin);
    } else {
      result = await this.host.reject(msg.id, msg.reason);
    }
    // Delivered and re-armed before the answer, so a signer that reads `result` finds the operation done.
    await this.host.afterChange();
    send(ws, resultFrame(msg.id, result));
  }

  /** The signer went away: reciprocate, and its leased jobs go to another signer now rather than at lease expiry. */
  async close(ws: WebSocket, code: number, reason: string): Promise<void> {
    closeQuietly(ws, code, reason);
    const a = attachmentOf(ws);
    if (!a) return;
    const held = this.sql.exec<Lease>("SELECT job_id, signer FROM leases WHERE signer = ?", a.signer).toArray();
    if (held.length === 0) return;
    this.reoffer(held, new Set([a.signer]), Date.now());
    await this.host.afterChange();
  }

  // ── internals ────────────────────────────────────────────────────────────

  private async authenticate(ws: WebSocket, a: Attachment, token: string): Promise<void> {
    if (a.principal !== null) return void send(ws, { type: "error", code: "already_authenticated", detail: "this socket is already authenticated" });
    if (a.authDeadline !== null && a.authDeadline <= Date.now()) return refuse(ws, "no auth message within 10 s");
    const m = /^(bearer|did)\s+(\S+)$/i.exec(token.trim());
    if (!m) return refuse(ws, "token must be 'Bearer <token>' or 'DID <jwt>'");
    const epoch = this.host.authEpoch();
    let principal: SocketPrincipal;
    if (m[1]!.toLowerCase() === "bearer") {
      const tokenId = await operatorTokenId(this.env, m[2]!);
      if (tokenId === null) return refuse(ws, "unknown bearer token");
      principal = { kind: "operator", tokenId };
    } else {
      // The object verifies the JWT itself (iss must be this DID); going through a stub would call ourselves.
      const verified = await this.host.authenticate(m[2]!, a.origin);
      if (!verified.ok) {
        // The same words for every refusal, as on the REST path; the reason is for the log only.
        console.warn(JSON.stringify({ level: "warn", event: "auth.did_refused", iss: this.did(), via: "socket", reason: verified.detail }));
        return refuse(ws, "DID-auth token refused");
      }
      principal = { kind: "did", keyId: await fingerprint(verified.value.verificationMethodId) };
    }
    // Other frames (a second auth, the close) may have run during the await.
    const current = attachmentOf(ws);
    if (ws.readyState !== WebSocket.OPEN || !current || current.principal !== null) return;
    const authed: Attachment = { ...current, principal, epoch, authDeadline: null };
    ws.serializeAttachment(authed);
    this.welcome({ ws, a: authed });
    await this.host.afterChange();
  }

  /**
   * Whether a socket's principal may still act: an operator's token is still in `API_TOKENS` (a
   * set lookup), and, only when the object's auth epoch moved since the socket last checked, the
   * DID is not deleted and a signer's key not revoked. Closes the socket (4401/4403) when not.
   */
  private async stillAllowed(ws: WebSocket, a: Attachment, p: SocketPrincipal): Promise<boolean> {
    if (p.kind === "operator" && !(await isLiveOperatorToken(this.env, p.tokenId))) {
      closeQuietly(ws, CLOSE_UNAUTHORIZED, "credentials no longer valid: the operator token was removed");
      return false;
    }
    const epoch = this.host.authEpoch();
    if (a.epoch === epoch) return true;
    if (this.host.deactivated()) {
      closeQuietly(ws, CLOSE_FORBIDDEN, "no longer allowed: the issuer DID was deleted");
      return false;
    }
    if (p.kind === "did" && (await this.revokedKeyIds()).has(p.keyId)) {
      closeQuietly(ws, CLOSE_UNAUTHORIZED, "credentials no longer valid: the signer's key was revoked");
      return false;
    }
    const current = attachmentOf(ws);
    if (current) ws.serializeAttachment({ ...current, epoch });
    return true;
  }

  /**
   * After a key revocation or the DID's deletion: closes every socket that may no longer act at
   * once (and, on deletion, those still waiting to authenticate), rather than at its next frame.
   */
  async recheck(): Promise<void> {
    const deleted = this.host.deactivated();
    for (const s of this.sockets()) {
      if (s.a.principal !== null) await this.stillAllowed(s.ws, s.a, s.a.principal);
      else if (deleted) closeQuietly(s.ws, CLOSE_FORBIDDEN, "no longer allowed: the issuer DID was deleted");
    }
  }

  private async revokedKeyIds(): Promise<Set<string>> {
    const rows = this.sql.exec<{ id: string }>("SELECT id FROM keys WHERE revoked = 1").toArray();
    return new Set(await Promise.all(rows.map((r) => fingerprint(r.id))));
  }

  /** `ready`, then the backlog: pending jobs nobody holds a live lease on, oldest first, leased to this signer. */
  private welcome(s: Socket): void {
    this.dropOrphanLeases(s.a.signer);
    const jobs = this.host.jobs();
    if (!send(s.ws, { type: "ready", did: this.did(), pending: jobs.pendingCount() })) return;
    this.sendUnleased(s, Date.now());
  }

  /** Pending jobs nobody holds a live lease on, oldest first, in pages, until the signer is full. */
  private sendUnleased(s: Socket, now: number): void {
    const jobs = this.host.jobs();
    for (let after = 0; ; ) {
      const room = MAX_IN_FLIGHT - this.inFlight(s.a.signer, now);
      if (room <= 0) return;
      const page = this.sql
        .exec<JobRow>(
          `SELECT j.* FROM jobs j LEFT JOIN leases l ON l.job_id = j.id
           WHERE j.status = 'pending' AND j.seq > ? AND j.expires_at > ? AND (l.job_id IS NULL OR l.until <= ?)
           ORDER BY j.seq LIMIT ?`,
          after,
          now,
          now,
          Math.min(PAGE_SIZE, room),
        )
        .toArray();
      if (page.length === 0) return;
      if (this.deliver(s, page.map((r) => jobs.toSignJob(r)), now) === 0) return;
      after = page[page.length - 1]!.seq;
    }
  }

  private inFlight(signer: string, now: number): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM leases WHERE signer = ? AND until > ?", signer, now).one().n;
  }

  /**
   * Leases held by signers that are gone without a close event (the object was restarted, not
   * hibernated) would otherwise wait out their 60 s; a connecting signer takes them at once.
   */
  private dropOrphanLeases(connecting: string): void {
    const live = new Set(this.signers().map((s) => s.a.signer));
    live.add(connecting);
    const holders = this.sql.exec<{ signer: string }>("SELECT DISTINCT signer FROM leases").toArray();
    for (const { signer } of holders) {
      if (!live.has(signer)) this.sql.exec("DELETE FROM leases WHERE signer = ?", signer);
    }
  }

  /**
   * Sends as many of `jobs` as the signer has room for in one `jobs` frame and leases them to it.
   * Returns how many it took (0 when full or when the socket is gone).
   */
  private deliver(to: Socket, jobs: SignJob[], now: number): number {
    const room = MAX_IN_FLIGHT - this.inFlight(to.a.signer, now);
    const taken = room >= jobs.length ? jobs : jobs.slice(0, Math.max(0, room));
    if (taken.length === 0 || !send(to.ws, { type: "jobs", jobs: taken })) return 0;
    const until = now + LEASE_MS;
    this.ctx.storage.transactionSync(() => {
      for (const job of taken) {
        this.sql.exec(
          "INSERT INTO leases (job_id, signer, until) VALUES (?, ?, ?) ON CONFLICT(job_id) DO UPDATE SET signer = excluded.signer, until = excluded.until",
          job.id,
          to.a.signer,
          until,
        );
      }
    });
    return taken.length;
  }

  /**
   * Offers leased jobs again: to another connected signer if there is one, else back to the same
   * one if it is still here, else to nobody (the lease goes; the job waits for the next backlog).
   */
  private reoffer(leases: Lease[], gone: Set<string>, now: number): void {
    const byHolder = new Map<string, string[]>();
    for (const l of leases) byHolder.set(l.signer, [...(byHolder.get(l.signer) ?? []), l.job_id]);
    const store = this.host.jobs();
    const drop = (id: string) => this.sql.exec("DELETE FROM leases WHERE job_id = ?", id);
    for (const [holder, ids] of byHolder) {
      const target =
        this.pick(new Set([...gone, holder])) ?? (gone.has(holder) ? null : (this.signers().find((s) => s.a.signer === holder) ?? null));
      if (!target) {
        ids.forEach(drop);
        continue;
      }
      const jobs: SignJob[] = [];
      for (const id of ids) {
        const row = store.get(id);
        if (row?.status === "pending") jobs.push(store.toSignJob(row));
        else drop(id);
      }
      for (let i = 0; i < jobs.length; i += PAGE_SIZE) {
        const page = jobs.slice(i, i + PAGE_SIZE);
        // What the target has no room for loses its lease and waits for the next top-up.
        page.slice(this.deliver(target, page, now)).forEach((j) => drop(j.id));
      }
    }
  }

  /** The authenticated signer with the fewest live leases, round robin among equals. */
  private pick(exclude: Set<string>): Socket | null {
    const candidates = this.signers().filter((s) => !exclude.has(s.a.signer));
    if (candidates.length === 0) return null;
    const load = new Map(
      this.sql
        .exec<{ signer: string; n: number }>("SELECT signer, count(*) AS n FROM leases WHERE until > ? GROUP BY signer", Date.now())
        .toArray()
        .map((r) => [r.signer, r.n]),
    );
    const start = this.turn++ % candidates.length;
    let best: Socket | null = null;
    let bestLoad = Infinity;
    for (let i = 0; i < candidates.length; i++) {
      const s = candidates[(start + i) % candidates.length]!;
      const n = load.get(s.a.signer) ?? 0;
      if (n < bestLoad) [best, bestLoad] = [s, n];
    }
    return best;
  }

  /** Open sockets with a readable attachment. */
  private sockets(): Socket[] {
    const out: Socket[] = [];
    for (const ws of this.ctx.getWebSockets()) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      const a = attachmentOf(ws);
      if (a) out.push({ ws, a });
      else closeQuietly(ws, 1011, "socket state lost");
    }
    return out;
  }

  private signers(): Socket[] {
    return this.sockets().filter((s) => s.a.principal !== null);
  }
}

function attachmentOf(ws: WebSocket): Attachment | null {
  const parsed = AttachmentSchema.safeParse(ws.deserializeAttachment());
  return parsed.success ? parsed.data : null;
}

function send(ws: WebSocket, frame: ServerFrame): boolean {
  try {
    ws.send(JSON.stringify(frame));
    return true;
  } catch {
    return false;
  }
}

function refuse(ws: WebSocket, reason: string): void {
  closeQuietly(ws, CLOSE_UNAUTHORIZED, reason);
}

/** Close may race the peer's own close; codes 1005/1006/1015 cannot be sent, so they become 1000. */
function closeQuietly(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code === 1005 || code === 1006 || code === 1015 ? 1000 : code, closeReason(reason));
  } catch {
    // already closed
  }
}
