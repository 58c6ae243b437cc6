/**
 * P5 breadth: ISSUERS external issuers (default 1,000), each with its own signer socket (a Node
 * WebSocket client that signs every job it is offered), one credential each at c=16, until every
 * one is signed. Baseline, in alternating rounds: the bare Worker's `PUT /fresh`, whose Durable
 * Object is a new one on every request. Exactly once is checked: every socket sees one `signed`
 * result for one job, and every operation is done with its JWT.
 * Also DID creation (`PUT /v1/dids/key`, external Ed25519, c=16) vs the floor's `PUT /floor`.
 */
import { generateKeyPairSync, sign as nodeSign, type KeyObject } from "node:crypto";
import { startDevServer } from "../scripts/dev-server.ts";
import { credentialRequest } from "./issuance.ts";
import { alternate, client, isEntry, load, machine, pool, report, startFloor } from "./lib.ts";

const ISSUERS = Number(process.env.BENCH_ISSUERS ?? 1000);
const ROUNDS = 4;
const CONCURRENCY = 16;

interface Issuer {
  id: string;
  vm: string;
  key: KeyObject;
  ws?: WebSocket;
  signed: string[];
  offered: number;
  resolveSigned?: () => void;
}

/** A signer socket that signs whatever it is offered and counts what the service confirms. */
async function connect(url: string, token: string, issuer: Issuer): Promise<void> {
  const ws = new WebSocket(`${url.replace(/^http/, "ws")}/v1/signjobs/connect?did=${encodeURIComponent(issuer.id)}`);
  issuer.ws = ws;
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => ws.send(JSON.stringify({ type: "auth", token: `Bearer ${token}` })));
    ws.addEventListener("error", () => reject(new Error("socket error")));
    ws.addEventListener("message", (ev) => {
      const msg = JSON.parse(String(ev.data)) as {
        type: string;
        jobs?: { id: string; signingInput: string }[];
        id?: string;
        status?: string;
        results?: { id: string; status: string; code?: string }[];
      };
      if (msg.type === "ready") resolve();
      if (msg.type === "jobs") {
        for (const j of msg.jobs ?? []) {
          issuer.offered++;
          const signature = nodeSign(null, Buffer.from(j.signingInput, "ascii"), issuer.key).toString("base64url");
          ws.send(JSON.stringify({ type: "sign", id: j.id, signature }));
        }
      }
      const results =
        msg.type === "result" ? [{ id: msg.id!, status: msg.status!, code: undefined }] : msg.type === "results" ? msg.results! : [];
      for (const r of results) {
        if (r.status === "signed" && !r.code) {
          issuer.signed.push(r.id);
          issuer.resolveSigned?.();
        }
      }
    });
  });
}

export async function main(): Promise<void> {
  console.log(`# ssi-edge breadth benchmark (${machine()}, ${load()}, ${ISSUERS} issuers)`);
  const [server, floorServer] = await Promise.all([startDevServer(), startFloor()]);
  try {
    const call = client(server.url, server.token);
    const floorCall = client(floorServer.url, "");
    const keys = Array.from({ length: ISSUERS }, () => generateKeyPairSync("ed25519"));
    const issuers: Issuer[] = [];
    await pool(50, CONCURRENCY, async (i) => void (await floorCall("PUT", "/fresh", { i }, [201])));
    await pool(50, CONCURRENCY, async (i) => void (await floorCall("PUT", "/floor", { i }, [201])));

    // DID creation vs the floor, alternating: ISSUERS DIDs in ROUNDS rounds.
    const perRound = Math.ceil(ISSUERS / ROUNDS);
    const [floorRate, didRate] = await alternate(ROUNDS, [
      {
        name: `floor: bare Worker, 1 D1 insert/request, c=${CONCURRENCY}`,
        unit: "requests",
        items: perRound,
        run: (r) => pool(perRound, CONCURRENCY, async (i) => void (await floorCall("PUT", "/floor", { r, i, keyType: "Ed25519" }, [201]))),
      },
      {
        name: `P5 DID creation (external Ed25519), c=${CONCURRENCY}`,
        unit: "DIDs",
        items: perRound,
        run: (r) =>
          pool(perRound, CONCURRENCY, async (i) => {
            const n = r * perRound + i;
            if (n >= ISSUERS) return;
            const key = keys[n]!;
            const x = key.publicKey.export({ format: "jwk" }).x!;
            const did = (
              await call(
                "PUT",
                "/v1/dids/key",
                { keyType: "Ed25519", custody: "external", publicKeyJwk: { kty: "OKP", crv: "Ed25519", x } },
                [201],
              )
            ).did;
            issuers[n] = { id: did.id, vm: did.verificationMethod[0].id, key: key.privateKey, signed: [], offered: 0 };
          }),
      },
    ]);

    await pool(ISSUERS, CONCURRENCY, (i) => connect(server.url, server.token, issuers[i]!));
    const operations: string[] = [];
    const [fresh, breadth] = await alternate(ROUNDS, [
      {
        name: `bare Worker, a fresh Durable Object per request, c=${CONCURRENCY}`,
        unit: "requests",
        items: perRound,
        run: (r) =>
          pool(
            perRound,
            CONCURRENCY,
            async (i) => void (await floorCall("PUT", "/fresh", credentialRequest("x", "y", r * perRound + i), [201])),
          ),
      },
      {
        name: `P5 ${ISSUERS} issuers with a signer socket each, one credential each (issued → signed), c=${CONCURRENCY}`,
        unit: "credentials",
        items: perRound,
        run: (r) =>
          pool(perRound, CONCURRENCY, async (i) => {
            const issuer = issuers[r * perRound + i];
            if (!issuer) return;
            const signed = new Promise<void>((resolve) => (issuer.resolveSigned = resolve));
            const op = await call<{ id: string }>(
              "PUT",
              "/v1/credentials",
              credentialRequest(issuer.id, issuer.vm, r * perRound + i),
              [202],
            );
            operations.push(op.id);
            await signed;
          }),
      },
    ]);

    // Exactly once: one confirmed signature per issuer, and every operation done with its JWT.
    const wrong = issuers.filter((s) => s.signed.length !== 1);
    let notDone = 0;
    await pool(operations.length, CONCURRENCY, async (i) => {
      const op = await call<{ done: boolean; result?: { response?: { credentialJwt?: string } } }>(
        "GET",
        `/v1/operations/${operations[i]}`,
        undefined,
        [200],
      );
      if (!op.done || !op.result?.response?.credentialJwt) notDone++;
    });
    const reoffered = issuers.reduce((n, s) => n + (s.offered - 1), 0);
    console.log(
      `\nexactly once: ${wrong.length === 0 && notDone === 0 ? "✓" : "✗"} (${ISSUERS - wrong.length}/${ISSUERS} issuers with exactly one signed job, ${operations.length - notDone}/${operations.length} operations done, ${reoffered} re-offers)`,
    );
    report(`P5 breadth (${load()})`, [
      { rate: floorRate! },
      { rate: didRate!, baseline: floorRate!, target: "at the floor's pace" },
      { rate: fresh! },
      { rate: breadth!, baseline: fresh!, target: "≥ 0.8×" },
    ]);
    for (const s of issuers) s.ws?.close();
  } finally {
    await Promise.all([server.stop(), floorServer.stop()]);
  }
}

if (isEntry(import.meta.url)) await main();
