/**
 * Driving an issuer object's archive from tests (durable-objects/archive.ts): its settings as meta
 * rows, its alarm run now, and a crash right after R2 accepted a put.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import type { IssuerObject } from "../../durable-objects/issuer";
import { objectQuery, stubOf } from "./keys";

/** Sets one of the object's meta rows (`signjob_retention_ms`, `signjob_hot_limit`, …). */
export async function setMeta(did: string, k: string, v: string): Promise<void> {
  await objectQuery(did, "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", k, v);
}

/** Runs the object's alarm now (arming it first, as a due retention would have). */
export async function alarmNow(did: string): Promise<boolean> {
  await runInDurableObject(stubOf(did), (_i, state) => state.storage.setAlarm(Date.now() + 60_000));
  return runDurableObjectAlarm(stubOf(did));
}

/**
 * Makes the object die right after R2 accepted its next put, before anything it meant to commit
 * afterwards, and arms its alarm; the caller runs the alarm (which then throws) and looks at what
 * is left.
 */
export async function crashAfterNextR2Put(did: string): Promise<void> {
  await runInDurableObject(stubOf(did), (instance: IssuerObject, state) => {
    const archive = instance["archive"] as unknown as { bucket: R2Bucket };
    archive.bucket = new Proxy(archive.bucket, {
      get(target, prop) {
        if (prop === "put") {
          return async (key: string, value: string) => {
            await target.put(key, value);
            state.abort("crash after the R2 put");
            throw new Error("unreachable: the object was aborted");
          };
        }
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    return state.storage.setAlarm(Date.now() + 60_000);
  });
}
