/**
 * did:ion resolution. A long-form DID carries its own create operation, so it resolves here
 * with no network (its initial state). A short-form DID needs the network: it is asked of the
 * ION node at ION_NODE_URL, and answers are cached for a minute (bounded), since every
 * credential verification resolves its issuer.
 */
import { z } from "zod";
import { resolveAtNode, type Fetcher } from "./node-client";
import { parseIonDid, renderDocument, stateFromCreate, type IonDidState } from "./state";
import type { DidDocument } from "../documents";

export interface IonResolution {
  didResolutionMetadata: { contentType?: string; error?: "invalidDid" | "notFound" | "methodNotSupported"; message?: string };
  didDocument: DidDocument | null;
  didDocumentMetadata: {
    deactivated?: boolean;
    canonicalId?: string;
    equivalentId?: string[];
    method?: { published: boolean; updateCommitment?: string; recoveryCommitment?: string };
  };
}

const CACHE_MS = 60_000;
const CACHE_MAX = 512;
const cache = new Map<string, { expires: number; value: IonResolution }>();

export function clearIonResolutionCache(): void {
  cache.clear();
}

const failed = (error: "invalidDid" | "notFound", message: string, deactivated = false): IonResolution => ({
  didResolutionMetadata: { error, message },
  didDocument: null,
  didDocumentMetadata: deactivated ? { deactivated: true } : {},
});

/** A resolution from a state the caller knows (the service's own DIDs, a node's store). */
export function resolutionOfState(did: string, state: IonDidState, published: boolean, shortFormDid: string): IonResolution {
  if (state.deactivated) return failed("notFound", "the DID is deactivated", true);
  return {
    didResolutionMetadata: { contentType: "application/did+ld+json" },
    didDocument: renderDocument(did, state.document),
    didDocumentMetadata: {
      ...(published ? { canonicalId: shortFormDid } : { equivalentId: [shortFormDid] }),
      method: { published, updateCommitment: state.updateCommitment, recoveryCommitment: state.recoveryCommitment },
    },
  };
}

const NodeAnswer = z
  .object({
    didDocument: z
      .object({
        id: z.string(),
        verificationMethod: z
          .array(z.object({ id: z.string() }).passthrough())
          .max(200)
          .optional(),
      })
      .passthrough(),
    didDocumentMetadata: z.record(z.string(), z.unknown()).optional(),
  })
  .passthrough();

/** ION nodes write ids relative to the document (`#key-1`, JSON-LD `@base`); verifiers here match absolute ones. */
function absolutise(doc: Record<string, unknown>, did: string): DidDocument {
  const abs = (id: unknown) => (typeof id === "string" && id.startsWith("#") ? `${did}${id}` : id);
  const out: Record<string, unknown> = { ...doc, id: did };
  if (Array.isArray(doc.verificationMethod))
    out.verificationMethod = doc.verificationMethod.map((vm: Record<string, unknown>) => ({
      ...vm,
      id: abs(vm.id),
      controller: vm.controller ?? did,
    }));
  for (const rel of ["authentication", "assertionMethod", "capabilityInvocation", "capabilityDelegation", "keyAgreement"]) {
    out[rel] = Array.isArray(doc[rel]) ? (doc[rel] as unknown[]).map((r) => (typeof r === "string" ? abs(r) : r)) : [];
  }
  if (Array.isArray(doc.service)) out.service = doc.service.map((s: Record<string, unknown>) => ({ ...s, id: abs(s.id) }));
  if (Array.isArray(out["@context"])) out["@context"] = (out["@context"] as unknown[]).filter((c) => typeof c === "string");
  return out as DidDocument;
}

export interface ResolveIonOptions {
  nodeUrl?: string;
  fetcher?: Fetcher;
  /** The service's own record of a DID it manages, by suffix: newer than any long form, and known before anchoring. */
  managed?: (didSuffix: string) => Promise<{ state: IonDidState; published: boolean } | null>;
  now?: number;
}

export async function resolveIon(did: string, options: ResolveIonOptions = {}): Promise<IonResolution> {
  const parsed = await parseIonDid(did);
  if (!parsed) return failed("invalidDid", "not a did:ion, or its long-form state does not match its suffix");
  const mine = options.managed ? await options.managed(parsed.didSuffix) : null;
  if (mine) return resolutionOfState(did, mine.state, mine.published, parsed.shortFormDid);
  if (parsed.create) {
    const state = await stateFromCreate(parsed.create);
    if (!state) return failed("invalidDid", "the long-form create operation's delta does not match its hash");
    return resolutionOfState(did, state, false, parsed.shortFormDid);
  }
  if (!options.nodeUrl) return failed("notFound", "a short-form did:ion resolves through an ION node and ION_NODE_URL is not set");
  const now = options.now ?? Date.now();
  const hit = cache.get(did);
  if (hit && hit.expires > now) return hit.value;
  const answer = await resolveAtNode(options.nodeUrl, did, options.fetcher);
  let value: IonResolution;
  if (answer.ok) {
    const body = NodeAnswer.safeParse(answer.body);
    if (!body.success) return failed("notFound", "the ION node's answer is not a DID resolution result");
    value = {
      didResolutionMetadata: { contentType: "application/did+ld+json" },
      didDocument: absolutise(body.data.didDocument, did),
      didDocumentMetadata: (body.data.didDocumentMetadata ?? {}) as IonResolution["didDocumentMetadata"],
    };
  } else if (answer.notFound) {
    value = failed("notFound", answer.reason, answer.deactivated);
  } else {
    return failed("notFound", answer.reason); // a node failure is not cached
  }
  cache.set(did, { expires: now + CACHE_MS, value });
  while (cache.size > CACHE_MAX) cache.delete(cache.keys().next().value!);
  return value;
}
