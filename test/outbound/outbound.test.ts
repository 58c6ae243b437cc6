import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { checkOutboundUrl, clearOutboundCache, type OutboundFailure } from "../../src/net/outbound";
import { Bitstring, MIN_LIST_SIZE, encodeList } from "../../src/status/bitstring";
import { expectProblem } from "../support/contract";
import { ORIGIN, TOKEN, api, enc } from "../support/api";
import { externalKey } from "../support/keys";
import { CONTROL } from "./mock";

/** Scripts the mock's answer for one URL. */
async function serve(
  url: string,
  answer: { status?: number; headers?: Record<string, string>; body?: string; bytes?: number; hang?: boolean; drip?: boolean },
) {
  const res = await fetch(`${CONTROL}/routes`, { method: "PUT", body: JSON.stringify({ url, ...answer }) });
  expect(res.status).toBe(204);
}
/** Every URL of `host` the mock was asked for, by anyone. */
const asked = async (host: string): Promise<string[]> => (await fetch(`${CONTROL}/log?host=${enc(host)}`)).json();

let hosts = 0;
/** A host name no other test uses, so the mock's log for it is this test's alone. */
const freshHost = (label: string) => `${label}-${Date.now().toString(36)}-${hosts++}.example.com`;

/** An issuer the test holds the key of, with its did:web document served by the mock. */
async function foreignIssuer() {
  const host = freshHost("issuer");
  const did = `did:web:${host}`;
  const key = await externalKey("Ed25519");
  const vm = `${did}#key-1`;
  const doc = {
    "@context": ["https://www.w3.org/ns/did/v1"],
    id: did,
    verificationMethod: [{ id: vm, type: "JsonWebKey2020", controller: did, publicKeyJwk: key.publicKeyJwk }],
    assertionMethod: [vm],
  };
  await serve(`https://${host}/.well-known/did.json`, { body: JSON.stringify(doc), headers: { "content-type": "application/did+json" } });
  const sign = (claims: Record<string, unknown>, typ = "JWT") =>
    new SignJWT(claims).setProtectedHeader({ alg: "EdDSA", kid: vm, typ }).setIssuer(did).setIssuedAt().sign(key.privateKey!);
  return { host, did, vm, sign };
}
type Foreign = Awaited<ReturnType<typeof foreignIssuer>>;

/** A signed status list credential of `issuer`, with `set` bits set, served at `url`. */
async function serveList(issuer: Foreign, url: string, set: number[] = []) {
  const bits = new Bitstring(MIN_LIST_SIZE);
  for (const i of set) bits.set(i, true);
  const jwt = await issuer.sign({
    vc: {
      "@context": ["https://www.w3.org/2018/credentials/v1"],
      type: ["VerifiableCredential", "BitstringStatusListCredential"],
      issuer: issuer.did,
      credentialSubject: {
        id: `${url}#list`,
        type: "BitstringStatusList",
        statusPurpose: "revocation",
        encodedList: await encodeList(bits),
      },
    },
  });
  await serve(url, { body: jwt, headers: { "content-type": "application/vc+jwt" } });
}

const entry = (url: string, index: number) => ({
  type: "BitstringStatusListEntry",
  statusPurpose: "revocation",
  statusListIndex: String(index),
  statusListCredential: url,
});

async function credentialJwt(issuer: Foreign, status?: unknown) {
  return issuer.sign({
    sub: "did:example:holder",
    vc: {
      "@context": ["https://www.w3.org/2018/credentials/v1"],
      type: ["VerifiableCredential"],
      issuer: issuer.did,
      credentialSubject: { id: "did:example:holder", name: "Alice" },
      ...(status !== undefined ? { credentialStatus: status } : {}),
    },
  });
}
const verify = async (jwt: string) =>
  (await api("PUT", "/v1/credentials/verification", { credentialJwt: jwt })).body as { verified: boolean; reason?: string };

