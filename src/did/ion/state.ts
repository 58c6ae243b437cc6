/**
 * The state of an ION DID and how Sidetree operations change it: the rules a node applies,
 * written once so the long-form resolver, the service's own record of its DIDs and the test
 * node all compute the same document.
 */
import { canonicalBytes, commitmentOf, decodeB64uString, hashOf, revealValueOf } from "./hashing";
import { CreateRequest, Delta, IonDocumentState, type OperationRequest, type Patch } from "./model";
import type { DidDocument } from "../documents";
import { z } from "zod";

export interface IonDidState {
  didSuffix: string;
  document: IonDocumentState;
  updateCommitment: string;
  recoveryCommitment: string;
  deactivated: boolean;
}

const DID_ION = /^did:ion:(?:(test):)?([A-Za-z0-9_-]{46})(?::([A-Za-z0-9_-]+))?$/;

export interface ParsedIonDid {
  network: "mainnet" | "test";
  didSuffix: string;
  shortFormDid: string;
  /** Present for a long-form DID: the create operation it carries. */
  create?: CreateRequest;
}

/** Applies patches in order. A patch that cannot apply (duplicate or unknown id) makes the whole delta fail, as in Sidetree. */
export function applyPatches(document: IonDocumentState, patches: Patch[]): IonDocumentState | null {
  let keys = [...(document.publicKeys ?? [])];
  let services = [...(document.services ?? [])];
  for (const patch of patches) {
    switch (patch.action) {
      case "replace":
        keys = [...(patch.document.publicKeys ?? [])];
        services = [...(patch.document.services ?? [])];
        break;
      case "add-public-keys":
        // Sidetree: a key with an existing id replaces it.
        for (const k of patch.publicKeys) keys = [...keys.filter((e) => e.id !== k.id), k];
        break;
      case "remove-public-keys":
        keys = keys.filter((k) => !patch.ids.includes(k.id));
        break;
      case "add-services":
        for (const s of patch.services) services = [...services.filter((e) => e.id !== s.id), s];
        break;
      case "remove-services":
        services = services.filter((s) => !patch.ids.includes(s.id));
        break;
    }
  }
  if (new Set(keys.map((k) => k.id)).size !== keys.length) return null;
  return { publicKeys: keys, ...(services.length ? { services } : {}) };
}

/** The state a create operation makes, after checking the delta hash commits to its delta. */
export async function stateFromCreate(request: CreateRequest): Promise<IonDidState | null> {
  if ((await hashOf(request.delta)) !== request.suffixData.deltaHash) return null;
  const document = applyPatches({}, request.delta.patches);
  if (!document) return null;
  return {
    didSuffix: await hashOf(request.suffixData),
    document,
    updateCommitment: request.delta.updateCommitment,
    recoveryCommitment: request.suffixData.recoveryCommitment,
    deactivated: false,
  };
}

/** Parses `did:ion:[test:]<suffix>[:<long-form initial state>]`; checks a long form's suffix is its own. */
export async function parseIonDid(did: string): Promise<ParsedIonDid | null> {
  if (did.length > 64 * 1024) return null;
  const m = DID_ION.exec(did);
  if (!m) return null;
  const network = m[1] ? "test" : "mainnet";
  const didSuffix = m[2]!;
  const shortFormDid = network === "test" ? `did:ion:test:${didSuffix}` : `did:ion:${didSuffix}`;
  if (!m[3]) return { network, didSuffix, shortFormDid };
  let initial: unknown;
  try {
    initial = JSON.parse(decodeB64uString(m[3], "long-form initial state"));
  } catch {
    return null;
  }
  const parsed = z.object({ suffixData: z.unknown(), delta: z.unknown() }).strict().safeParse(initial);
  if (!parsed.success) return null;
  const create = CreateRequest.safeParse({ type: "create", suffixData: parsed.data.suffixData, delta: parsed.data.delta });
  if (!create.success) return null;
  if ((await hashOf(create.data.suffixData)) !== didSuffix) return null;
  // The encoded state must be the canonical form, or two strings would name one DID.
  const canonical = new TextDecoder().decode(canonicalBytes({ suffixData: create.data.suffixData, delta: create.data.delta }));
  if (canonical !== decodeB64uString(m[3], "long-form initial state")) return null;
  return { network, didSuffix, shortFormDid, create: create.data };
}

export type ApplyOutcome = { ok: true; state: IonDidState } | { ok: false; reason: string };

/**
 * Applies an update, recover or deactivate to a state, checking what a node checks besides the
 * signature (done by the caller, which has the JWS): the reveal value is the hash of the signing
 * key and that key is the one the state committed to, and the signed delta hash matches the delta.
 */
export async function applyOperation(
  state: IonDidState,
  request: Exclude<OperationRequest, CreateRequest>,
  signed: { key: unknown; deltaHash?: string; recoveryCommitment?: string },
): Promise<ApplyOutcome> {
  if (state.deactivated) return { ok: false, reason: "the DID is deactivated" };
  if (request.didSuffix !== state.didSuffix) return { ok: false, reason: "the operation is for another DID" };
  if ((await revealValueOf(signed.key)) !== request.revealValue)
    return { ok: false, reason: "the reveal value is not the hash of the signing key" };
  const commitment = await commitmentOf(signed.key);
  const expected = request.type === "update" ? state.updateCommitment : state.recoveryCommitment;
  if (commitment !== expected)
    return { ok: false, reason: `the ${request.type === "update" ? "update" : "recovery"} key is not the one committed to` };
  if (request.type === "deactivate") return { ok: true, state: { ...state, deactivated: true } };
  const delta = Delta.parse(request.delta);
  if ((await hashOf(delta)) !== signed.deltaHash) return { ok: false, reason: "the signed delta hash does not match the delta" };
  const base = request.type === "recover" ? {} : state.document;
  const document = applyPatches(base, delta.patches);
  if (!document) return { ok: false, reason: "the patches do not apply" };
  return {
    ok: true,
    state: {
      ...state,
      document,
      updateCommitment: delta.updateCommitment,
      recoveryCommitment: request.type === "recover" ? signed.recoveryCommitment! : state.recoveryCommitment,
    },
  };
}

const CONTEXTS = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/jws-2020/v1"];

/**
 * The W3C DID document of a state, as ION renders it but with absolute ids (`did#key-1`), which
 * every JWT verifier matches against a `kid` without knowing JSON-LD's `@base`.
 */
export function renderDocument(did: string, document: IonDocumentState): DidDocument {
  const vms = (document.publicKeys ?? []).map((k) => ({
    id: `${did}#${k.id}`,
    type: k.type,
    controller: did,
    publicKeyJwk: k.publicKeyJwk as never,
  }));
  const rel = (purpose: string) =>
    (document.publicKeys ?? []).filter((k) => k.purposes?.includes(purpose as never)).map((k) => `${did}#${k.id}`);
  const doc: DidDocument = {
    "@context": CONTEXTS,
    id: did,
    verificationMethod: vms,
    authentication: rel("authentication"),
    assertionMethod: rel("assertionMethod"),
    capabilityInvocation: rel("capabilityInvocation"),
    capabilityDelegation: rel("capabilityDelegation"),
  };
  const keyAgreement = rel("keyAgreement");
  if (keyAgreement.length) doc.keyAgreement = keyAgreement;
  if (document.services?.length)
    doc.service = document.services.map((s) => ({ id: `${did}#${s.id}`, type: s.type, serviceEndpoint: s.serviceEndpoint }));
  return doc;
}

export { IonDocumentState };
