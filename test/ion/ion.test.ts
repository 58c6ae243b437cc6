/**
 * did:ion in workerd: the ION SDK builds operations inside the Worker runtime (it is pure JS on
 * noble and multiformats), long forms resolve locally, and operations are really POSTed to the
 * test ION node (test/support/ion-node.ts, reached through the outbound mock), which checks
 * each with the SDK's validators before it anchors it and answers resolution.
 */
import { describe, expect, it } from "vitest";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { ed25519 } from "@noble/curves/ed25519.js";
import { IonKey } from "@decentralized-identity/ion-sdk";
import { jwkFromPublicKeyBytes, importSigner } from "../../src/crypto";
import { encodeBase64url } from "../../src/crypto/encoding";
import type { Es256kPublicJwk } from "../../src/did/ion/model";
import { assembleOperation, buildCreate, prepareDeactivate, prepareUpdate, signOperation } from "../../src/did/ion/operations";
import { anchorBackoffMs, postOperation } from "../../src/did/ion/node-client";
import { clearIonResolutionCache, resolveIon } from "../../src/did/ion/resolver";
import { parseIonDid } from "../../src/did/ion/state";
import { ION_TEST_NODE_URL } from "../support/ion-node";

const NODE = ION_TEST_NODE_URL;

function opKey(): { jwk: Es256kPublicJwk; d: Uint8Array } {
  const d = secp256k1.utils.randomSecretKey();
  return { jwk: jwkFromPublicKeyBytes("secp256k1", secp256k1.getPublicKey(d, true)) as Es256kPublicJwk, d };
}

function signingKey(id: string) {
  const d = ed25519.utils.randomSecretKey();
  return {
    id,
    type: "JsonWebKey2020",
    publicKeyJwk: { ...jwkFromPublicKeyBytes("Ed25519", ed25519.getPublicKey(d)) } as Record<string, unknown>,
    purposes: ["authentication" as const, "assertionMethod" as const],
  };
}

async function nodeLog(): Promise<{ type: string; didSuffix?: string; status: number; reason?: string }[]> {
  return (await fetch(`${NODE}/_test/log`)).json();
}

