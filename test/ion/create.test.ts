/** What PUT /v1/dids/ion makes of its body: keys by custody, the create operation, the documents. */
import { describe, expect, it } from "vitest";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { jwkFromPublicKeyBytes } from "../../src/crypto";
import { planIonDid } from "../../src/did/ion/create";
import { resolveIon } from "../../src/did/ion/resolver";

const pub = () => jwkFromPublicKeyBytes("secp256k1", secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true));

describe("did:ion create plan", () => {
  it("custodial: generates the signing, update and recovery keys; the long form resolves to the same keys", async () => {
    const plan = await planIonDid({ keyType: "Ed25519", custody: "custodial" });
    if (!plan.ok) throw new Error(plan.detail);
    expect(plan.value.keys.map((k) => [k.role, k.keyType, k.privateKey?.length])).toEqual([
      ["signing", "Ed25519", 32],
      ["update", "secp256k1", 32],
      ["recovery", "secp256k1", 32],
    ]);
    expect(plan.value.document.id).toBe(plan.value.created.shortFormDid);
    const local = await resolveIon(plan.value.created.longFormDid);
    expect(local.didDocument?.verificationMethod[0]?.publicKeyJwk).toEqual(plan.value.keys[0]!.publicJwk);
  });

  it("external: takes the public keys with their keyRefs and refuses missing or private ones", async () => {
    const signing = pub();
    const plan = await planIonDid({
      keyType: "secp256k1",
      custody: "external",
      publicKeyJwk: signing,
      keyRef: "kms:sign",
      updateKeyJwk: pub(),
      updateKeyRef: "kms:update",
      recoveryKeyJwk: pub(),
      recoveryKeyRef: "kms:recover",
    });
    if (!plan.ok) throw new Error(plan.detail);
    expect(plan.value.keys.map((k) => [k.role, k.keyRef, k.privateKey])).toEqual([
      ["signing", "kms:sign", undefined],
      ["update", "kms:update", undefined],
      ["recovery", "kms:recover", undefined],
    ]);
    expect(await planIonDid({ keyType: "secp256k1", custody: "external", publicKeyJwk: signing, recoveryKeyJwk: pub() })).toMatchObject({
      ok: false,
      path: "updateKeyJwk",
    });
    expect(
      await planIonDid({
        keyType: "secp256k1",
        custody: "external",
        publicKeyJwk: signing,
        updateKeyJwk: { ...pub(), d: "AAAA" },
        recoveryKeyJwk: pub(),
      }),
    ).toMatchObject({ ok: false, code: "invalid_public_key", path: "updateKeyJwk.d" });
    const same = pub();
    expect(
      await planIonDid({ keyType: "secp256k1", custody: "external", publicKeyJwk: signing, updateKeyJwk: same, recoveryKeyJwk: same }),
    ).toMatchObject({ ok: false, path: "recoveryKeyJwk" });
    expect(await planIonDid({ keyType: "Ed25519", custody: "custodial", updateKeyJwk: pub() })).toMatchObject({
      ok: false,
      path: "updateKeyJwk",
    });
  });
});
