/**
 * Ids that name their issuer object, so a read of one id goes straight to the object that holds
 * it, with no lookup and no wait for D1 (api.md "Consistency"). A leaf module.
 *
 * A routed id is `<object id hex>.<random>`: the 64 hex digits are `ctx.id.toString()` of the
 * issuer's object (`idFromName(did)`), which `idFromString` turns back into its stub. Sign job ids
 * have always had this shape (protocol.ts JOB_ID); credential ids now do too, and operation ids
 * built from such an id (`credentials/<id>`) carry it as a path segment.
 */

const ROUTED = /^([0-9a-f]{64})\.[A-Za-z0-9_-]{8,64}$/;

/** A fresh id inside an object: its id hex, a dot, then a random UUID (kept for `urn:uuid:` claims). */
export function routedId(objectHex: string, uuid: string = crypto.randomUUID()): string {
  return `${objectHex}.${uuid}`;
}

/** The UUID part of a routed id, or the id itself for ids made before ids were routed. */
export function uuidOf(id: string): string {
  const dot = id.indexOf(".");
  return dot === 64 ? id.slice(65) : id;
}

/** The object id hex an id names, or null (an id made before ids were routed, or not one of ours). */
export function objectOfId(id: string): string | null {
  return ROUTED.exec(id)?.[1] ?? null;
}

/** The object an operation id names through any of its path segments (`credentials/<routed id>`), or null. */
export function objectOfOperation(operationId: string): string | null {
  for (const segment of operationId.split("/")) {
    const hex = SEGMENT.exec(segment)?.[1];
    if (hex) return hex;
  }
  return null;
}

// A segment that starts with a routed id (a status list's `<list id>.<revision>` goes on after it).
const SEGMENT = /^([0-9a-f]{64})\./;
