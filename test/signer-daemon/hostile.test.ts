/**
 * A compromised service against the daemon's policy. The fake service plays every trick a
 * service that controls the job stream has: labels that lie, a `payload`/`digest` that is not
 * what is signed, subjects smuggled past a subject filter, tokens that would log in somewhere,
 * header swaps, jobs for another key, malformed and oversized input. The key is a real SoftHSM2
 * token (pkcs11 backend); every signature the HSM makes is recorded, and none of them may be over
 * a hostile job. The legitimate jobs, in exactly the shapes ssi-edge builds, are still signed.
 */
import { createHash } from "node:crypto";
import { base64url } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import type { KeyType, SigningBackend } from "../../signer/src/backend.js";
import { keygenPkcs11, openPkcs11Backend, pkcs11Uri } from "../../signer/src/backends/pkcs11.js";
import { runSocket } from "../../signer/src/connection.js";
import { JobRunner } from "../../signer/src/jobs.js";
import { Log } from "../../signer/src/log.js";
import type { Policy } from "../../signer/src/policy.js";
import { runPoll } from "../../signer/src/poll.js";
import { FakeService, until, type FakeJob } from "./fake-service.js";
import { credentialPayload, statusListPayload } from "./shapes.js";
import { PIN, SOFTHSM_MODULE, TOKEN, freshToken, softhsmAvailable } from "./softhsm.js";
import { signingInputOf } from "./verify.js";

const DID = "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169";
const KID = `${DID}#zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169`;
const ALICE = "did:example:alice";
const BOB = "did:example:bob";
const POLICY: Policy = { kinds: ["credential", "status-list", "manifest"], subjects: [ALICE] };

/** A manifest job's claims as ssi-edge builds them (src/manifests/build.ts), signed as `iss`. */
const manifestPayload = (iss: string) => ({
  iss,
  iat: 1_700_000_000,
  jti: "m-1",
  credential_manifest: {
    id: "m-1",
    spec_version: "https://identity.foundation/credential-manifest/spec/v1.0.0/",
    issuer: { id: iss },
    output_descriptors: [{ id: "o", schema: "https://example.com/s" }],
  },
});

type Add = FakeService["addJob"];
interface Case {
  name: string;
  /** Creates the job on the service. */
  make: (add: Add, ctx: { alg: string; keyRef: string }) => FakeJob;
  /** What the rejection reason must say: the check that caught it. */
  reason: RegExp;
}

const enc = (v: unknown) => base64url.encode(typeof v === "string" ? v : JSON.stringify(v));
const sha = (s: string) => createHash("sha256").update(s).digest("base64url");
const cred = (o: Parameters<typeof credentialPayload>[2] = {}, subject = ALICE) => credentialPayload(DID, subject, o);
const vc2 = (subject = ALICE) => cred({ format: "vc+jwt" }, subject);
const didAuth = () => ({
  iss: DID,
  aud: "https://issuer.example",
  iat: 1_764_000_000,
  exp: 1_764_000_300,
  jti: "j",
});
const header = (alg: string, extra: Record<string, unknown> = { typ: "JWT" }) => ({
  ...extra,
  alg,
  kid: KID,
});
/**
 * A job whose signingInput is `signingInput` (whatever the service wants the HSM to sign), with a
 * consistent `payload` and `digest`, so that only the check under test can catch it.
 */
const raw = (add: Add, signingInput: string, kind = "credential") => {
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(signingInput.split(".")[1] ?? "", "base64url").toString());
  } catch {
    payload = undefined;
  }
  const shown = typeof payload === "object" && payload !== null && !Array.isArray(payload) ? payload : undefined;
  return add(cred(), kind, {
    job: { signingInput, digest: sha(signingInput), payload: shown as Record<string, unknown> },
  });
};
const withVc = (p: Record<string, unknown>, f: (vc: Record<string, unknown>) => void) => {
  f(p.vc as Record<string, unknown>);
  return p;
};

