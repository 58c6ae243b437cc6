/**
 * A small Sidetree-compatible ION node for tests: the ION node REST API
 * (`POST /operations`, `GET /identifiers/{did}`), with every operation checked by the ION SDK's
 * own validators (operation keys, document keys, services, delta size, multihash algorithm) and
 * by Sidetree's rules (hash commitments, reveal values, the signedData JWS), then "anchored" at
 * once and used to answer resolution. It runs in Node: inside the vitest pool the Worker's
 * outbound fetches to ION_TEST_NODE_URL are handed to it by the outbound mock, and
 * `listenIonTestNode()` serves it on 127.0.0.1 for a `wrangler dev` run.
 *
 * Test control (not part of ION's API): `GET /_test/log` lists what was received and how it was
 * answered; `PUT /_test/fail?count=n&match=s` answers the next n POSTs whose body contains `s` with
 * 503 (a node that is down). One node serves every test file, and files run in parallel: a failure
 * without `match` would be spent by whichever file posts next.
 */
import { createServer, type Server } from "node:http";
import InputValidator from "@decentralized-identity/ion-sdk/dist/lib/InputValidator.js";
import IonRequest from "@decentralized-identity/ion-sdk/dist/lib/IonRequest.js";
import Multihash from "@decentralized-identity/ion-sdk/dist/lib/Multihash.js";
import OperationKeyType from "@decentralized-identity/ion-sdk/dist/lib/enums/OperationKeyType.js";
import { OperationRequest, type CreateRequest, type Delta } from "../../src/did/ion/model";
import { applyOperation, parseIonDid, stateFromCreate, type IonDidState } from "../../src/did/ion/state";
import { verifySignedData } from "../../src/did/ion/signed-data";

export const ION_TEST_NODE_URL = "https://ion-node.test.example";

type Logged = { type: string; didSuffix?: string; status: number; reason?: string };

/** The SDK's private validators, called as IonRequest calls them when it builds a request. */
const sdk = IonRequest as unknown as {
  validateDidDocumentKeys(keys: unknown): void;
  validateServices(services: unknown): void;
  validateDeltaSize(delta: unknown): void;
};

