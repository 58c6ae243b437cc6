import { base64url } from "jose";
import { fail, ok, type Result } from "../src/core/errors";
import type { IssuerKey } from "../src/core/models";
import type { Engine } from "./engine";
import type { JobRow } from "./jobs";
import type { KeyStore } from "./keys";

const enc = new TextEncoder();

/**
 * The signer of custodial keys, in-process: the same path as a remote signer (a job is created
 * pending, then completed with a signature), minus the network. Custodial signing is not a
 * second flow.
 */
export class CustodialSigner {
  constructor(
    private readonly keys: KeyStore,
    private readonly engine: Engine,
  ) {}

  /**
   * Whether the key can sign now. A custodial key is unlocked before anything is created for it,
   * so a missing or wrong KEK refuses the request instead of leaving jobs that nothing can sign.
   */
  async ready(key: IssuerKey): Promise<Result<IssuerKey>> {
    if (key.custody !== "custodial") return ok(key);
    try {
      await this.keys.unlock(key);
      return ok(key);
    } catch {
      return fail("custody_unavailable", `custodial key ${key.id} cannot be unlocked: check KEY_ENCRYPTION_KEY`);
    }
  }

  /** `pendingAt`: the JobStore version at which all of `jobs` were known pending (Engine.completeInProcess). */
  async sign(key: IssuerKey, jobs: JobRow[], origin: string, pendingAt?: number): Promise<void> {
    if (jobs.length === 0) return;
    const sign = await this.keys.unlock(key);
    const signatures = await Promise.all(jobs.map((j) => sign(enc.encode(j.signing_input))));
    this.engine.completeInProcess(
      key,
      jobs,
      signatures.map((s) => base64url.encode(s)),
      origin,
      pendingAt,
    );
  }

  /**
   * The backlog: custodial jobs left pending because the object stopped between creating and
   * signing them. Like any signer reconnecting, it signs what is waiting.
   */
  async backlog(): Promise<void> {
    const byKey = new Map<string, JobRow[]>();
    for (const row of this.engine.jobs.pendingCustodial()) byKey.set(row.vm_id, [...(byKey.get(row.vm_id) ?? []), row]);
    for (const [vm, jobs] of byKey) {
      const key = this.keys.local(vm);
      if (!key) continue;
      try {
        await this.sign(key, jobs, "");
      } catch (err) {
        console.error(JSON.stringify({ level: "error", event: "custodial.backlog_failed", key: vm, error: String(err) }));
      }
    }
  }
}
