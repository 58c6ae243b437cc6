import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { keygenJwk } from "../../signer/src/backends/jwk.js";
import { defaultKid } from "../../signer/src/didauth.js";
import { FakeService, until } from "./fake-service.js";
import { credentialPayload } from "./shapes.js";
import { PIN, TOKEN, freshToken, pkcs11KeyArgs, softhsmAvailable } from "./softhsm.js";

const BIN = new URL("../../signer/bin/ssi-edge-signer.js", import.meta.url).pathname;
const DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";

/** Runs the real bin as a child process, collecting its stdout JSON lines and exit. */
function spawnSigner(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let stdoutRaw = "";
  const out: Record<string, unknown>[] = [];
  let stderr = "";
  let buf = "";
  child.stdout.on("data", (d: Buffer) => {
    buf += d.toString();
    stdoutRaw += d.toString();
    if (args[0] !== "run") return;
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      out.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  });
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<{ code: number | null; at: number }>((r) => child.on("exit", (code) => r({ code, at: Date.now() })));
  return { child, out, exit, stderr: () => stderr, stdoutRaw: () => stdoutRaw };
}

describe("the ssi-edge-signer process", () => {
  it("on SIGTERM stops taking jobs, waits for the answer in flight, closes cleanly and exits 0", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ssi-signer-drain-"));
    const keyFile = join(dir, "k.jwk");
    const kg = await keygenJwk("Ed25519", keyFile);
    const policy = join(dir, "policy.json");
    writeFileSync(policy, JSON.stringify({ kinds: ["credential"] }));
    const svc = await new FakeService({
      did: DID,
      kid: defaultKid(DID),
      jwk: kg.publicKeyJwk,
      alg: "EdDSA",
    }).start();
    const p = spawnSigner(["run", "--url", svc.url, "--did", DID, "--backend", "jwk", "--key-file", keyFile, "--policy", policy]);
    try {
      await until(() => svc.authOk === 1, 15_000, `auth (stderr: ${p.stderr()})`);
      svc.resultDelayMs = 1500; // the service is slow to confirm: the signer must wait for it
      const job = svc.addJob(credentialPayload(DID, "did:example:alice"));
      await until(() => svc.signsFor(job.id) === 1, 5000, "sign frame");
      const termAt = Date.now();
      p.child.kill("SIGTERM");
      await until(() => p.stderr().includes('"draining"'), 5000, "draining log");
      const late = svc.addJob(credentialPayload(DID, "did:example:bob")); // arrives while draining
      const { code, at } = await p.exit;
      expect(code).toBe(0);
      // It waited for the service's answer (held back 1.5 s) before closing and exiting.
      expect(at).toBeGreaterThanOrEqual(svc.resultSentAt!);
      expect(termAt).toBeLessThan(svc.resultSentAt!);
      expect(svc.jobs.get(job.id)!.status).toBe("signed");
      expect(p.out.find((l) => l.id === job.id)).toMatchObject({
        event: "signed",
        kind: "credential",
        alg: "EdDSA",
      });
      expect(svc.signsFor(late.id)).toBe(0); // left pending for another signer
      expect(svc.closes.at(-1)).toEqual({ code: 1000, reason: "signer shutting down" });
      expect(p.out.at(-1)).toMatchObject({ event: "stats", signed: 1, final: true });
    } finally {
      p.child.kill("SIGKILL");
      await svc.stop();
    }
  });

  it.skipIf(!softhsmAvailable())("keygen --backend pkcs11 prints a ready PUT /v1/dids/key body", async () => {
    const { env } = freshToken();
    const p = spawnSigner(["keygen", ...pkcs11KeyArgs("cli-key", "PIN_X"), "--key-type", "secp256k1"], { ...env, PIN_X: PIN });
    const { code } = await p.exit;
    expect(code, p.stderr()).toBe(0);
    const printed = JSON.parse(p.stdoutRaw());
    expect(printed).toMatchObject({
      publicKeyJwk: { kty: "EC", crv: "secp256k1" },
      keyRef: `pkcs11:token=${TOKEN};object=cli-key`,
      body: {
        keyType: "secp256k1",
        custody: "external",
        keyRef: `pkcs11:token=${TOKEN};object=cli-key`,
      },
    });
    expect(printed.body.publicKeyJwk).toEqual(printed.publicKeyJwk);
  });

  it("refuses a cleartext --url to another machine, in socket and poll mode, unless told to", async () => {
    const args = ["run", "--did", DID, "--backend", "jwk", "--key-file", "/nonexistent.jwk"];
    for (const mode of [[], ["--poll"]]) {
      const p = spawnSigner([...args, ...mode, "--url", "http://issuer.example.com"]);
      const { code } = await p.exit;
      expect(code).toBe(2);
      expect(p.stderr()).toMatch(/refusing cleartext http:\/\/ and ws:\/\/ to issuer.example.com/);
    }
    // With the flag it gets past the check (and stops at the missing key file instead).
    const p = spawnSigner([...args, "--url", "http://issuer.example.com", "--allow-insecure"]);
    expect((await p.exit).code).toBe(1);
    expect(p.stderr()).toMatch(/nonexistent.jwk/);
  });

  it("prints usage and exits 2 on a missing option", async () => {
    const p = spawnSigner(["run", "--url", "http://127.0.0.1:1"]);
    const { code } = await p.exit;
    expect(code).toBe(2);
    expect(p.stderr()).toMatch(/--did is required/);
  });
});
