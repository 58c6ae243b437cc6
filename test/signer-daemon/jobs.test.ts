import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { keygenJwk, openJwkBackend } from "../../signer/src/backends/jwk.js";
import { JobRunner } from "../../signer/src/jobs.js";
import { Log } from "../../signer/src/log.js";
import { credentialPayload } from "./shapes.js";
import { signingInputOf, verifyJws } from "./verify.js";

const DID = "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169";
const KID = `${DID}#zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169`;

describe("JobRunner", () => {
  it("answers a re-offered job with the same ECDSA signature, and forgets nothing it settled", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "ssi-signer-j-")), "k.jwk");
    const kg = await keygenJwk("P-256", file);
    const lines: Record<string, unknown>[] = [];
    const log = new Log(
      (l) => lines.push(JSON.parse(l)),
      () => {},
    );
    const runner = new JobRunner(await openJwkBackend(file), { did: DID, kid: KID, concurrency: 2 }, log);
    const job = {
      id: "j1",
      did: DID,
      verificationMethodId: KID,
      alg: "ES256",
      kind: "credential",
      signingInput: signingInputOf({ alg: "ES256", kid: KID, typ: "JWT" }, credentialPayload(DID, "did:example:a")),
    };
    const first = await runner.offer(job);
    expect(first?.type).toBe("sign");
    expect(await verifyJws("ES256", kg.publicKeyJwk, job.signingInput, (first as { signature: string }).signature)).toBe(true);
    // ECDSA is randomised: re-signing would give a different signature, which the service
    // refuses (409 job_already_signed) if the first one landed.
    expect(await runner.offer(job)).toEqual(first);
    expect(runner.pending).toBe(1);
    runner.detach(); // the connection dropped: no result can come for it
    expect(runner.pending).toBe(0);
    expect(await runner.offer(job)).toEqual(first);
    runner.settle("j1", "signed");
    expect(await runner.offer(job)).toBeUndefined();
    expect(lines).toMatchObject([{ event: "signed", id: "j1", kind: "credential", alg: "ES256" }]);

    // A header whose alg or kid differs from the job is refused, not signed.
    const forged = {
      ...job,
      id: "j2",
      signingInput: signingInputOf({ alg: "ES256", kid: "did:x#y" }, {}),
    };
    expect(await runner.offer(forged)).toMatchObject({
      type: "reject",
      reason: expect.stringMatching(/kid/),
    });
    const wrongAlg = { ...job, id: "j3", alg: "EdDSA" };
    expect(await runner.offer(wrongAlg)).toMatchObject({
      type: "reject",
      reason: expect.stringMatching(/ES256/),
    });
  });

  it("with --max-unconfirmed, signs the next job only when the service confirmed one, and gives up waiting when draining", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "ssi-signer-w-")), "k.jwk");
    await keygenJwk("P-256", file);
    const runner = new JobRunner(
      await openJwkBackend(file),
      { did: DID, kid: KID, concurrency: 4, maxUnconfirmed: 2 },
      new Log(
        () => {},
        () => {},
      ),
    );
    const job = (id: string) => ({
      id,
      did: DID,
      verificationMethodId: KID,
      alg: "ES256",
      kind: "credential",
      signingInput: signingInputOf({ alg: "ES256", kid: KID, typ: "JWT" }, credentialPayload(DID, `did:example:${id}`)),
    });
    const answered: string[] = [];
    const offered = ["a", "b", "c", "d", "e"].map((id) => runner.offer(job(id)).then((a) => a && answered.push(a.id)));
    await Promise.all(offered.slice(0, 2));
    expect(answered.sort()).toEqual(["a", "b"]);
    // c, d and e wait for a verdict: nothing else is signed while two signatures are unconfirmed.
    expect(runner.inflight).toBe(3);
    runner.settle("a", "signed");
    await offered[2];
    expect(answered).toContain("c");
    expect(answered).toHaveLength(3);
    // A verdict that leaves the job pending upstream frees its place too.
    runner.settle("b", "rejected", "invalid_signature");
    await offered[3];
    expect(answered).toHaveLength(4);
    // Draining: the last waiter gives up, unsigned; its job stays with the service.
    runner.draining = true;
    await offered[4];
    expect(answered).not.toContain("e");
    expect(runner.inflight).toBe(0);
    // A dropped connection frees the window as well: answers sent on it get no verdict.
    runner.draining = false;
    runner.detach();
    expect(await runner.offer(job("f"))).toMatchObject({ type: "sign", id: "f" });
  });
});

describe("JobRunner against a hostile job it cannot even inspect", () => {
  it("rejects with a reason instead of dropping the job to be re-offered every lease", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "ssi-signer-j-")), "k.jwk");
    await keygenJwk("P-256", file);
    const lines: Record<string, unknown>[] = [];
    const runner = new JobRunner(
      await openJwkBackend(file),
      { did: DID, kid: KID, keyRef: "pkcs11:token=issuer;object=vc-signing", concurrency: 1 },
      new Log(
        (l) => lines.push(JSON.parse(l)),
        () => {},
      ),
    );
    const base = {
      did: DID,
      verificationMethodId: KID,
      alg: "ES256",
      kind: "credential",
      signingInput: signingInputOf({ alg: "ES256", kid: KID, typ: "JWT" }, credentialPayload(DID, "did:example:a")),
    };
    // Malformed percent-encoding in the job's keyRef (decodeURIComponent throws).
    const badRef = { ...base, id: "k1", keyRef: "pkcs11:token=%E0%A4%A;object=vc-signing" };
    expect(await runner.offer(badRef)).toMatchObject({ type: "reject", id: "k1" });
    // Signed bytes nested past any recursion limit: decoding them overflows the stack.
    const N = 100_000;
    const claims = JSON.stringify(credentialPayload(DID, "did:example:a", { data: { deep: 0 } }));
    const deepClaims = claims.replace('"deep":0', `"deep":${'{"a":'.repeat(N)}{}${"}".repeat(N)}`);
    const header = Buffer.from(JSON.stringify({ alg: "ES256", kid: KID, typ: "JWT" })).toString("base64url");
    const deepInput = { ...base, id: "k2", signingInput: `${header}.${Buffer.from(deepClaims).toString("base64url")}` };
    expect(await runner.offer(deepInput)).toMatchObject({ type: "reject", id: "k2" });
    expect(lines.filter((l) => l.event === "failed")).toEqual([]);
  });
});
