import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { expect, vi } from "vitest";
import { ORIGIN, api, enc } from "../support/api";
import { didAuthJwt, externalDid, externalKey } from "../support/keys";

/** An external Ed25519 issuer DID whose private key the test holds, as a signer daemon would. */
export async function externalIssuer() {
  const key = await externalKey("Ed25519");
  const { did, vmId: vm } = await externalDid(key);
  return {
    did,
    vm,
    stub: env.ISSUER.getByName(did),
    sign: key.sign,
    /** A DID-auth JWT (api.md "Authentication"), fresh jti each time. */
    didJwt: (claims: { iss?: string; aud?: string } = {}) =>
      didAuthJwt(key, { iss: claims.iss ?? did, kid: vm, ...(claims.aud ? { aud: claims.aud } : {}) }),
    /** Issues one credential; the operation (202, pending) comes back. */
    issue: async (name = "Alice") => {
      const r = await api("PUT", "/v1/credentials", { issuer: did, verificationMethodId: vm, subject: "did:example:s", data: { name } });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      return r.body as { id: string; signJobs: string[] };
    },
    issueBatch: async (n: number) => {
      const requests = Array.from({ length: n }, (_, i) => ({
        issuer: did,
        verificationMethodId: vm,
        subject: "did:example:s",
        data: { i },
      }));
      const r = await api("PUT", "/v1/credentials/batch", { requests });
      expect(r.status, JSON.stringify(r.body).slice(0, 500)).toBeLessThan(300);
      return r.body.operations as { id: string; signJobs: string[] }[];
    },
  };
}
export type Issuer = Awaited<ReturnType<typeof externalIssuer>>;

type Frame = any;

/**
 * Runs the object's alarm as the runtime does when it fires for the time it was armed for, with
 * the handler's clock reading a hair (`earlyMs`) before that time, as workerd's can. Time cannot
 * be moved in workerd, so the handler's clock is what is set, for that one run. Returns the time
 * the alarm was armed for.
 */
export async function fireAlarm(issuer: Issuer, earlyMs = 3): Promise<number> {
  return runInDurableObject(issuer.stub, async (instance, state) => {
    const at = await state.storage.getAlarm();
    if (at === null) throw new Error("no alarm is armed");
    const clock = vi.spyOn(Date, "now").mockReturnValue(at - earlyMs);
    try {
      await instance.alarm();
    } finally {
      clock.mockRestore();
    }
    return at;
  });
}

/** A signer's end of the socket: frames queue up and are taken in order, by type. */
export class SignerClient {
  private readonly frames: Frame[] = [];
  private readonly waiters = new Set<() => void>();
  closed: { code: number; reason: string } | null = null;
  /** When the close event arrived (the runtime's clock moves at I/O, so this is the event's time). */
  closedAt: number | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (ev) => {
      const data = typeof ev.data === "string" ? ev.data : "<binary>";
      let frame: Frame = data;
      try {
        frame = JSON.parse(data);
      } catch {
        // "pong" stays a string
      }
      this.frames.push(frame);
      this.wake();
    });
    ws.addEventListener("close", (ev) => {
      this.closed = { code: ev.code, reason: ev.reason };
      this.closedAt = Date.now();
      this.wake();
    });
  }

  /** Opens `/v1/signjobs/connect`; `auth` is the Authorization header, or null for first-message auth. */
  static async open(did: string, auth: string | null): Promise<SignerClient> {
    const headers: Record<string, string> = { Upgrade: "websocket" };
    if (auth) headers.authorization = auth;
    const res = await exports.default.fetch(new Request(`${ORIGIN}/v1/signjobs/connect?did=${enc(did)}`, { headers }));
    expect(res.status, res.status === 101 ? "" : await res.text()).toBe(101);
    const ws = res.webSocket!;
    ws.accept();
    return new SignerClient(ws);
  }

  private wake() {
    for (const w of this.waiters) w();
  }

  send(frame: unknown) {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** The first queued frame that matches (removed from the queue), waiting for it if needed. */
  async next(match: string | ((f: Frame) => boolean), timeoutMs = 5000): Promise<Frame> {
    const test = typeof match === "string" ? (f: Frame) => f === match || f?.type === match : match;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(test);
      if (i >= 0) return this.frames.splice(i, 1)[0];
      if (this.closed)
        throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting; queued: ${JSON.stringify(this.frames)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms; queued: ${JSON.stringify(this.frames).slice(0, 1000)}`);
      await this.woken(left);
    }
  }

  /** Resolves at the next frame or close, or after `ms` at the latest. */
  private woken(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.waiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  /**
   * Every frame the server has sent so far, in order, taken off the queue. Rather than waiting
   * for a silence, it sends a request whose answer is known (rejecting a job id that cannot
   * exist) and takes what came before that answer: frames on one socket arrive in order, so
   * whatever the server sent before it read the request is in the list. For asserting that
   * nothing came, `expect(await client.drain()).toEqual([])`. Authenticated sockets only.
   */
  async drain(): Promise<Frame[]> {
    const id = `probe-${crypto.randomUUID()}`;
    this.send({ type: "reject", id, reason: "probe" });
    const isAnswer = (f: Frame) => f?.type === "result" && f.id === id;
    const deadline = Date.now() + 5000;
    // Until the answer is queued; what came after it stays queued for later.
    while (!this.frames.some(isAnswer)) {
      if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) before the probe was answered`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("the probe was not answered within 5000 ms");
      await this.woken(left);
    }
    const before = this.frames.splice(0, this.frames.findIndex(isAnswer));
    const [answer] = this.frames.splice(0, 1);
    expect(answer).toMatchObject({ code: "not_found" });
    return before;
  }

  /** Waits for the close event (no polling: woken by it), failing after `timeoutMs`. */
  async waitClosed(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`socket did not close within ${timeoutMs} ms`);
      await this.woken(left);
    }
    return this.closed;
  }

  /** Sends a request frame and waits for the `result` of that job. */
  async call(frame: { type: "sign" | "reject"; id: string; [k: string]: unknown }): Promise<Frame> {
    this.send(frame);
    return this.next((f) => f?.type === "result" && f.id === frame.id);
  }

  close(code = 1000, reason = "bye") {
    this.ws.close(code, reason);
  }
}

/** A connected, authenticated signer that has read `ready` (and returns it). */
export async function connected(issuer: Issuer, auth: string | null = null) {
  const client = await SignerClient.open(issuer.did, auth);
  if (!auth) client.send({ type: "auth", token: `DID ${await issuer.didJwt()}` });
  const ready = await client.next("ready");
  return { client, ready };
}
