import type { IssuerObject } from "../durable-objects/issuer";

type Methods = "registerKey" | "revokeKey" | "deactivate" | "authenticate" | "admit" | "createJobs" | "checkIssuer" | "getJob" | "listJobs"
  | "submit" | "submitMany" | "reject" | "getOperation" | "cancelOperation" | "getStatus" | "setStatus" | "statusListPublication";

/**
 * The issuer object's RPC surface as the Worker sees it. Workers RPC can carry our plain JSON
 * values, but its generated stub types cannot prove `unknown` members serialisable, so this
 * states the types once instead of at every call.
 */
export type IssuerClient = {
  [K in Methods]: IssuerObject[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
} & { fetch(request: Request): Promise<Response> };

export function issuerByName(env: Env, did: string): IssuerClient {
  return env.ISSUER.getByName(did) as unknown as IssuerClient;
}

export function issuerById(env: Env, id: DurableObjectId): IssuerClient {
  return env.ISSUER.get(id) as unknown as IssuerClient;
}
