/**
 * Faults in the issuer object's D1 deliveries, for tests only. The object's outbox is handed a
 * wrapped D1 binding inside the running instance (through `runInDurableObject`); no production
 * code knows about it, and an evicted or aborted instance comes back with the real binding until
 * a test installs the wrapper again.
 */
import { runInDurableObject } from "cloudflare:test";

type Outboxed = { outbox: { db: D1Database; drain(): Promise<unknown> } };

/**
 * A one-shot event that one context fires and another awaits (the test and the object run in one
 * isolate, but each in its own I/O context). A plain promise resolved across them is not enough:
 * while a context awaits nothing but such a promise, the runtime delivers none of the object's
 * pending I/O, so a delivery started before the answer (a D1 read of the index layout, say) stalls
 * and the promise never resolves. The waiter therefore checks on a timer, which is I/O of its own.
 */
function signal(): { fire: () => void; fired: () => Promise<void> } {
  let done = false;
  return {
    fire: () => {
      done = true;
    },
    fired: async () => {
      while (!done) await new Promise((resolve) => setTimeout(resolve, 2));
    },
  };
}

/**
 * Wraps the running instance's own D1 binding for its outbox (until the instance goes). The
 * instance's binding, not the test's: I/O objects belong to the context that made them.
 *
 * What earlier calls committed is delivered first, through the real binding: a create answers
 * before its delivery runs, so without this the fault could hit that earlier delivery instead of
 * the one the test means (a crash meant for a sign request once killed a create's late delivery).
 */
export async function installOutboxD1(
  stub: DurableObjectStub,
  wrap: (real: D1Database, state: DurableObjectState) => D1Database,
): Promise<void> {
  await runInDurableObject(stub, async (instance, state) => {
    const outbox = (instance as unknown as Outboxed).outbox;
    await outbox.drain();
    outbox.db = wrap(outbox.db, state);
  });
}

/**
 * Makes the running instance load its keys from D1 again, through a wrapped binding: the object's
 * copies of its keys are dropped, so the next create awaits D1 (`wrap`) for its key. A create held
 * there has been admitted (load, idempotency) and not yet created anything.
 */
export async function installKeyD1(stub: DurableObjectStub, wrap: (real: D1Database) => D1Database): Promise<void> {
  await runInDurableObject(stub, (instance, state) => {
    const keys = (instance as unknown as { keys: { env: Env } }).keys;
    keys.env = { ...keys.env, DB: wrap(keys.env.DB) };
    state.storage.sql.exec("DELETE FROM keys");
  });
}

/**
 * A D1 that kills the object (`ctx.abort()`) when it is first asked to deliver: the object has
 * committed a change and not yet answered, the moment a runtime crash loses a response.
 * `crashed` resolves when it has happened.
 */
export function crashOnDelivery() {
  const crash = signal();
  let done = false;
  const wrap = (real: D1Database, state: DurableObjectState): D1Database =>
    new Proxy(real, {
      get(target, prop) {
        if (prop === "batch" && !done) {
          return async () => {
            done = true;
            crash.fire();
            state.abort("crash after commit, before the answer");
            throw new Error("unreachable: the object was aborted");
          };
        }
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  return { wrap, crashed: crash.fired() };
}

/**
 * A D1 whose writes wait until `release()`: the object has committed its change and is delivering
 * it, so whatever the request does next (answer, shed, crash) happens at a known point.
 * `reached` resolves when the first delivery is waiting.
 */
export function gatedD1() {
  const gate = signal();
  const reached = signal();
  const wait = async () => {
    reached.fire();
    await gate.fired();
  };
  const wrap = (real: D1Database): D1Database =>
    new Proxy(real, {
      get(target, prop) {
        if (prop === "batch") {
          return async (statements: D1PreparedStatement[]) => {
            await wait();
            return target.batch(statements);
          };
        }
        if (prop === "prepare") {
          return (sql: string) => {
            const stmt = target.prepare(sql);
            const gated = (s: D1PreparedStatement): D1PreparedStatement =>
              new Proxy(s, {
                get(t, p) {
                  if (p === "bind") return (...args: unknown[]) => gated(t.bind(...args));
                  if (p === "run") return async () => (await wait(), t.run());
                  if (p === "first") return async (col?: string) => (await wait(), col === undefined ? t.first() : t.first(col));
                  if (p === "all") return async () => (await wait(), t.all());
                  const v = Reflect.get(t, p) as unknown;
                  return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(t) : v;
                },
              });
            return gated(stmt);
          };
        }
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  return { wrap, reached: reached.fired(), release: gate.fire };
}

/** A small seeded PRNG (mulberry32): the same seed, the same faults. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FaultCounts {
  /** Deliveries refused before D1 ran them (nothing written). */
  refused: number;
  /** Deliveries D1 ran, whose answer was then lost (written, but the object was told it failed). */
  lost: number;
  deliveries: number;
}

/**
 * A D1 whose batches fail at `rate`: half refused before running, half run and then reported
 * failed (the outbox must survive both, landing every row as one run would). The outbox then
 * sends the rows one by one, or leaves a lone row to the alarm's backoff; those pass.
 */
export function faultyD1(rate: number, random: () => number, counts: FaultCounts): (real: D1Database) => D1Database {
  return (real) =>
    new Proxy(real, {
      get(target, prop) {
        if (prop === "batch") {
          return async (statements: D1PreparedStatement[]) => {
            counts.deliveries++;
            if (random() >= rate) return target.batch(statements);
            if (random() < 0.5) {
              counts.refused++;
              throw new Error("D1_ERROR: injected fault before the write");
            }
            await target.batch(statements);
            counts.lost++;
            throw new Error("D1_ERROR: injected fault after the write");
          };
        }
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
}
