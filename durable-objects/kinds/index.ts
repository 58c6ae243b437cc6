import { defineRegistry, type InputOf } from "../../src/core/kinds";
import { credentialKind } from "./credential";
import { credentialResponseKind } from "./credential-response";
import { manifestKind } from "./manifest";
import { manifestRequestKind } from "./manifest-request";
import { presentationRequestKind } from "./presentation-request";
import { schemaKind } from "./schema";
import { statusListKind } from "./status-list";
import { didOperationKind } from "./did-operation";

/**
 * The registry: every kind of artifact the service signs, one line each. The kinds the API
 * advertises (the SignJob `kind` enum) are its keys, so none can lack its handler.
 */
export const KINDS = defineRegistry({
  credential: credentialKind,
  "status-list": statusListKind,
  manifest: manifestKind,
  "manifest-request": manifestRequestKind,
  "credential-response": credentialResponseKind,
  "did-operation": didOperationKind,
  schema: schemaKind,
  "presentation-request": presentationRequestKind,
});

export type Kinds = typeof KINDS;
export type JobKind = keyof Kinds;
export const JOB_KINDS = Object.keys(KINDS) as [JobKind, ...JobKind[]];

/** What a route asks the issuer object to sign: a kind and that kind's input. */
export type ArtifactRequest = { [K in JobKind]: { kind: K; input: InputOf<Kinds[K]> } }[JobKind];
