import { resolveIon } from "./ion/resolver";
import { managedIonState } from "./ion-create";
import { z } from "zod";
import { parseJsonWithin } from "../core/json-depth";
import { describeOutboundFailure, fetchOutbound, isOwnHost } from "../net/outbound";
import { getDid } from "./store";
import { didWebLocation, didWebUrl, resolveLocally, type DidDocument } from "./documents";

export interface Resolution {
  didResolutionMetadata: { contentType?: string; error?: "invalidDid" | "notFound" | "methodNotSupported"; [k: string]: unknown };
  didDocument: DidDocument | null;
  didDocumentMetadata: { deactivated?: boolean; created?: string; [k: string]: unknown };
}

const found = (doc: DidDocument, meta: Resolution["didDocumentMetadata"] = {}): Resolution => ({
  didResolutionMetadata: { contentType: "application/did+json" },
  didDocument: doc,
  didDocumentMetadata: meta,
});
const failed = (error: NonNullable<Resolution["didResolutionMetadata"]["error"]>, message?: string): Resolution => ({
  didResolutionMetadata: { error, ...(message ? { message } : {}) },
  didDocument: null,
  didDocumentMetadata: {},
});

/** What a fetched did:web document must hold before anything reads it. */
const ForeignDocument = z
  .object({
    id: z.string(),
    verificationMethod: z
      .array(
        z
          .object({ id: z.string(), type: z.string(), controller: z.string(), publicKeyJwk: z.record(z.string(), z.unknown()) })
          .passthrough(),
      )
      .max(64),
  })
  .passthrough();

/**
 * did:key and did:jwk resolve from the DID itself; did:web documents this service hosts come
 * from D1 without a network round trip; other did:web documents are fetched through the
 * outbound policy. A did:web on `ownOrigin`'s host that D1 does not know is not found: the
 * service never fetches from itself.
 */
export async function resolveDid(env: Env, did: string, ownOrigin?: string): Promise<Resolution> {
  const managed = await getDid(env.DB, did);
  if (did.startsWith("did:key:") || did.startsWith("did:jwk:")) {
    const doc = resolveLocally(did);
    if (!doc) return failed("invalidDid", "the DID does not encode a supported public key");
    return found(doc, managed?.deleted_at ? { deactivated: true } : {});
  }
  if (did.startsWith("did:ion:")) {
    const ion = await resolveIon(did, {
      ...(env.ION_NODE_URL ? { nodeUrl: env.ION_NODE_URL } : {}),
      managed: (suffix) => managedIonState(env.DB, suffix),
    });
    return ion as Resolution;
  }
  if (did.startsWith("did:web:")) {
    const loc = didWebLocation(did);
    if (!loc) return failed("invalidDid", "malformed did:web");
    if (managed) {
      if (managed.deleted_at !== null) return { ...failed("notFound"), didDocumentMetadata: { deactivated: true } };
      return found(JSON.parse(managed.document) as DidDocument, { created: new Date(managed.created_at).toISOString() });
    }
    if (isOwnHost(didWebUrl(loc), ownOrigin)) return failed("notFound", "no such DID is hosted here");
    const res = await fetchOutbound(didWebUrl(loc), "application/did+json, application/json");
    if (!res.ok) return failed("notFound", `the DID document was not fetched: ${describeOutboundFailure(res)}`);
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(res.body);
    } catch {
      return failed("notFound", "the fetched DID document is not UTF-8");
    }
    const parsed = parseJsonWithin(text);
    const doc = parsed.ok ? ForeignDocument.safeParse(parsed.value) : null;
    if (!doc?.success) return failed("notFound", "the fetched document is not a DID document");
    if (doc.data.id !== did) return failed("notFound", "the fetched document is for another DID");
    return found(doc.data as unknown as DidDocument);
  }
  return failed("methodNotSupported");
}
