import type { CreatedOperations } from "../../durable-objects/issuer";
import type { ArtifactRequest } from "../../durable-objects/kinds";
import { fail, type Failure, type ProblemCode, type Result } from "../core/errors";
import type { IdempotencyClaim } from "../core/idempotency";
import type { Operation } from "../core/models";
import { issuerByName } from "../issuer-client";
import type { Context } from "hono";
import { serviceOrigin } from "./auth";
import { ProblemError } from "./errors";
import { idempotencyClaim } from "./idempotency";
import type { AppEnv } from "./router";
import { httpStatusOf, problemOf } from "./rpc";

/** One artifact a route asks for, and the issuer and key that sign it. */
export type ArtifactOrder = { issuer: string; verificationMethodId: string; artifact: ArtifactRequest };

/** An item of a batch that was not created although others were (api.md "Credentials", batch). */
export type ItemError = { index: number; status: number; code: ProblemCode; detail: string };

export interface Issued {
  /** In request order; null for an item in `errors`. */
  operations: (Operation | null)[];
  errors: ItemError[];
  /** Every created item's key signs in-process, so they were done when first answered. */
  allCustodial: boolean;
}

type Group = { issuer: string; vm: string; artifacts: ArtifactRequest[]; index: number[] };

/**
 * One object call, retried once if it fails in transit (an object reset, a lost connection).
 * The retry carries the same idempotency claim, so a first call that did commit is answered from
 * its record rather than done again; a second failure is a 503 for the client to retry.
 */
async function callObject<T>(
  claim: IdempotencyClaim & { fromClient: boolean },
  call: (firstAttempt: boolean) => Promise<Result<T>>,
): Promise<Result<T>> {
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await call(attempt === 1);
      // Our own key is busy only because our first attempt is still running somewhere: unknown outcome.
      if (!result.ok && result.code === "idempotency_key_in_progress" && !claim.fromClient) break;
      return result;
    } catch (err) {
      if ((err as { overloaded?: unknown }).overloaded === true) {
        return fail("overloaded", "this issuer is busy; retry shortly");
      }
      console.warn(JSON.stringify({ level: "warn", event: "issuer.call_failed", attempt, error: String(err) }));
      if (attempt >= 2) break;
    }
  }
  return fail(
    "issuer_unavailable",
    claim.fromClient
      ? "the issuer did not answer; retry with the same Idempotency-Key to learn what was created"
      : "the issuer did not answer, so whether these credentials were created is unknown; send an Idempotency-Key to make retries safe",
  );
}

/**
 * A refusal before anything was created: the first group's problem; when the request spans
 * issuers, `errors` names every refused item (`requests.N`) and why.
 */
function refusal(failed: { group: Group; result: Failure }[], spansIssuers: boolean): ProblemError {
  failed.sort((a, b) => a.group.index[0]! - b.group.index[0]!);
  const first = problemOf(failed[0]!.result);
  const errors = failed.flatMap(({ group, result }) =>
    group.index.map((i) => ({ path: `requests.${i}`, message: `${result.code}: ${result.detail}` })),
  );
  const err = new ProblemError(first.status, first.code, first.message, spansIssuers ? errors : undefined);
  if (first.retryAfter !== undefined) err.retryAfter = first.retryAfter;
  return err;
}

/**
 * The one create every route uses, for artifacts of any kind: through their issuers' objects, one
 * call per (issuer, key), each creating that group's jobs in one transaction with the group's
 * idempotency record. With `operationId`, all jobs join that one operation (one issuer and key).
 *
 * A request spanning several issuers is checked with every one of them first (DID live, key
 * known and not revoked, custodial key unlockable, load) and nothing is created unless all pass.
 * Past that point a group can still fail (its key revoked in between, its object overloaded or
 * unreachable): its items come back in `errors`, the others' operations stand. When an earlier
 * attempt with the same key already created some groups, this request is past that point too and
 * completes the rest.
 *
 * Throws a problem when nothing was created.
 */
