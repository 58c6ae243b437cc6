/**
 * Builds ION (Sidetree) operations with the ION SDK. Operations signed by an update or recovery
 * key are built in two steps so the key may live anywhere: `prepare*` returns the request
 * without its signature plus the exact JWS signing input (`base64url(header).base64url(payload)`,
 * ES256K over its SHA-256, which is what a `did-operation` sign job carries), and
 * `assembleOperation` puts a signature in later. A custodial key signs the same signing input
 * at once; an external one signs it through a sign job, days later if need be.
 */
import { IonDid, IonRequest, type ISigner } from "@decentralized-identity/ion-sdk";
import { decodeSignature, verifySignature } from "../../crypto";
import { encodeBase64url } from "../../crypto/encoding";
import {
  Es256kPublicJwk,
  OperationRequest,
  type CreateRequest,
  type IonPublicKey,
  type IonService,
  type DeactivateRequest,
  type RecoverRequest,
  type UpdateRequest,
} from "./model";
import { hashOf } from "./hashing";

export type IonOperationType = "update" | "recover" | "deactivate";

/** An operation waiting for the update (update) or recovery (recover, deactivate) key's signature. */
export interface PreparedOperation {
  type: IonOperationType;
  didSuffix: string;
  /** The request as it will be sent, minus `signedData`. */
  unsigned: Omit<UpdateRequest, "signedData"> | Omit<RecoverRequest, "signedData"> | Omit<DeactivateRequest, "signedData">;
  /** What the key signs (ES256K, SHA-256 prehash): `base64url(header).base64url(payload)`. */
  signingInput: string;
  /** The key whose signature is required; its hash is the reveal value in `unsigned`. */
  signerKey: Es256kPublicJwk;
}

export interface CreatedDid {
  request: CreateRequest;
  didSuffix: string;
  shortFormDid: string;
  longFormDid: string;
}

const textEncoder = new TextEncoder();

/**
 * An SDK signer that signs nothing: it records the signing input the SDK computed (the SDK's own
 * LocalSigner JSON-serialises header and payload exactly like this) and leaves the signature empty.
 */
function capturingSigner(): { signer: ISigner; input: () => string } {
  let captured: string | null = null;
  const b64 = (value: object) => encodeBase64url(JSON.stringify(value));
  return {
    signer: {
      async sign(header: object, content: object) {
        captured = `${b64(header)}.${b64(content)}`;
        return `${captured}.`;
      },
    },
    input: () => {
      if (captured === null) throw new Error("the SDK did not ask for a signature");
      return captured;
    },
  };
}

function stripSignature<T extends { signedData: string }>(request: T): Omit<T, "signedData"> {
  const { signedData: _dropped, ...rest } = request;
  return rest;
}

/**
 * A create operation for a DID whose document holds `publicKeys` (and `services`), committing to
 * `updateKey` and `recoveryKey`. The long-form DID resolves from itself before any anchoring.
 */
export async function buildCreate(input: {
  publicKeys: IonPublicKey[];
  services?: IonService[];
  updateKey: Es256kPublicJwk;
  recoveryKey: Es256kPublicJwk;
}): Promise<CreatedDid> {
  const document = { publicKeys: input.publicKeys, ...(input.services?.length ? { services: input.services } : {}) };
  const sdkInput = {
    updateKey: { ...input.updateKey },
    recoveryKey: { ...input.recoveryKey },
    document: structuredClone(document) as never,
  };
  const request = OperationRequest.parse(await IonRequest.createCreateRequest(structuredClone(sdkInput))) as CreateRequest;
  const longFormDid = await IonDid.createLongFormDid(structuredClone(sdkInput));
  const didSuffix = await hashOf(request.suffixData);
  const shortFormDid = `did:ion:${didSuffix}`;
  if (!longFormDid.startsWith(`${shortFormDid}:`)) throw new Error("the SDK's long-form DID does not match the suffix data");
  return { request, didSuffix, shortFormDid, longFormDid };
}

