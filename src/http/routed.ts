/**
 * Artifacts a route names before its issuer's object makes them (schemas, manifests, requests):
 * their ids name that object too (src/core/ids.ts), so a read by id can first have the object
 * deliver what it holds for D1, and see the create that just answered (api.md "Consistency").
 */
import { objectOfId, routedId } from "../core/ids";
import { issuerByHex } from "../issuer-client";

/** A fresh id naming the object of `issuer`. */
export const idFor = (env: Env, issuer: string): string => routedId(env.ISSUER.idFromName(issuer).toString());

/**
 * Before a D1 read of an artifact by id: the object the id names delivers its outbox, so D1 holds
 * whatever that object committed before this read began. Ids made before ids were routed, and
 * unsigned artifacts (stored in D1 by the route itself), need nothing.
 */
export async function deliveredFor(env: Env, id: string): Promise<void> {
  await issuerByHex(env, objectOfId(id))?.flush();
}
