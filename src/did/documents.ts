import { didJwkFromJwk, didKeyFromJwk, parseDidJwk, parseDidKey } from "../crypto";
import type { PublicJwk } from "../crypto/types";

export const DID_METHODS = ["key", "jwk", "web", "ion"] as const;
export type DidMethod = (typeof DID_METHODS)[number];

export interface DidDocument {
  "@context": string[];
  id: string;
  verificationMethod: { id: string; type: string; controller: string; publicKeyJwk: PublicJwk }[];
  authentication: string[];
  assertionMethod: string[];
  capabilityInvocation: string[];
  capabilityDelegation: string[];
  [extra: string]: unknown;
}

const CONTEXTS = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/jws-2020/v1"];

/** A DID document with one key, which signs everything: the first verification method. */
export function documentFor(did: string, fragment: string, jwk: PublicJwk): DidDocument {
  const vm = `${did}#${fragment}`;
  return {
    "@context": CONTEXTS,
    id: did,
    verificationMethod: [{ id: vm, type: "JsonWebKey2020", controller: did, publicKeyJwk: jwk }],
    authentication: [vm],
    assertionMethod: [vm],
    capabilityInvocation: [vm],
    capabilityDelegation: [vm],
  };
}

// did:web: host (a port is written %3A), then optional path segments separated by colons.
const DID_WEB =
  /^did:web:((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:%3A\d{1,5})?)((?::[A-Za-z0-9._~-]+)*)$/;

export interface DidWebLocation {
  host: string; // as in the URL, port included
  path: string; // "" for /.well-known/did.json, else "a/b" for /a/b/did.json
}

/** Where a did:web document lives, or null if the DID is not a well-formed did:web. */
export function didWebLocation(did: string): DidWebLocation | null {
  if (did.length > 512) return null;
  const m = DID_WEB.exec(did);
  if (!m) return null;
  const host = m[1]!.replace("%3A", ":");
  const segments = m[2] ? m[2].slice(1).split(":") : [];
  if (segments.some((s) => s === "." || s === ".." || s === ".well-known")) return null;
  return { host, path: segments.join("/") };
}

/** Where a did:web document is fetched from: always https (did:web spec), port as the DID says. */
export function didWebUrl(loc: DidWebLocation): string {
  return `https://${loc.host}/${loc.path ? `${loc.path}/` : ".well-known/"}did.json`;
}

/** The DID and its document for a new key. did:web needs its id; did:key and did:jwk derive it. */
export function createDocument(method: DidMethod, jwk: PublicJwk, didWebId?: string): { did: string; document: DidDocument } {
  switch (method) {
    case "key": {
      const did = didKeyFromJwk(jwk);
      return { did, document: documentFor(did, did.slice("did:key:".length), jwk) };
    }
    case "jwk": {
      const did = didJwkFromJwk(jwk);
      return { did, document: documentFor(did, "0", jwk) };
    }
    case "web": {
      if (!didWebId) throw new Error("did:web needs options.didWebId");
      return { did: didWebId, document: documentFor(didWebId, "key-1", jwk) };
    }
    case "ion":
      // A did:ion is a Sidetree create operation with update and recovery keys: src/did/ion-create.ts.
      throw new Error("did:ion documents are built by createIonDid");
  }
}

/** Self-certifying DIDs resolve without any lookup. */
export function resolveLocally(did: string): DidDocument | null {
  if (did.startsWith("did:key:")) {
    const parsed = parseDidKey(did);
    return parsed ? documentFor(did, parsed.fragment, parsed.jwk) : null;
  }
  if (did.startsWith("did:jwk:")) {
    const parsed = parseDidJwk(did);
    return parsed ? documentFor(did, "0", parsed.jwk) : null;
  }
  return null;
}
