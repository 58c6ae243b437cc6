import { fail, ok, problemBody, problemResponse, type ProblemCode, type Result } from "../src/core/errors";
import { fingerprint, isLiveOperatorToken, operatorTokenId, parseAuthorization, type Principal } from "../src/core/principal";
import { ADMISSION_HEADER } from "../src/core/protocol";
import type { DidAuth } from "./auth";
import type { KeyStore } from "./keys";
import type { IssuerMeta } from "./meta";
import {
  ADMISSION_TTL_MS,
  AUTH_TIMEOUT_MS,
  AttachmentSchema,
  CLOSE_FORBIDDEN,
  CLOSE_UNAUTHORIZED,
  MAX_UNAUTHENTICATED,
  closeReason,
  parseMessage,
  type Attachment,
  type ServerFrame,
  type SignerMessage,
  type SocketPrincipal,
} from "./signer-protocol";

/** An open socket and what it remembers about itself. */
export type Socket = { ws: WebSocket; a: Attachment };

/** What a frame asks of the object: a signer just authenticated, or it sent a sign or reject. */
export type SocketEvent =
  | { type: "ready"; socket: Socket }
  | { type: "frame"; socket: Socket; message: Exclude<SignerMessage, { type: "auth" }> };

/** Who an admitted upgrade is, until its fetch arrives with the ticket. */
type Admission = { principal: SocketPrincipal | null; origin: string; until: number };

const problem = (status: number, code: ProblemCode, detail: string) => problemResponse(problemBody(status, code, detail));

/**
 * The signer sockets of one issuer and who they are: admission, the upgrade, first-message auth,
 * re-checks when keys are revoked, and frames in and out. What the sockets are for (jobs and their
 * leases) is the Leases' business; this class only keeps the connections.
 *
 * Nothing lives in memory that matters: sockets come back from `ctx.getWebSockets()` and their
 * attachments, and the auth deadline of a fresh socket is driven by the object's one alarm.
 */