describe("the outbound policy, from the URL alone", () => {
  const refused: [string, OutboundFailure][] = [
    ["http://issuer.example.com/did.json", "https_only"],
    ["ftp://issuer.example.com/x", "https_only"],
    ["https://user:pw@issuer.example.com/x", "credentials_in_url"],
    ["https://issuer.example.com:8443/x", "port_not_allowed"],
    ["https://issuer.example.com:80/x", "port_not_allowed"],
    ["https://127.0.0.1/x", "address_literal"],
    ["https://10.0.0.7/x", "address_literal"],
    ["https://192.168.1.1/x", "address_literal"],
    ["https://169.254.169.254/latest/meta-data", "address_literal"],
    ["https://8.8.8.8/x", "address_literal"],
    ["https://2130706433/x", "address_literal"], // 127.0.0.1 in decimal
    ["https://0x7f.0.0.1/x", "address_literal"],
    ["https://0x7f000001/x", "address_literal"],
    ["https://0177.0.0.1/x", "address_literal"], // octal
    ["https://127.1/x", "address_literal"],
    ["https://[::1]/x", "address_literal"],
    ["https://[fe80::1]/x", "address_literal"],
    ["https://[::ffff:169.254.169.254]/x", "address_literal"],
    ["https://[fd00::1]/x", "address_literal"],
    ["https://localhost/x", "private_host"],
    ["https://LOCALHOST./x", "private_host"],
    ["https://api.localhost/x", "private_host"],
    ["https://printer.local/x", "private_host"],
    ["https://metadata.google.internal/x", "private_host"],
    ["https://router.home.arpa/x", "private_host"],
    ["https://1.0.0.127.in-addr.arpa/x", "private_host"],
    ["https://intranet.corp/x", "private_host"],
    ["https://metadata/x", "private_host"],
    ["not a url", "invalid_url"],
    // Spellings the URL parser folds before the policy looks: full-width letters, ideographic
    // dots, percent-encoded host letters, IPv4-mapped IPv6, a zero, a trailing dot, user-info.
    ["https://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/x", "private_host"],
    ["https://%6c%6fcalhost/x", "private_host"],
    ["https://127\u30020\u30020\u30021/x", "address_literal"],
    ["https://[::ffff:127.0.0.1]/x", "address_literal"],
    ["https://[0:0:0:0:0:ffff:7f00:1]/x", "address_literal"],
    ["https://0/x", "address_literal"],
    ["https://127.0.0.1./x", "address_literal"],
    ["https://metadata.google.internal./x", "private_host"],
    ["https://localhost:443/x", "private_host"],
    ["https://LocalHost.LocalDomain/x", "private_host"],
    ["https://issuer.example.com@127.0.0.1/x", "credentials_in_url"],
  ];
  it.each(refused)("%s is refused: %s", (url, reason) => {
    expect(checkOutboundUrl(url)).toEqual({ ok: false, reason });
  });

  it("a public https name on the default port is allowed", () => {
    for (const url of ["https://issuer.example.com/.well-known/did.json", "https://issuer.example.com:443/x", "https://0xabc.com/x"]) {
      expect(checkOutboundUrl(url).ok, url).toBe(true);
    }
  });
});

