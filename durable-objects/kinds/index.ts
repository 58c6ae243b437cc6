import type { JobKind } from "../../src/signjobs/model";
import { credentialKind } from "./credential";
import { statusListKind } from "./status-list";
import type { KindHandler } from "./types";

/** One handler per artifact kind; adding a kind means adding a line here and nothing else in the engine. */
export const KINDS: Partial<Record<JobKind, KindHandler>> = {
  credential: credentialKind,
  "status-list": statusListKind,
};

export function kindHandler(kind: JobKind): KindHandler {
  const handler = KINDS[kind];
  if (!handler) throw new Error(`no finaliser registered for sign job kind ${kind}`);
  return handler;
}

export type { JobSpec, KindContext, KindHandler, StatusAllocation, StatusPurpose } from "./types";