export class SignerSockets {
  /** Tickets of admitted upgrades, used within moments; losing them to an eviction only refuses that upgrade. */
  private readonly admissions = new Map<string, Admission>();

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: Env,
    private readonly meta: IssuerMeta,
    private readonly keys: KeyStore,
    private readonly didAuth: DidAuth,
  ) {
    // Keep-alives are answered by the runtime, so a quiet signer does not wake the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

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
      if (principal.did !== this.meta.did()) return fail("forbidden", "a signer may only connect for its own DID");
      const key = await this.keys.get(principal.verificationMethodId);
      if (!key || key.revoked || this.keys.retired(key.id))
        return fail("unauthorized", "the key this signer authenticated with is not usable");
      who = { kind: "did", keyId: await fingerprint(key.id) };
    }
    const now = Date.now();
    for (const [t, a] of this.admissions) if (a.until <= now) this.admissions.delete(t);
    const ticket = crypto.randomUUID();
    this.admissions.set(ticket, { principal: who, origin: origin.slice(0, 512), until: now + ADMISSION_TTL_MS });
    return ok(ticket);
  }

  /** Accepts a socket the Worker admitted: authenticated already (`ready` is due), or due to send `auth` first. */
  accept(request: Request): { response: Response; ready?: Socket } {
    const ticket = request.headers.get(ADMISSION_HEADER);
    const admission = ticket === null ? undefined : this.admissions.get(ticket);
    if (ticket !== null) this.admissions.delete(ticket);
    if (!admission || admission.until <= Date.now())
      return { response: problem(401, "unauthorized", "connect through /v1/signjobs/connect") };
    const asked = new URL(request.url).searchParams.get("did");
    if (asked !== null && asked !== this.meta.did()) return { response: problem(404, "not_found", `DID ${asked} not found`) };
    const { principal, origin } = admission;
    if (principal === null && this.all().filter((s) => s.a.principal === null).length >= MAX_UNAUTHENTICATED) {
      const wait = AUTH_TIMEOUT_MS / 1000;
      const response = problem(429, "rate_limited", `too many sockets of this issuer are waiting to authenticate; retry in ${wait} s`);
      response.headers.set("retry-after", String(wait));
      return { response };
    }
    const { 0: client, 1: server } = new WebSocketPair();
    const now = Date.now();
    const a: Attachment = {
      v: 2,
      signer: crypto.randomUUID(),
      principal,
      epoch: this.meta.authEpoch(),
      connectedAt: now,
      authDeadline: principal ? null : now + AUTH_TIMEOUT_MS,
      origin,
    };
    this.ctx.acceptWebSocket(server, [a.signer]);
    setAttachment(server, a);
    return { response: new Response(null, { status: 101, webSocket: client }), ...(principal ? { ready: { ws: server, a } } : {}) };
  }

  /** One frame from a socket: what it asks of the object, or null when this class answered it itself. */
  async receive(ws: WebSocket, raw: string | ArrayBuffer): Promise<SocketEvent | null> {
    if (ws.readyState !== WebSocket.OPEN) return null;
    const a = attachmentOf(ws);
    if (!a) return closeQuietly(ws, 1011, "socket state lost");
    const parsed = parseMessage(raw);
    if (!parsed.ok) {
      send(ws, parsed.frame);
      return null;
    }
    const message = parsed.message;
    if (message.type === "auth") return this.authenticate(ws, a, message.token);
    if (a.principal === null) return refuse(ws, "send {type:'auth', token} before anything else");
    // Every frame that changes state runs as a principal that is still valid now, not at connect.
    if (!(await this.stillAllowed(ws, a, a.principal))) return null;
    return { type: "frame", socket: { ws, a }, message };
  }

  /** The peer closed: reciprocate. Returns the signer that went away, so its jobs can go elsewhere. */
  closed(ws: WebSocket, code: number, reason: string): string | null {
    closeQuietly(ws, code, reason);
    return attachmentOf(ws)?.signer ?? null;
  }

  private async authenticate(ws: WebSocket, a: Attachment, token: string): Promise<SocketEvent | null> {
    if (a.principal !== null) {
      send(ws, { type: "error", code: "already_authenticated", detail: "this socket is already authenticated" });
      return null;
    }
    if (a.authDeadline !== null && a.authDeadline <= Date.now()) return refuse(ws, "no auth message within 10 s");
    const auth = parseAuthorization(token);
    if (!auth) return refuse(ws, "token must be 'Bearer <token>' or 'DID <jwt>'");
    const epoch = this.meta.authEpoch();
    let principal: SocketPrincipal;
    if (auth.scheme === "bearer") {
      const tokenId = await operatorTokenId(this.env, auth.credentials);
      if (tokenId === null) return refuse(ws, "unknown bearer token");
      principal = { kind: "operator", tokenId };
    } else {
      const verified = await this.didAuth.authenticate(auth.credentials, a.origin);
      if (!verified.ok) {
        // The same words for every refusal, as on the REST path; the reason is for the log only.
        console.warn(
          JSON.stringify({ level: "warn", event: "auth.did_refused", iss: this.meta.did(), via: "socket", reason: verified.detail }),
        );
        return refuse(ws, "DID-auth token refused");
      }
      principal = { kind: "did", keyId: await fingerprint(verified.value.verificationMethodId) };
    }
    // Other frames (a second auth, the close) may have run during the await.
    const current = attachmentOf(ws);
    if (ws.readyState !== WebSocket.OPEN || !current || current.principal !== null) return null;
    const authed: Attachment = { ...current, principal, epoch, authDeadline: null };
    setAttachment(ws, authed);
    return { type: "ready", socket: { ws, a: authed } };
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
    const epoch = this.meta.authEpoch();
    if (a.epoch === epoch) return true;
    if (this.meta.deactivated()) {
      closeQuietly(ws, CLOSE_FORBIDDEN, "no longer allowed: the issuer DID was deleted");
      return false;
    }
    if (p.kind === "did" && (await this.revokedKeyIds()).has(p.keyId)) {
      closeQuietly(ws, CLOSE_UNAUTHORIZED, "credentials no longer valid: the signer's key was revoked or rotated away");
      return false;
    }
    const current = attachmentOf(ws);
    if (current) setAttachment(ws, { ...current, epoch });
    return true;
  }

  /**
   * After a key revocation or the DID's deletion: closes every socket that may no longer act at
   * once (and, on deletion, those still waiting to authenticate), rather than at its next frame.
   */
  async recheck(): Promise<void> {
    const deleted = this.meta.deactivated();
    for (const s of this.all()) {
      if (s.a.principal !== null) await this.stillAllowed(s.ws, s.a, s.a.principal);
      else if (deleted) closeQuietly(s.ws, CLOSE_FORBIDDEN, "no longer allowed: the issuer DID was deleted");
    }
  }

  private async revokedKeyIds(): Promise<Set<string>> {
    return new Set(await Promise.all(this.keys.barredIds().map((id) => fingerprint(id))));
  }

  /** Closes sockets that did not authenticate in time. */
  closeOverdue(now: number): void {
    for (const s of this.all()) {
      if (s.a.principal === null && s.a.authDeadline !== null && s.a.authDeadline <= now) refuse(s.ws, "no auth message within 10 s");
    }
  }

  /** The earliest auth deadline of a socket still waiting to authenticate, for the object's alarm. */
  nextDue(): number | null {
    const due = this.all().flatMap((s) => (s.a.principal === null && s.a.authDeadline !== null ? [s.a.authDeadline] : []));
    return due.length > 0 ? Math.min(...due) : null;
  }

  /** Open sockets with a readable attachment. */
  all(): Socket[] {
    const out: Socket[] = [];
    for (const ws of this.ctx.getWebSockets()) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      const a = attachmentOf(ws);
      if (a) out.push({ ws, a });
      else closeQuietly(ws, 1011, "socket state lost");
    }
    return out;
  }

  /** The sockets of signers that authenticated: the ones jobs go to. */
  authenticated(): Socket[] {
    return this.all().filter((s) => s.a.principal !== null);
  }
}