describe("did:web resolution goes through the outbound policy", () => {
  it("resolves a foreign did:web document served over https", async () => {
    const issuer = await foreignIssuer();
    const res = await api("GET", `/v1/dids/resolver/${enc(issuer.did)}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.didDocument.id).toBe(issuer.did);
  });

  it("refuses private, local and literal hosts and other ports before any connection is attempted", async () => {
    const cases = [
      ["did:web:localhost%3A8787", "localhost:8787"],
      ["did:web:127.0.0.1", "127.0.0.1"],
      ["did:web:10.0.0.7", "10.0.0.7"],
      ["did:web:169.254.169.254", "169.254.169.254"],
      ["did:web:2130706433", "127.0.0.1"],
      ["did:web:metadata.google.internal", "metadata.google.internal"],
      ["did:web:printer.local", "printer.local"],
      ["did:web:metadata", "metadata"],
      [`did:web:${freshHost("porty")}%3A8443`, null],
    ] as const;
    for (const [did, host] of cases) {
      const res = await api("GET", `/v1/dids/resolver/${enc(did)}`);
      expectProblem(res, 404, "not_found");
      expect(JSON.stringify(res.body.resolution.didResolutionMetadata), did).toMatch(
        /not fetched: .*\((address_literal|private_host|port_not_allowed)\)/,
      );
      const h = host ?? did.slice("did:web:".length).replace("%3A", ":");
      expect(await asked(h), did).toEqual([]);
    }
  });

  it("a redirect is a failure and is not followed", async () => {
    const host = freshHost("redirector");
    const target = freshHost("target");
    await serve(`https://${host}/.well-known/did.json`, { status: 302, headers: { location: `https://${target}/.well-known/did.json` } });
    const res = await api("GET", `/v1/dids/resolver/${enc(`did:web:${host}`)}`);
    expectProblem(res, 404, "not_found");
    expect(res.body.resolution.didResolutionMetadata.message).toMatch(/redirect/);
    expect(await asked(target)).toEqual([]);
  });

  it("a body over 1 MiB is cut off while streaming, whatever Content-Length says", async () => {
    const host = freshHost("big");
    await serve(`https://${host}/.well-known/did.json`, { bytes: 1024 * 1024 + 1 });
    const res = await api("GET", `/v1/dids/resolver/${enc(`did:web:${host}`)}`);
    expectProblem(res, 404, "not_found");
    expect(res.body.resolution.didResolutionMetadata.message).toMatch(/too_large/);
    const lying = freshHost("lying");
    await serve(`https://${lying}/.well-known/did.json`, { bytes: 2 * 1024 * 1024, headers: { "content-length": "10" } });
    const res2 = await api("GET", `/v1/dids/resolver/${enc(`did:web:${lying}`)}`);
    expect(res2.status).toBeLessThan(500);
    expect(JSON.stringify(res2.body)).not.toMatch(/"verificationMethod"/);
  });

  it("fetch errors are reported as a stable reason, never the runtime's text", async () => {
    const host = freshHost("broken");
    await serve(`https://${host}/.well-known/did.json`, { status: 500, body: "stack trace at internal-db-7.corp:5432" });
    const res = await api("GET", `/v1/dids/resolver/${enc(`did:web:${host}`)}`);
    expectProblem(res, 404, "not_found");
    expect(res.body.resolution.didResolutionMetadata.message).toMatch(/\(http_error 500\)/);
    expect(JSON.stringify(res.body)).not.toMatch(/internal-db|stack trace/);
  });

  it("a host that never answers fails with timeout after 5 s", async () => {
    const host = freshHost("silent");
    await serve(`https://${host}/.well-known/did.json`, { hang: true });
    const res = await api("GET", `/v1/dids/resolver/${enc(`did:web:${host}`)}`);
    expectProblem(res, 404, "not_found");
    expect(res.body.resolution.didResolutionMetadata.message).toMatch(/\(timeout\)/);
  }, 20_000);

  it("a host that sends headers and then drips its body forever fails with timeout after 5 s", async () => {
    const host = freshHost("dripping");
    await serve(`https://${host}/.well-known/did.json`, {
      drip: true,
      body: '{"id":',
      headers: { "content-type": "application/did+json" },
    });
    const res = await api("GET", `/v1/dids/resolver/${enc(`did:web:${host}`)}`);
    expectProblem(res, 404, "not_found");
    expect(res.body.resolution.didResolutionMetadata.message).toMatch(/\(timeout\)/);
  }, 20_000);

  it("a did:web on the service's own host is resolved locally, never fetched", async () => {
    const res = await api("GET", `/v1/dids/resolver/${enc("did:web:ssi.test:nobody")}`);
    expectProblem(res, 404, "not_found");
    expect(await asked("ssi.test")).toEqual([]);
  });

  it("answers are cached for a short while: a second resolution does not fetch again", async () => {
    clearOutboundCache();
    const issuer = await foreignIssuer();
    expect((await api("GET", `/v1/dids/resolver/${enc(issuer.did)}`)).status).toBe(200);
    expect((await api("GET", `/v1/dids/resolver/${enc(issuer.did)}`)).status).toBe(200);
    expect(await asked(issuer.host)).toHaveLength(1);
  });
});

describe("foreign status lists go through the outbound policy", () => {
  it("a foreign issuer's credential verifies against its foreign status list, and a set bit is revoked", async () => {
    const issuer = await foreignIssuer();
    const listUrl = `https://${freshHost("lists")}/lists/1`;
    await serveList(issuer, listUrl, [7]);
    expect(await verify(await credentialJwt(issuer, entry(listUrl, 3)))).toEqual({ verified: true });
    expect(await verify(await credentialJwt(issuer, entry(listUrl, 7)))).toEqual({
      verified: false,
      reason: "the credential has been revoked",
    });
  });

  it("a status list on a private or literal address is not fetched", async () => {
    const issuer = await foreignIssuer();
    for (const [url, host] of [
      ["https://169.254.169.254/latest/meta-data", "169.254.169.254"],
      ["https://[::1]/list", "[::1]"],
      ["https://0x7f.1/list", "127.0.0.1"],
      ["http://lists.example.com/list", "lists.example.com"],
      ["https://db.internal/list", "db.internal"],
    ]) {
      const verdict = await verify(await credentialJwt(issuer, entry(url!, 1)));
      expect(verdict.verified, url).toBe(false);
      expect(verdict.reason, url).toMatch(/could not be read: .*\((address_literal|private_host|https_only)\)/);
      expect(await asked(host!), url).toEqual([]);
    }
  });

  it("at most 8 status entries are checked: a credential naming more fails verification saying so", async () => {
    const issuer = await foreignIssuer();
    const listHost = freshHost("many");
    const listUrl = `https://${listHost}/l`;
    await serveList(issuer, listUrl);
    const eight = Array.from({ length: 8 }, (_, i) => entry(listUrl, i));
    expect(await verify(await credentialJwt(issuer, eight))).toEqual({ verified: true });
    const nine = Array.from({ length: 9 }, (_, i) => entry(`https://${listHost}/l${i}`, i));
    expect(await verify(await credentialJwt(issuer, nine))).toEqual({
      verified: false,
      reason: "credentialStatus has 9 entries; at most 8 are checked",
    });
    expect((await asked(listHost)).filter((u) => /\/l\d$/.test(u))).toEqual([]);
  });
});

describe("the service's own origin is never fetched, however it is spelled", () => {
  /** The Worker with PUBLIC_URL set to `origin`. */
  async function asService(origin: string, method: string, path: string, body?: unknown) {
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request(`${ORIGIN}${path}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      }),
      { ...env, PUBLIC_URL: origin } as Env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return { status: res.status, body: (await res.json()) as any };
  }

  it("a did:web naming the service's host with an explicit :443 is resolved locally", async () => {
    const own = freshHost("own");
    const res = await asService(`https://${own}`, "GET", `/v1/dids/resolver/${enc(`did:web:${own}%3A443:nobody`)}`);
    expect(res.status).toBe(404);
    expect(res.body.resolution.didResolutionMetadata.message).toBe("no such DID is hosted here");
    expect(await asked(own)).toEqual([]);
    expect(await asked(`${own}:443`)).toEqual([]);
  });

  it("a status list URL on the service's host with a trailing dot, upper case or :443 is read locally", async () => {
    const own = freshHost("own");
    const issuer = await foreignIssuer();
    for (const url of [
      `https://${own}./v1/credentials/status/${crypto.randomUUID()}`,
      `https://${own.toUpperCase()}/v1/credentials/status/${crypto.randomUUID()}`,
      `https://${own}:443/v1/credentials/status/${crypto.randomUUID()}`,
    ]) {
      const res = await asService(`https://${own}`, "PUT", "/v1/credentials/verification", {
        credentialJwt: await credentialJwt(issuer, entry(url, 1)),
      });
      expect(res.body, url).toEqual({
        verified: false,
        reason: `status list ${url} could not be read: no such status list is published here`,
      });
    }
    expect(await asked(own)).toEqual([]);
    expect(await asked(`${own}.`)).toEqual([]);
  });
});
