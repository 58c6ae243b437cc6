import type { IssuerObject } from "../durable-objects/issuer";

/**
 * The issuer object's RPC surface as the Worker sees it. Workers RPC can carry our plain JSON
 * values, but its generated stub types cannot prove `unknown` members serialisable, so this
 * states the types once instead of at every call.
 */
export type IssuerClient = {
  [K in keyof IssuerObject as IssuerObject[K] extends (...args: never[]) => unknown ? K : never]: IssuerObject[K] extends (
    ...args: infer A
  ) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : never;
};

export function issuerByName(env: Env, did: string): IssuerClient {
  return env.ISSUER.getByName(did) as unknown as IssuerClient;
}

export function issuerById(env: Env, id: DurableObjectId): IssuerClient {
  return env.ISSUER.get(id) as unknown as IssuerClient;
}

/**
 * The object a routed id names (src/core/ids.ts), or null when the hex is not an id of this
 * namespace (`idFromString` refuses ids it did not make): such an id is simply not found.
 */
export function issuerByHex(env: Env, hex: string | null): IssuerClient | null {
  if (hex === null) return null;
  try {
    return issuerById(env, env.ISSUER.idFromString(hex));
  } catch {
    return null;
  }
}