/** An update adding and/or removing keys and services, signed by the current update key. */
export async function prepareUpdate(input: {
  didSuffix: string;
  updateKey: Es256kPublicJwk;
  nextUpdateKey: Es256kPublicJwk;
  addPublicKeys?: IonPublicKey[];
  removePublicKeyIds?: string[];
  addServices?: IonService[];
  removeServiceIds?: string[];
}): Promise<PreparedOperation> {
  const capture = capturingSigner();
  const request = await IonRequest.createUpdateRequest({
    didSuffix: input.didSuffix,
    updatePublicKey: { ...input.updateKey },
    nextUpdatePublicKey: { ...input.nextUpdateKey },
    signer: capture.signer,
    ...(input.addPublicKeys?.length ? { publicKeysToAdd: structuredClone(input.addPublicKeys) as never } : {}),
    ...(input.removePublicKeyIds?.length ? { idsOfPublicKeysToRemove: [...input.removePublicKeyIds] } : {}),
    ...(input.addServices?.length ? { servicesToAdd: structuredClone(input.addServices) as never } : {}),
    ...(input.removeServiceIds?.length ? { idsOfServicesToRemove: [...input.removeServiceIds] } : {}),
  });
  return {
    type: "update",
    didSuffix: input.didSuffix,
    unsigned: stripSignature(request as UpdateRequest),
    signingInput: capture.input(),
    signerKey: input.updateKey,
  };
}

/** A recover: replaces the whole document and both commitments, signed by the recovery key. */
export async function prepareRecover(input: {
  didSuffix: string;
  recoveryKey: Es256kPublicJwk;
  nextRecoveryKey: Es256kPublicJwk;
  nextUpdateKey: Es256kPublicJwk;
  publicKeys: IonPublicKey[];
  services?: IonService[];
}): Promise<PreparedOperation> {
  const capture = capturingSigner();
  const request = await IonRequest.createRecoverRequest({
    didSuffix: input.didSuffix,
    recoveryPublicKey: { ...input.recoveryKey },
    nextRecoveryPublicKey: { ...input.nextRecoveryKey },
    nextUpdatePublicKey: { ...input.nextUpdateKey },
    document: structuredClone({ publicKeys: input.publicKeys, ...(input.services?.length ? { services: input.services } : {}) }) as never,
    signer: capture.signer,
  });
  return {
    type: "recover",
    didSuffix: input.didSuffix,
    unsigned: stripSignature(request as RecoverRequest),
    signingInput: capture.input(),
    signerKey: input.recoveryKey,
  };
}

/** A deactivate, signed by the recovery key. Final: nothing can change the DID afterwards. */
export async function prepareDeactivate(input: { didSuffix: string; recoveryKey: Es256kPublicJwk }): Promise<PreparedOperation> {
  const capture = capturingSigner();
  const request = await IonRequest.createDeactivateRequest({
    didSuffix: input.didSuffix,
    recoveryPublicKey: { ...input.recoveryKey },
    signer: capture.signer,
  });
  return {
    type: "deactivate",
    didSuffix: input.didSuffix,
    unsigned: stripSignature(request as DeactivateRequest),
    signingInput: capture.input(),
    signerKey: input.recoveryKey,
  };
}

export type AssembleResult =
  | { ok: true; request: UpdateRequest | RecoverRequest | DeactivateRequest }
  | { ok: false; code: "invalid_signature"; message: string };

/**
 * The finished request: the prepared one with `signedData = signingInput.signature`. The signature
 * (base64url JOSE r‖s, or raw bytes) is verified against the required key first, so an invalid
 * one never reaches a node, where it would only be dropped silently.
 */
export async function assembleOperation(prepared: PreparedOperation, signature: string | Uint8Array): Promise<AssembleResult> {
  let bytes: Uint8Array;
  if (typeof signature === "string") {
    const decoded = decodeSignature("ES256K", signature, "jose");
    if (!decoded.ok) return { ok: false, code: "invalid_signature", message: decoded.detail };
    bytes = decoded.value;
  } else {
    bytes = signature;
  }
  const valid = await verifySignature("ES256K", prepared.signerKey, textEncoder.encode(prepared.signingInput), bytes);
  if (!valid) return { ok: false, code: "invalid_signature", message: "the signature does not verify with the operation's key" };
  const request = OperationRequest.parse({ ...prepared.unsigned, signedData: `${prepared.signingInput}.${encodeBase64url(bytes)}` });
  return { ok: true, request: request as UpdateRequest | RecoverRequest | DeactivateRequest };
}

/** Signs a prepared operation with a custodial key (a SignFn from importSigner) and assembles it. */
export async function signOperation(
  prepared: PreparedOperation,
  sign: (data: Uint8Array) => Promise<Uint8Array>,
): Promise<UpdateRequest | RecoverRequest | DeactivateRequest> {
  const result = await assembleOperation(prepared, await sign(textEncoder.encode(prepared.signingInput)));
  if (!result.ok) throw new Error(`custodial operation key produced an invalid signature: ${result.message}`);
  return result.request;
}
