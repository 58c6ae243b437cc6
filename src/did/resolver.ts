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

/**
 * did:key and did:jwk resolve from the DID itself; did:web documents this service hosts come
 * from D1 without a network round trip; other did:web documents are fetched.
 */
export async function resolveDid(env: Env, did: string, _requestUrl?: URL): Promise<Resolution> {
  const managed = await getDid(env.DB, did);
  if (did.startsWith("did:key:") || did.startsWith("did:jwk:")) {
    const doc = resolveLocally(did);
    if (!doc) return failed("invalidDid", "the DID does not encode a supported public key");
    return found(doc, managed?.deleted_at ? { deactivated: true } : {});
  }
  if (did.startsWith("did:web:")) {
    const loc = didWebLocation(did);
    if (!loc) return failed("invalidDid", "malformed did:web");
    if (managed) {
      if (managed.deleted_at !== null) return { ...failed("notFound"), didDocumentMetadata: { deactivated: true } };
      return found(JSON.parse(managed.document) as DidDocument, { created: new Date(managed.created_at).toISOString() });
    }
    try {
      const res = await fetch(didWebUrl(loc), { headers: { accept: "application/did+json, application/json" }, signal: AbortSignal.timeout(5000) });
      if (!res.ok) return failed("notFound", `${didWebUrl(loc)} answered ${res.status}`);
      const doc = (await res.json()) as DidDocument;
      if (doc?.id !== did) return failed("notFound", "the fetched document is for another DID");
      return found(doc);
    } catch (err) {
      return failed("notFound", `could not fetch ${didWebUrl(loc)}: ${String(err)}`);
    }
  }
  return failed("methodNotSupported");
}