export async function createArtifacts(
  env: Env,
  origin: string,
  requests: ArtifactOrder[],
  claim: IdempotencyClaim & { fromClient: boolean },
  operationId?: string,
): Promise<Issued> {
  const byKey = new Map<string, Group>();
  requests.forEach((req, i) => {
    const key = `${req.issuer}\n${req.verificationMethodId}`;
    let group = byKey.get(key);
    if (!group) byKey.set(key, (group = { issuer: req.issuer, vm: req.verificationMethodId, artifacts: [], index: [] }));
    group.artifacts.push(req.artifact);
    group.index.push(i);
  });
  const groups = [...byKey.values()];
  // One record per group, in each object under the caller's key, so each object answers for its own part.
  const objectClaim: IdempotencyClaim = { scope: claim.scope, key: claim.key, fingerprint: claim.fingerprint, ttlMs: claim.ttlMs };

  let toCreate = groups;
  const failed: { group: Group; result: Failure }[] = [];
  if (groups.length > 1) {
    const checks = await Promise.all(
      groups.map((g) =>
        callObject(claim, () =>
          issuerByName(env, g.issuer).checkIssuer({
            did: g.issuer,
            verificationMethodId: g.vm,
            items: g.artifacts.length,
            idempotency: objectClaim,
          }),
        ),
      ),
    );
    const refused = groups.flatMap((group, i) => {
      const result = checks[i]!;
      return result.ok ? [] : [{ group, result }];
    });
    const begun = checks.some((r) => r.ok && r.value.replay);
    if (refused.length > 0 && !begun) throw refusal(refused, true);
    failed.push(...refused);
    toCreate = groups.filter((_, i) => checks[i]!.ok);
  }

  const operations = new Array<Operation | null>(requests.length).fill(null);
  let allCustodial = true;
  await Promise.all(
    toCreate.map(async (g) => {
      const result: Result<CreatedOperations> = await callObject(claim, (firstAttempt) =>
        issuerByName(env, g.issuer).createArtifacts({
          did: g.issuer,
          verificationMethodId: g.vm,
          origin,
          artifacts: g.artifacts,
          // A key of our own is new on the first attempt (`checkIssuer` only reads): nothing to replay.
          idempotency: firstAttempt && !claim.fromClient ? { ...objectClaim, fresh: true } : objectClaim,
          ...(operationId !== undefined ? { operationId } : {}),
        }),
      );
      if (!result.ok) {
        failed.push({ group: g, result });
        return;
      }
      if (!result.value.custodial) allCustodial = false;
      // The object answers in request order (a replay in the order first created: the same body, so the same order);
      // jobs grouped under one operationId answer with that one operation, at the first item's place.
      result.value.operations.forEach((op, j) => (operations[g.index[j]!] = op));
    }),
  );
  if (failed.length === groups.length) throw refusal(failed, groups.length > 1);
  const errors = failed
    .flatMap(({ group, result }) =>
      group.index.map((index) => ({ index, status: httpStatusOf(result.code), code: result.code, detail: result.detail })),
    )
    .sort((a, b) => a.index - b.index);
  return { operations, errors, allCustodial };
}

/**
 * A route's one artifact: its operation, and 201 when it was signed at once (custodial), else 202.
 * Every such route creates it the same way, for the request `c` (the service's origin, and the
 * request's idempotency claim unless the route already took it for a create of its own).
 */
export async function createArtifact(
  c: Context<AppEnv>,
  order: ArtifactOrder,
  claim?: IdempotencyClaim & { fromClient: boolean },
): Promise<{ operation: Operation; status: 201 | 202 }> {
  const issued = await createArtifacts(c.env, serviceOrigin(c), [order], claim ?? (await idempotencyClaim(c)));
  return { operation: issued.operations[0]!, status: issued.allCustodial ? 201 : 202 };
}