function validateDeltaWithSdk(delta: Delta): void {
  for (const patch of delta.patches) {
    if (patch.action === "replace") {
      sdk.validateDidDocumentKeys(patch.document.publicKeys);
      sdk.validateServices(patch.document.services);
    }
    if (patch.action === "add-public-keys") sdk.validateDidDocumentKeys(patch.publicKeys);
    if (patch.action === "add-services") sdk.validateServices(patch.services);
    if (patch.action === "remove-public-keys" || patch.action === "remove-services")
      patch.ids.forEach((id) => InputValidator.validateId(id));
  }
  Multihash.validateEncodedHashComputedUsingSupportedHashAlgorithm(delta.updateCommitment, "updateCommitment");
  sdk.validateDeltaSize(delta);
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

export class IonTestNode {
  private readonly dids = new Map<string, IonDidState>();
  readonly log: Logged[] = [];
  private failures: { count: number; match: string } = { count: 0, match: "" };

  async handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/_test/log") return json(200, this.log);
    if (url.pathname === "/_test/fail" && request.method === "PUT") {
      this.failures = { count: Number(url.searchParams.get("count") ?? "1"), match: url.searchParams.get("match") ?? "" };
      return json(200, { failing: this.failures.count });
    }
    if (url.pathname === "/operations" && request.method === "POST") return this.post(await request.text());
    const m = /^\/identifiers\/(.+)$/.exec(url.pathname);
    if (m && request.method === "GET") return this.resolve(decodeURIComponent(m[1]!));
    return json(404, { code: "not_found", message: `no route ${request.method} ${url.pathname}` });
  }

  private refuse(type: string, reason: string, didSuffix?: string): Response {
    this.log.push({ type, didSuffix, status: 400, reason });
    return json(400, { code: "bad_request", message: reason });
  }

  private async post(text: string): Promise<Response> {
    if (this.failures.count > 0 && text.includes(this.failures.match)) {
      this.failures.count -= 1;
      this.log.push({ type: "unavailable", status: 503 });
      return json(503, { code: "unavailable", message: "the node is down (test)" });
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return this.refuse("?", "the body is not JSON");
    }
    const parsed = OperationRequest.safeParse(body);
    if (!parsed.success) return this.refuse("?", `not a Sidetree operation: ${parsed.error.issues[0]?.message}`);
    const op = parsed.data;
    try {
      if (op.type === "create") return await this.create(op);
      Multihash.validateEncodedHashComputedUsingSupportedHashAlgorithm(op.didSuffix, "didSuffix");
      Multihash.validateEncodedHashComputedUsingSupportedHashAlgorithm(op.revealValue, "revealValue");
      if (op.type !== "deactivate") validateDeltaWithSdk(op.delta);
      const signed = await verifySignedData(op.type, op.signedData);
      if (!signed.ok) return this.refuse(op.type, signed.reason, op.didSuffix);
      InputValidator.validateEs256kOperationKey(signed.key as never, OperationKeyType.Public);
      const state = this.dids.get(op.didSuffix);
      if (!state) return this.refuse(op.type, "no such DID is anchored", op.didSuffix);
      const payload = signed.payload as { deltaHash?: string; recoveryCommitment?: string; didSuffix?: string };
      if (op.type === "deactivate" && payload.didSuffix !== op.didSuffix)
        return this.refuse(op.type, "signed for another DID", op.didSuffix);
      if (op.type === "recover")
        Multihash.validateEncodedHashComputedUsingSupportedHashAlgorithm(payload.recoveryCommitment!, "recoveryCommitment");
      const applied = await applyOperation(state, op, {
        key: signed.key,
        deltaHash: payload.deltaHash,
        recoveryCommitment: payload.recoveryCommitment,
      });
      if (!applied.ok) return this.refuse(op.type, applied.reason, op.didSuffix);
      this.dids.set(op.didSuffix, applied.state);
      this.log.push({ type: op.type, didSuffix: op.didSuffix, status: 200 });
      return new Response(null, { status: 200 });
    } catch (e) {
      // The SDK's validators throw IonError with a code.
      return this.refuse(op.type, `SDK validation: ${(e as Error).message}`, "didSuffix" in op ? op.didSuffix : undefined);
    }
  }

  private async create(op: CreateRequest): Promise<Response> {
    Multihash.validateEncodedHashComputedUsingSupportedHashAlgorithm(op.suffixData.deltaHash, "deltaHash");
    Multihash.validateEncodedHashComputedUsingSupportedHashAlgorithm(op.suffixData.recoveryCommitment, "recoveryCommitment");
    validateDeltaWithSdk(op.delta);
    if (op.delta.patches.length !== 1 || op.delta.patches[0]!.action !== "replace")
      return this.refuse("create", "a create's delta must be one replace patch");
    const state = await stateFromCreate(op);
    if (!state) return this.refuse("create", "the delta does not match suffixData.deltaHash");
    // A create already anchored is accepted again unchanged (clients retry).
    if (!this.dids.has(state.didSuffix)) this.dids.set(state.didSuffix, state);
    this.log.push({ type: "create", didSuffix: state.didSuffix, status: 200 });
    return json(200, this.resolution(`did:ion:${state.didSuffix}`, this.dids.get(state.didSuffix)!, true));
  }

  private async resolve(did: string): Promise<Response> {
    const parsed = await parseIonDid(did);
    if (!parsed) return json(400, { code: "invalid_did", message: "not a did:ion" });
    const anchored = this.dids.get(parsed.didSuffix);
    const state = anchored ?? (parsed.create ? await stateFromCreate(parsed.create) : null);
    if (!state) return json(404, { code: "not_found", message: "DID not found" });
    if (state.deactivated)
      return json(410, {
        "@context": "https://w3id.org/did-resolution/v1",
        didDocument: { id: did },
        didDocumentMetadata: { deactivated: true, canonicalId: parsed.shortFormDid },
      });
    return json(200, this.resolution(did, state, anchored !== undefined, parsed.shortFormDid));
  }

  /** ION's own rendering: ids relative to the document, `@base` in the context. */
  private resolution(did: string, state: IonDidState, published: boolean, shortFormDid = did) {
    const keys = state.document.publicKeys ?? [];
    const rel = (p: string) => keys.filter((k) => k.purposes?.includes(p as never)).map((k) => `#${k.id}`);
    const didDocument: Record<string, unknown> = {
      id: did,
      "@context": ["https://www.w3.org/ns/did/v1", { "@base": did }],
      verificationMethod: keys.map((k) => ({ id: `#${k.id}`, controller: did, type: k.type, publicKeyJwk: k.publicKeyJwk })),
    };
    for (const p of ["authentication", "assertionMethod", "capabilityInvocation", "capabilityDelegation", "keyAgreement"])
      if (rel(p).length) didDocument[p] = rel(p);
    if (state.document.services?.length) didDocument.service = state.document.services.map((s) => ({ ...s, id: `#${s.id}` }));
    return {
      "@context": "https://w3id.org/did-resolution/v1",
      didDocument,
      didDocumentMetadata: {
        method: { published, recoveryCommitment: state.recoveryCommitment, updateCommitment: state.updateCommitment },
        ...(published ? { canonicalId: shortFormDid } : { equivalentId: [shortFormDid] }),
      },
    };
  }
}

/** Serves a node on 127.0.0.1 (for `wrangler dev --var ION_NODE_URL:http://127.0.0.1:<port>`). */
export async function listenIonTestNode(node = new IonTestNode(), port = 0): Promise<{ url: string; server: Server; node: IonTestNode }> {
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const request = new Request(`http://127.0.0.1${req.url}`, {
      method: req.method,
      headers: req.headers as Record<string, string>,
      ...(req.method === "POST" || req.method === "PUT" ? { body: Buffer.concat(chunks) } : {}),
    });
    const answer = await node.handle(request);
    res.writeHead(answer.status, Object.fromEntries(answer.headers));
    res.end(Buffer.from(await answer.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const address = server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  return { url: `http://127.0.0.1:${bound}`, server, node };
}