describe("did:ion", () => {
  it("runs the ION SDK in workerd: key generation and requests", async () => {
    const [pub, priv] = await IonKey.generateEs256kOperationKeyPair();
    expect(pub.crv).toBe("secp256k1");
    expect(priv.d).toBeTypeOf("string");
  });

  it("creates a long-form DID that resolves locally, anchors it, and resolves the short form at the node", async () => {
    const update = opKey();
    const recovery = opKey();
    const key1 = signingKey("key-1");
    const created = await buildCreate({ publicKeys: [key1], updateKey: update.jwk, recoveryKey: recovery.jwk });
    expect(created.longFormDid.startsWith(`${created.shortFormDid}:`)).toBe(true);

    const local = await resolveIon(created.longFormDid);
    expect(local.didDocument?.verificationMethod.map((v) => v.id)).toEqual([`${created.longFormDid}#key-1`]);
    expect(local.didDocument?.assertionMethod).toEqual([`${created.longFormDid}#key-1`]);
    expect(local.didDocumentMetadata.method?.published).toBe(false);
    // A long form whose state was changed no longer matches its suffix.
    const tampered = created.longFormDid.slice(0, -2) + (created.longFormDid.endsWith("A") ? "BB" : "AA");
    expect((await resolveIon(tampered)).didResolutionMetadata.error).toBe("invalidDid");

    // Short form: unknown before anchoring, then answered by the node from what it stored.
    expect((await resolveIon(created.shortFormDid, { nodeUrl: NODE })).didResolutionMetadata.error).toBe("notFound");
    const posted = await postOperation(NODE, created.request);
    expect(posted.ok).toBe(true);
    expect(await postOperation(NODE, created.request)).toMatchObject({ ok: true }); // a retried create is accepted
    clearIonResolutionCache();
    const remote = await resolveIon(created.shortFormDid, { nodeUrl: NODE });
    expect(remote.didDocument?.verificationMethod[0]).toMatchObject({
      id: `${created.shortFormDid}#key-1`,
      publicKeyJwk: key1.publicKeyJwk,
    });
    expect(remote.didDocumentMetadata.canonicalId).toBe(created.shortFormDid);
  });

  it("adds a key with an update whose signature is supplied later, as an external update key does", async () => {
    const update = opKey();
    const recovery = opKey();
    const created = await buildCreate({ publicKeys: [signingKey("key-1")], updateKey: update.jwk, recoveryKey: recovery.jwk });
    expect((await postOperation(NODE, created.request)).ok).toBe(true);

    const next = opKey();
    const key2 = signingKey("key-2");
    const prepared = await prepareUpdate({
      didSuffix: created.didSuffix,
      updateKey: update.jwk,
      nextUpdateKey: next.jwk,
      addPublicKeys: [key2],
    });
    // What a did-operation sign job carries: the JWS signing input of { alg: ES256K }.
    expect(JSON.parse(atob(prepared.signingInput.split(".")[0]!))).toEqual({ alg: "ES256K" });

    // A signature by another key is refused before anything is sent.
    const wrong = secp256k1.sign(new TextEncoder().encode(prepared.signingInput), next.d, { prehash: true });
    expect(await assembleOperation(prepared, encodeBase64url(wrong))).toMatchObject({ ok: false, code: "invalid_signature" });

    // The external signer signs the bytes (ES256K over SHA-256, JOSE r||s), days later if need be.
    const signature = secp256k1.sign(new TextEncoder().encode(prepared.signingInput), update.d, { prehash: true });
    const assembled = await assembleOperation(prepared, encodeBase64url(signature));
    if (!assembled.ok) throw new Error(assembled.message);
    expect((await postOperation(NODE, assembled.request)).ok).toBe(true);

    // The node refuses a replay: the update key was revealed and the commitment moved on.
    const replay = await postOperation(NODE, assembled.request);
    expect(replay).toMatchObject({ ok: false, retry: false, status: 400 });
    expect((await nodeLog()).at(-1)).toMatchObject({ type: "update", status: 400, reason: "the update key is not the one committed to" });

    clearIonResolutionCache();
    const resolved = await resolveIon(created.shortFormDid, { nodeUrl: NODE });
    expect(resolved.didDocument?.verificationMethod.map((v) => v.id)).toEqual([
      `${created.shortFormDid}#key-1`,
      `${created.shortFormDid}#key-2`,
    ]);

    // A custodial recovery key deactivates it; the node then answers 410.
    const deactivate = await signOperation(
      await prepareDeactivate({ didSuffix: created.didSuffix, recoveryKey: recovery.jwk }),
      await importSigner("secp256k1", recovery.d, recovery.jwk),
    );
    expect((await postOperation(NODE, deactivate)).ok).toBe(true);
    clearIonResolutionCache();
    expect((await resolveIon(created.shortFormDid, { nodeUrl: NODE })).didDocumentMetadata.deactivated).toBe(true);
  });

  it("tells a node that is down (retry with backoff) from one that refuses the operation", async () => {
    const created = await buildCreate({ publicKeys: [signingKey("key-1")], updateKey: opKey().jwk, recoveryKey: opKey().jwk });
    await fetch(`${NODE}/_test/fail?count=1&match=${created.request.suffixData.deltaHash}`, { method: "PUT" });
    expect(await postOperation(NODE, created.request)).toMatchObject({ ok: false, retry: true, status: 503 });
    expect((await postOperation(NODE, created.request)).ok).toBe(true);

    // The SDK's validators run at the node: a delta over ION's 1000-byte limit is refused.
    const bloated = structuredClone(created.request);
    bloated.delta.patches = [{ action: "replace", document: { publicKeys: Array.from({ length: 8 }, (_, i) => signingKey(`key-${i}`)) } }];
    const refused = await postOperation(NODE, bloated);
    expect(refused).toMatchObject({ ok: false, retry: false, status: 400 });
    expect((await nodeLog()).at(-1)?.reason).toMatch(/SDK validation: DeltaExceedsMaximumSize: Delta of \d+ bytes exceeded/);

    const delays = [0, 1, 2, 30].map((a) => anchorBackoffMs(a, () => 0.5));
    expect(delays).toEqual([5_000, 10_000, 20_000, 7_200_000]);
    expect(await parseIonDid("did:ion:short")).toBeNull();
  });
});