const HOSTILE: Case[] = [
  // Labels that lie about what is signed.
  {
    name: "credential for bob labelled status-list (jwt_vc)",
    make: (a) => a(cred({}, BOB), "status-list"),
    reason: /labelled status-list but signingInput is a credential/,
  },
  {
    name: "credential for bob labelled status-list (vc+jwt)",
    make: (a) => a(vc2(BOB), "status-list"),
    reason: /labelled status-list/,
  },
  {
    name: "credential for alice labelled status-list",
    make: (a) => a(cred(), "status-list"),
    reason: /labelled status-list/,
  },
  {
    name: "status list labelled credential",
    make: (a) => a(statusListPayload(DID)),
    reason: /labelled credential but signingInput is a status-list/,
  },
  {
    name: "credential for bob labelled manifest",
    make: (a) => a(cred({}, BOB), "manifest"),
    reason: /labelled manifest but signingInput is a credential/,
  },
  {
    name: "credential labelled did-operation",
    make: (a) => a(cred(), "did-operation"),
    reason: /labelled did-operation/,
  },
  {
    name: "manifest label with a vc claim",
    make: (a) => a({ iss: DID, vc: { name: "x" } }, "manifest"),
    reason: /labelled manifest but signingInput is a credential/,
  },
  {
    name: "verifiable presentation labelled credential",
    make: (a) => a({ iss: DID, vp: { type: ["VerifiablePresentation"], verifiableCredential: [] } }),
    reason: /presentation/,
  },
  {
    name: "schema label not named by the policy",
    make: (a) => a({ iss: DID, title: "schema" }, "schema"),
    reason: /kind "schema" not allowed/,
  },
  {
    name: "manifest with a subject",
    make: (a) => a({ ...manifestPayload(DID), sub: BOB }, "manifest"),
    reason: /manifest payload has "sub"/,
  },
  {
    name: "manifest issued as another DID",
    make: (a) => a(manifestPayload("did:example:evil"), "manifest"),
    reason: /iss is not/,
  },
  // Tokens that would authenticate somewhere.
  {
    name: "DID-auth token labelled manifest",
    make: (a) => a(didAuth(), "manifest"),
    reason: /"aud"/,
  },
  { name: "DID-auth token labelled credential", make: (a) => a(didAuth()), reason: /"aud"/ },
  {
    name: "DID-auth token labelled status-list",
    make: (a) => a(didAuth(), "status-list"),
    reason: /"aud"/,
  },
  {
    name: "jwt_vc credential with aud",
    make: (a) => a({ ...cred(), aud: "https://verifier.example" }),
    reason: /"aud"/,
  },
  {
    name: "jwt_vc credential with nonce",
    make: (a) => a({ ...cred(), nonce: "n-0S6_WzA2Mj" }),
    reason: /"nonce"/,
  },
  {
    name: "vc+jwt credential with aud",
    make: (a) => a({ ...vc2(), aud: "https://verifier.example" }),
    reason: /"aud"/,
  },
  {
    name: "vc+jwt credential with nonce",
    make: (a) => a({ ...vc2(), nonce: "n" }),
    reason: /"nonce"/,
  },
  {
    name: "credential with a cnf (proof of possession) claim",
    make: (a) => a({ ...cred(), cnf: { jkt: "x" } }),
    reason: /"cnf"/,
  },
  {
    name: "DPoP-shaped proof labelled manifest",
    make: (a) => a({ jti: "x", htm: "POST", htu: "https://rs.example/token", iat: 1 }, "manifest"),
    reason: /"htm"/,
  },
  // Subjects smuggled past the subject filter.
  {
    name: "sub alice, credentialSubject.id bob",
    make: (a) => a(withVc(cred(), (vc) => (vc.credentialSubject = { id: BOB, name: "Bob" }))),
    reason: /sub "did:example:alice" is not credentialSubject.id did:example:bob/,
  },
  {
    name: "sub alice, credentialSubject [alice, bob]",
    make: (a) => a(withVc(cred(), (vc) => (vc.credentialSubject = [{ id: ALICE }, { id: BOB }]))),
    reason: /credentialSubject is not one object/,
  },
  {
    name: "vc+jwt credentialSubject [alice, bob]",
    make: (a) => a({ ...vc2(), credentialSubject: [{ id: ALICE }, { id: BOB }] }),
    reason: /not one object/,
  },
  {
    name: "vc+jwt credentialSubject as a one-element array",
    make: (a) => a({ ...vc2(), credentialSubject: [{ id: ALICE }] }),
    reason: /not one object/,
  },
  {
    name: "credentialSubject without an id",
    make: (a) => a(withVc(cred(), (vc) => (vc.credentialSubject = { name: "Bob" }))),
    reason: /credentialSubject has no id/,
  },
  {
    name: "credential for bob, correctly labelled",
    make: (a) => a(cred({}, BOB)),
    reason: /subject "did:example:bob" not allowed by signer policy/,
  },
  {
    name: "vc+jwt credential for bob",
    make: (a) => a(vc2(BOB)),
    reason: /subject "did:example:bob" not allowed/,
  },
  {
    name: "holder member naming bob",
    make: (a) => a(withVc(cred(), (vc) => (vc.holder = BOB))),
    reason: /credential has "holder"/,
  },
  {
    name: "credentialSubject at the jwt_vc top level",
    make: (a) => a({ ...cred(), credentialSubject: { id: BOB } }),
    reason: /jwt_vc payload has "credentialSubject"/,
  },
  // Issuer, identifiers, context.
  {
    name: "credential issued as another DID",
    make: (a) => a(withVc({ ...cred(), iss: "did:example:evil" }, (vc) => (vc.issuer = "did:example:evil"))),
    reason: /iss is not/,
  },
  {
    name: "vc.issuer differs from iss",
    make: (a) => a(withVc(cred(), (vc) => (vc.issuer = "did:example:evil"))),
    reason: /credential issuer is not/,
  },
  {
    name: "vc+jwt issuer as another DID",
    make: (a) => a({ ...vc2(), issuer: "did:example:evil" }),
    reason: /credential issuer is not/,
  },
  {
    name: "jti is not the credential id",
    make: (a) => a({ ...cred(), jti: "urn:uuid:other" }),
    reason: /jti is not the credential id/,
  },
  {
    name: "type without VerifiableCredential first",
    make: (a) => a(withVc(cred(), (vc) => (vc.type = ["EmployeeCredential", "VerifiableCredential"]))),
    reason: /type does not start/,
  },
  {
    name: "jwt_vc with the VC 2.0 context",
    make: (a) => a(withVc(cred(), (vc) => (vc["@context"] = ["https://www.w3.org/ns/credentials/v2"]))),
    reason: /@context/,
  },
  {
    name: "iat smuggled into a jwt_vc",
    make: (a) => a({ ...cred(), iat: 1 }),
    reason: /jwt_vc payload has "iat"/,
  },
  // Status lists that are not the list's own.
  {
    name: "status list with a second subject",
    make: (a) =>
      a(
        withVc(statusListPayload(DID), (vc) => (vc.credentialSubject = [vc.credentialSubject, { id: BOB }])),
        "status-list",
      ),
    reason: /not one object/,
  },
  {
    name: "status list whose subject is bob",
    make: (a) => {
      const p = statusListPayload(DID);
      const vc = p.vc as Record<string, Record<string, unknown>>;
      vc.credentialSubject!.id = BOB;
      p.sub = BOB;
      return a(p, "status-list");
    },
    reason: /not the list's own/,
  },
  {
    name: "status list id that is bob's DID",
    make: (a) => a(statusListPayload(DID, "jwt_vc", BOB), "status-list"),
    reason: /not an http\(s\) URL/,
  },
  {
    name: "status list subject carrying a name",
    make: (a) =>
      a(
        withVc(statusListPayload(DID), (vc) => ((vc.credentialSubject as Record<string, unknown>).name = "Bob")),
        "status-list",
      ),
    reason: /status list subject has "name"/,
  },
  {
    name: "status list without encodedList",
    make: (a) =>
      a(
        withVc(statusListPayload(DID), (vc) => delete (vc.credentialSubject as Record<string, unknown>).encodedList),
        "status-list",
      ),
    reason: /no encodedList/,
  },
  {
    name: "status list sub differs from its subject",
    make: (a) => a({ ...statusListPayload(DID), sub: BOB }, "status-list"),
    reason: /sub is not its subject/,
  },
  {
    name: "status list with a schema",
    make: (a) => a({ ...statusListPayload(DID, "vc+jwt"), credentialSchema: { id: "s" } }, "status-list"),
    reason: /status list credential has "credentialSchema"/,
  },
  {
    name: "status list with an expiry",
    make: (a) => a({ ...statusListPayload(DID), exp: 2_000_000_000 }, "status-list"),
    reason: /no exp/,
  },
  // What is shown is not what is signed.
  {
    name: "payload shows alice, signingInput is bob's",
    make: (a, { alg }) => {
      const si = signingInputOf(header(alg), cred({}, BOB));
      return a(cred(), "credential", { job: { signingInput: si, digest: sha(si) } });
    },
    reason: /payload differs/,
  },
  {
    name: "payload shows a status list, signingInput is a credential",
    make: (a, { alg }) => {
      const si = signingInputOf(header(alg), cred());
      return a(statusListPayload(DID), "status-list", {
        job: { signingInput: si, digest: sha(si) },
      });
    },
    reason: /payload differs/,
  },
  {
    name: "digest of another input",
    make: (a, { alg }) => a(cred(), "credential", { job: { digest: sha(signingInputOf(header(alg), cred({}, BOB))) } }),
    reason: /digest is not the SHA-256/,
  },
  {
    name: "digest that is not base64url SHA-256 at all",
    make: (a) => a(cred(), "credential", { job: { digest: "AAAA" } }),
    reason: /digest/,
  },
  // Header swaps.
  {
    name: "header alg differs from the job's",
    make: (a, { alg }) => raw(a, signingInputOf({ typ: "JWT", alg: alg === "EdDSA" ? "ES256" : "EdDSA", kid: KID }, cred())),
    reason: /header alg/,
  },
  {
    name: "job alg is not the key's",
    make: (a, { alg }) => {
      const other = alg === "ES256K" ? "ES256" : "ES256K";
      return a(cred(), "credential", {
        job: { alg: other, signingInput: signingInputOf(header(other), cred()) },
      });
    },
    reason: /signer key is/,
  },
  {
    name: "header kid of another method",
    make: (a, { alg }) => raw(a, signingInputOf({ typ: "JWT", alg, kid: `${DID}#other` }, cred())),
    reason: /kid is not/,
  },
  {
    name: "header without kid",
    make: (a, { alg }) => raw(a, signingInputOf({ typ: "JWT", alg }, cred())),
    reason: /kid is not/,
  },
  {
    name: "typ dpop+jwt on a credential",
    make: (a, { alg }) => raw(a, signingInputOf(header(alg, { typ: "dpop+jwt" }), cred())),
    reason: /typ "dpop\+jwt"/,
  },
  {
    name: "typ JWT on a vc+jwt payload",
    make: (a, { alg }) => raw(a, signingInputOf(header(alg), vc2())),
    reason: /jwt_vc payload has/,
  },
  {
    name: "typ vc+jwt on a jwt_vc payload",
    make: (a, { alg }) => raw(a, signingInputOf(header(alg, { typ: "vc+jwt", cty: "vc" }), cred())),
    reason: /credential has "iss"|has "iss"/,
  },
  {
    name: "vc+jwt without cty",
    make: (a, { alg }) => raw(a, signingInputOf(header(alg, { typ: "vc+jwt" }), vc2())),
    reason: /cty/,
  },
  {
    name: "typ absent",
    make: (a, { alg }) => raw(a, signingInputOf({ alg, kid: KID }, cred())),
    reason: /typ/,
  },
  {
    name: "crit header",
    make: (a, { alg }) => raw(a, signingInputOf(header(alg, { typ: "JWT", crit: ["exp"] }), cred())),
    reason: /header has "crit"/,
  },
  {
    name: "b64:false header",
    make: (a, { alg }) => raw(a, signingInputOf(header(alg, { typ: "JWT", b64: false, crit: ["b64"] }), cred())),
    reason: /header has "b64"/,
  },
  {
    name: "embedded jwk header",
    make: (a, { alg }) => raw(a, signingInputOf(header(alg, { typ: "JWT", jwk: { kty: "OKP" } }), cred())),
    reason: /header has "jwk"/,
  },
  {
    name: "jku header",
    make: (a, { alg }) => raw(a, signingInputOf(header(alg, { typ: "JWT", jku: "https://evil.example/k" }), cred())),
    reason: /header has "jku"/,
  },
  // Jobs for another key.
  {
    name: "job for another DID",
    make: (a) => a(cred(), "credential", { job: { did: "did:example:other" } }),
    reason: /job is for DID did:example:other/,
  },
  {
    name: "job for another verification method",
    make: (a) => a(cred(), "credential", { job: { verificationMethodId: `${DID}#other` } }),
    reason: /job is for key/,
  },
  {
    name: "job for another keyRef",
    make: (a) => a(cred(), "credential", { job: { keyRef: pkcs11Uri(TOKEN, "other-key") } }),
    reason: /job is for keyRef/,
  },
  {
    name: "job for the same label in another token",
    make: (a) => a(cred(), "credential", { job: { keyRef: pkcs11Uri("other-token", "issuer") } }),
    reason: /job is for keyRef/,
  },
  // Bytes that are not a JWS signing input, or not canonical.
  {
    name: "non-JSON header",
    make: (a) => raw(a, `${enc("not json")}.${enc(cred())}`),
    reason: /header is not JSON/,
  },
  {
    name: "non-JSON payload",
    make: (a, { alg }) => raw(a, `${enc(header(alg))}.${enc("{not json")}`),
    reason: /payload is not JSON/,
  },
  {
    name: "JSON array header",
    make: (a, { alg }) => raw(a, `${enc([header(alg)])}.${enc(cred())}`),
    reason: /header is not a JSON object/,
  },
  {
    name: "non-base64url characters",
    make: (a, { alg }) => raw(a, `${enc(header(alg))}.${base64url.encode(JSON.stringify(cred())).slice(0, 40)}+/=`),
    reason: /not base64url/,
  },
  {
    name: "three parts (header.payload.signature)",
    make: (a, { alg }) => raw(a, `${signingInputOf(header(alg), cred())}.AAAA`),
    reason: /not header.payload/,
  },
  { name: "no dot", make: (a, { alg }) => raw(a, enc(header(alg))), reason: /not header.payload/ },
  {
    name: "empty payload",
    make: (a, { alg }) => raw(a, `${enc(header(alg))}.`),
    reason: /not base64url/,
  },
  {
    name: "duplicate sub member (alice, then bob)",
    make: (a, { alg }) => {
      const json = JSON.stringify(cred()).replace(/^\{/, `{"sub":"${BOB}",`);
      return raw(a, `${enc(header(alg))}.${enc(json)}`);
    },
    reason: /canonical JSON/,
  },
  {
    name: "whitespace in the payload JSON",
    make: (a, { alg }) => raw(a, `${enc(header(alg))}.${enc(JSON.stringify(cred(), null, 1))}`),
    reason: /canonical JSON/,
  },
  {
    name: "non-canonical base64url (stray bits)",
    make: (a, { alg }) => {
      let json = JSON.stringify(cred());
      while (json.length % 3 !== 1) json += " ";
      const p = enc(json);
      const last = p.at(-1)!;
      const alt = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      const i = alt.indexOf(last);
      return raw(a, `${enc(header(alg))}.${p.slice(0, -1)}${alt[i ^ 1]}`);
    },
    reason: /not canonical base64url|not base64url/,
  },
  {
    name: "invalid UTF-8 in the payload",
    make: (a, { alg }) => raw(a, `${enc(header(alg))}.${base64url.encode(new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]))}`),
    reason: /not UTF-8/,
  },
  {
    name: "oversized signing input (2 MB)",
    make: (a, { alg }) =>
      raw(
        a,
        signingInputOf(
          header(alg),
          withVc(cred(), (vc) => (vc.credentialSubject = { id: ALICE, blob: "x".repeat(2_000_000) })),
        ),
      ),
    reason: /more than/,
  },
  // Jobs the daemon cannot parse, answered instead of ignored (or they come back every lease).
  {
    name: "HS256 job",
    make: (a) => a(cred(), "credential", { job: { alg: "HS256" } }),
    reason: /malformed sign job: alg/,
  },
  {
    name: "job without a signingInput",
    make: (a) => a(cred(), "credential", { job: { signingInput: "" } }),
    reason: /malformed sign job: signingInput/,
  },
];

const LEGIT: { name: string; make: (add: Add, ctx: { alg: string; keyRef: string }) => FakeJob }[] = [
  { name: "jwt_vc credential for alice", make: (a) => a(cred()) },
  { name: "vc+jwt credential for alice", make: (a) => a(vc2()) },
  {
    name: "jwt_vc with schema, expiry, evidence and a revocation entry",
    make: (a) =>
      a(
        cred({
          schemaId: "https://example.com/s",
          expiry: true,
          evidence: true,
          status: "revocation",
        }),
      ),
  },
  {
    name: "vc+jwt with schema, expiry, evidence and a suspension entry",
    make: (a) =>
      a(
        cred({
          format: "vc+jwt",
          schemaId: "https://example.com/s",
          expiry: true,
          evidence: true,
          status: "suspension",
        }),
      ),
  },
  { name: "jwt_vc status list", make: (a) => a(statusListPayload(DID), "status-list") },
  { name: "vc+jwt status list", make: (a) => a(statusListPayload(DID, "vc+jwt"), "status-list") },
  {
    name: "manifest, named by the policy",
    make: (a) => a(manifestPayload(DID), "manifest"),
  },
  {
    name: "job without a keyRef",
    make: (a) => a(cred(), "credential", { job: { keyRef: undefined } }),
  },
  {
    name: "keyRef spelled with its attributes swapped",
    make: (a) => a(cred(), "credential", { job: { keyRef: `pkcs11:object=issuer;token=${TOKEN}` } }),
  },
];

const hsm = softhsmAvailable();
const counts: string[] = [];

describe.skipIf(!hsm)("a hostile service against the daemon's policy, with a SoftHSM2 key", () => {
  afterAll(() => console.log(counts.join("\n")));

  const runs: { keyType: KeyType; mode: "socket" | "poll" }[] = [
    { keyType: "P-256", mode: "socket" },
    { keyType: "Ed25519", mode: "poll" },
  ];
  for (const { keyType, mode } of runs) {
    it(`${keyType} over ${mode}: ${HOSTILE.length} hostile jobs rejected with their reason and never signed by the HSM, ${LEGIT.length} legitimate jobs signed`, async () => {
      freshToken();
      const opts = { module: SOFTHSM_MODULE, token: TOKEN, pin: PIN, keyLabel: "issuer" };
      const kg = await keygenPkcs11(opts, keyType);
      const keyRef = kg.keyRef!;
      const hsmKey = await openPkcs11Backend({ ...opts, sessions: 2 });
      // Everything the HSM is asked to sign, whoever asks.
      const hsmSigned: string[] = [];
      const backend: SigningBackend = {
        alg: hsmKey.alg,
        publicJwk: () => hsmKey.publicJwk(),
        sign: (input) => (hsmSigned.push(input), hsmKey.sign(input)),
        close: () => hsmKey.close(),
      };
      const svc = await new FakeService({
        did: DID,
        kid: KID,
        jwk: kg.publicKeyJwk,
        alg: backend.alg,
        keyRef,
      }).start();
      const add: Add = (...args) => svc.addJob(...args);
      const ctx = { alg: backend.alg, keyRef };
      const hostile = HOSTILE.map((c) => ({ c, job: c.make(add, ctx) }));
      const legit = LEGIT.map((c) => ({ c, job: c.make(add, ctx) }));

      const log = new Log(
        () => {},
        () => {},
      );
      const runner = new JobRunner(backend, { did: DID, kid: KID, keyRef, concurrency: 4, policy: POLICY }, log);
      const stop = new AbortController();
      const auth = { did: DID, kid: KID, aud: svc.url, ttlSeconds: 300 };
      const done =
        mode === "socket"
          ? runSocket(backend, runner, log, {
              url: svc.url,
              auth,
              signal: stop.signal,
              backoffBaseMs: 50,
            })
          : runPoll(backend, runner, log, {
              url: svc.url,
              auth,
              signal: stop.signal,
              intervalMs: 50,
            });
      try {
        const all = [...hostile, ...legit].map((x) => x.job.id);
        await until(() => all.every((id) => svc.jobs.get(id)!.status !== "pending"), 20_000, "every job answered");

        for (const { c, job } of hostile) {
          const got = svc.jobs.get(job.id)!;
          expect({ case: c.name, status: got.status }).toEqual({
            case: c.name,
            status: "rejected",
          });
          expect(got.reason, c.name).toMatch(c.reason);
          expect(svc.signsFor(job.id), c.name).toBe(0);
          expect(hsmSigned, c.name).not.toContain(job.signingInput);
        }
        for (const { c, job } of legit) {
          expect({
            case: c.name,
            status: svc.jobs.get(job.id)!.status,
            reason: svc.jobs.get(job.id)!.reason,
          }).toEqual({ case: c.name, status: "signed", reason: undefined });
        }
        // The HSM signed the legitimate jobs and the daemon's own DID-auth tokens for this
        // service, nothing else. A token minted for a request still on its way (poll mode keeps
        // polling) has not reached the service yet, so those are recognised by their claims: no
        // job above is a token for this service's audience.
        stop.abort();
        await done;
        const allowed = new Set([...legit.map((x) => x.job.signingInput), ...svc.authInputs]);
        const ownToken = (input: string) => {
          const claims = JSON.parse(Buffer.from(input.split(".")[1]!, "base64url").toString());
          return claims.iss === DID && claims.aud === svc.url && Object.keys(claims).join() === "iss,aud,iat,exp,jti";
        };
        expect(hsmSigned.filter((i) => !allowed.has(i) && !ownToken(i))).toEqual([]);
        counts.push(`daemon policy (${keyType}, ${mode}): ${HOSTILE.length} hostile cases refused, ${LEGIT.length} legitimate signed`);
      } finally {
        stop.abort();
        await done;
        await svc.stop();
        await backend.close();
      }
    });
  }
});