/**
 * Attachments as last written or read, per socket: every frame, every offer of jobs and every
 * signer count reads them, and parsing the serialized copy each time (zod) was about 80 µs per
 * signed job on the socket path (bench/profile.ts daemon). After hibernation the sockets are new
 * objects, so the first read of each parses what was serialized: the stored copy stays the truth.
 */
const attachments = new WeakMap<WebSocket, Attachment>();

function setAttachment(ws: WebSocket, a: Attachment): void {
  ws.serializeAttachment(a);
  attachments.set(ws, a);
}

function attachmentOf(ws: WebSocket): Attachment | null {
  const known = attachments.get(ws);
  if (known) return known;
  const parsed = AttachmentSchema.safeParse(ws.deserializeAttachment());
  if (!parsed.success) return null;
  attachments.set(ws, parsed.data);
  return parsed.data;
}

/** Sends one frame; false when the socket is gone. */
export function send(ws: WebSocket, frame: ServerFrame): boolean {
  try {
    ws.send(JSON.stringify(frame));
    return true;
  } catch {
    return false;
  }
}

function refuse(ws: WebSocket, reason: string): null {
  return closeQuietly(ws, CLOSE_UNAUTHORIZED, reason);
}

/** Close may race the peer's own close; codes 1005/1006/1015 cannot be sent, so they become 1000. */
function closeQuietly(ws: WebSocket, code: number, reason: string): null {
  try {
    ws.close(code === 1005 || code === 1006 || code === 1015 ? 1000 : code, closeReason(reason));
  } catch {
    // already closed
  }
  return null;
}
