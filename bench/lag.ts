/**
 * Projection lag under load: how long after a create's response a cross-issuer query (which reads
 * D1, the projection) first sees the credential, while c=16 creates keep the service busy. Reads of
 * one id and issuer-scoped lists are answered by the issuer's object and must see it at once.
 */
import { percentile, pool, type client } from "./lib.ts";

type Call = ReturnType<typeof client>;

export async function projectionLag(
  call: Call,
  issuer: { id: string; vm: string },
  load: { count: number; concurrency: number; request: (i: number) => unknown },
  probes = 50,
): Promise<{ p50: number; p99: number; max: number; n: number; loadDone: boolean }> {
  let loadDone = false;
  const background = pool(
    load.count,
    load.concurrency,
    async (i) => void (await call("PUT", "/v1/credentials", load.request(i), [201, 202])),
  ).then(() => (loadDone = true));
  const lags: number[] = [];
  for (let i = 0; i < probes && !loadDone; i++) {
    const subject = `did:example:lag-${Date.now()}-${i}`;
    await call("PUT", "/v1/credentials", { issuer: issuer.id, verificationMethodId: issuer.vm, subject, data: { probe: i } }, [201, 202]);
    const answered = performance.now();
    // The lag is when the first query that saw it was sent (0: the first one did), so the
    // query's own time under load is not counted as lag.
    for (;;) {
      const sent = performance.now();
      const page = await call<{ credentials: unknown[] }>(
        "GET",
        `/v1/credentials?subject=${encodeURIComponent(subject)}`,
        undefined,
        [200],
      );
      if (page.credentials.length > 0) {
        lags.push(sent - answered);
        break;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  }
  await background;
  const sorted = lags.map((l) => Math.round(l)).sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN, n: sorted.length, loadDone };
}
