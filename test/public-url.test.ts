/**
 * PUBLIC_URL, the service's external origin: status list URLs inside credentials use it, the
 * service reads its own lists under it locally (never over the network), and DID-auth tokens
 * must name it as their audience. The Worker is called with PUBLIC_URL set in its environment.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { ORIGIN, TOKEN, api, enc } from "./support/api";
import { didAuthJwt, externalDid, externalKey, type ExternalKey, type Issuer } from "./support/keys";

const PUBLIC_URL = "https://issuer.example.com";

/** The Worker's fetch handler with PUBLIC_URL configured (a trailing slash, as an operator may write it). */
async function publicApi(method: string, path: string, body?: unknown, auth: string | null = `Bearer ${TOKEN}`) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`${ORIGIN}${path}`, {
      method,
      headers: { ...(auth ? { authorization: auth } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    }),
    { ...env, PUBLIC_URL: `${PUBLIC_URL}/` } as Env,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const didAuthFor = async (key: ExternalKey, issuer: Issuer, aud: string) =>
  `DID ${await didAuthJwt(key, { iss: issuer.did, kid: issuer.vmId, aud })}`;

describe("PUBLIC_URL", () => {
  it("is the base of status list URLs in credentials, and the service reads those lists itself", async () => {
    const did = await publicApi("PUT", "/v1/dids/key", { keyType: "Ed25519" });
    expect(did.status, JSON.stringify(did.body)).toBe(201);
    const issuer = did.body.did.id as string;
    const issued = await publicApi("PUT", "/v1/credentials", {
      issuer,
      verificationMethodId: did.body.did.verificationMethod[0].id,
      subject: "did:example:p",
      data: {},
      revocable: true,
    });
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    const container = issued.body.result.response;
    const url = container.credential.credentialStatus.statusListCredential as string;
    expect(url).toMatch(new RegExp(`^${PUBLIC_URL.replace(/\./g, "\\.")}/v1/credentials/status/[0-9a-f]{64}\\.[0-9a-f-]{36}$`));
    expect(container.credential.credentialStatus.id).toBe(`${url}#${container.credential.credentialStatus.statusListIndex}`);
    expect((decodeJwt(container.credentialJwt) as any).vc.credentialStatus.statusListCredential).toBe(url);

    // The published list is the credential at that URL.
    const list = await api("GET", new URL(url).pathname, undefined, { auth: null });
    expect(list.status).toBe(200);
    expect(list.body.credential).toMatchObject({ id: url, credentialSubject: { id: `${url}#list` } });

    // Verification reads the service's own list locally: no request leaves for issuer.example.com.
    expect((await publicApi("PUT", "/v1/credentials/verification", { credentialJwt: container.credentialJwt })).body).toEqual({
      verified: true,
    });
    expect((await publicApi("PUT", `/v1/credentials/${container.id}/status`, { revoked: true })).status).toBe(200);
    const revoked = await publicApi("PUT", "/v1/credentials/verification", { credentialJwt: container.credentialJwt });
    expect(revoked.body.verified).toBe(false);
    expect(revoked.body.reason).toMatch(/revoked/);
  });

  it("is the audience DID-auth tokens must name", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const list = `/v1/signjobs?did=${enc(issuer.did)}`;

    expect((await publicApi("GET", list, undefined, await didAuthFor(key, issuer, PUBLIC_URL))).status).toBe(200);
    // The request's own origin is not the audience once PUBLIC_URL is set...
    const byOrigin = await publicApi("GET", list, undefined, await didAuthFor(key, issuer, ORIGIN));
    expect(byOrigin.status).toBe(401);
    expect(byOrigin.body.code).toBe("unauthorized");
    // ...and without PUBLIC_URL, a token for the public origin is refused.
    expect((await api("GET", list, undefined, { auth: await didAuthFor(key, issuer, PUBLIC_URL) })).status).toBe(401);
    expect((await api("GET", list, undefined, { auth: await didAuthFor(key, issuer, ORIGIN) })).status).toBe(200);
  });
});
