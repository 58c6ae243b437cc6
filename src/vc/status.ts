import { fail, ok, type Result } from "../core/errors";
import { parseJsonWithin } from "../core/json-depth";
import { describeOutboundFailure, fetchOutbound, isOwnHost } from "../net/outbound";
import { decodeList, StatusListError } from "../status/bitstring";
import { publishedList } from "../status/store";
import { issuerIdOf } from "./claims";
import { secondsOf, verifyCredentialSignature } from "./jwt";

/** A credential naming more status entries than this fails verification: each may cost a fetch. */
export const MAX_STATUS_ENTRIES = 8;
/** How far clocks may disagree when dates are compared. */
export const CLOCK_SKEW_S = 60;
const LIST_PATH = /^\/v1\/credentials\/status\/([^/]+)$/;

const no = (reason: string) => fail("not_verified", reason);

type Entry = {
  type?: unknown;
  statusPurpose?: unknown;
  statusListIndex?: unknown;
  statusListCredential?: unknown;
};

/**
 * Checks a credential's status list entries the way a relying party would: fetch each entry's
 * status list credential (this service's own lists straight from D1, others through the outbound
 * policy), verify its signature by its issuer, decode `encodedList` and read the bit. Fails with
 * why the credential is not valid.
 * @param ownOrigin this service's origin: lists under it are read from D1, never fetched.
 * @param issuer the credential's issuer DID; a list signed by anyone else is not trusted.
 */
export async function checkCredentialStatus(
  env: Env,
  ownOrigin: string,
  credential: Record<string, unknown>,
  issuer?: string,
): Promise<Result<void>> {
  const status = credential.credentialStatus;
  if (status === undefined) return ok(undefined);
  const entries = (Array.isArray(status) ? status : [status]) as Entry[];
  if (entries.length > MAX_STATUS_ENTRIES) {
    return no(`credentialStatus has ${entries.length} entries; at most ${MAX_STATUS_ENTRIES} are checked`);
  }
  for (const entry of entries) {
    const checked = await checkEntry(env, ownOrigin, entry, issuer ?? issuerIdOf(credential));
    if (!checked.ok) return checked;
  }
  return ok(undefined);
}

async function checkEntry(env: Env, ownOrigin: string, entry: Entry, issuer: string | undefined): Promise<Result<void>> {
  if (!entry || typeof entry !== "object") return no("credentialStatus is not an object");
  if (entry.type !== "BitstringStatusListEntry") return no(`unsupported credentialStatus type ${String(entry.type)}`);
  const purpose = entry.statusPurpose;
  const url = entry.statusListCredential;
  const index = typeof entry.statusListIndex === "string" && /^\d+$/.test(entry.statusListIndex) ? Number(entry.statusListIndex) : NaN;
  if (typeof purpose !== "string" || typeof url !== "string" || !Number.isSafeInteger(index)) {
    return no("credentialStatus lacks statusPurpose, statusListCredential or a numeric statusListIndex");
  }

  const jwt = await listJwt(env, ownOrigin, url);
  if (!jwt.ok) return no(`status list ${url} could not be read: ${jwt.detail}`);
  const verified = await verifyCredentialSignature(env, jwt.value, ownOrigin);
  if (!verified.ok) return no(`status list ${url} does not verify: ${verified.detail}`);
  const signed = verified.value;
  if (issuer && signed.issuer !== issuer) return no(`status list ${url} is issued by ${signed.issuer}, not by the credential's issuer`);
  const list = signed.credential;
  const types = Array.isArray(list.type) ? list.type : [list.type];
  if (!types.includes("BitstringStatusListCredential")) return no(`${url} is not a BitstringStatusListCredential`);
  const until = secondsOf(signed.v2 ? list.validUntil : (signed.payload.exp ?? list.expirationDate));
  if (until !== null && until <= Date.now() / 1000 - CLOCK_SKEW_S) return no(`status list ${url} has expired`);
  const subject = list.credentialSubject as { statusPurpose?: unknown; encodedList?: unknown } | undefined;
  if (!subject || typeof subject.encodedList !== "string") return no(`status list ${url} has no encodedList`);
  if (subject.statusPurpose !== purpose) return no(`status list ${url} is for ${String(subject.statusPurpose)}, not ${purpose}`);

  let set: boolean;
  try {
    const bits = await decodeList(subject.encodedList);
    if (index >= bits.length) return no(`statusListIndex ${index} is outside status list ${url} (${bits.length} entries)`);
    set = bits.get(index);
  } catch (err) {
    if (err instanceof StatusListError) return no(`status list ${url} has an unreadable encodedList: ${err.message}`);
    throw err;
  }
  if (!set) return ok(undefined);
  if (purpose === "revocation") return no("the credential has been revoked");
  if (purpose === "suspension") return no("the credential is suspended");
  return no(`the credential's ${purpose} status is set`);
}

/** The list credential as a compact JWT: this service's own from D1, anyone else's over HTTPS. */
async function listJwt(env: Env, ownOrigin: string, url: string): Promise<Result<string>> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return no("statusListCredential is not a URL");
  }
  if (isOwnHost(parsed, ownOrigin)) {
    const own = LIST_PATH.exec(parsed.pathname);
    let id: string | null = null;
    try {
      id = own ? decodeURIComponent(own[1]!) : null;
    } catch {
      // malformed percent-encoding names no list of ours
    }
    const row = id === null ? null : await publishedList(env, id);
    return row ? ok(row.jwt) : no("no such status list is published here");
  }
  const res = await fetchOutbound(parsed, "application/vc+jwt, application/jwt;q=0.9, application/json;q=0.5");
  if (!res.ok) return no(describeOutboundFailure(res));
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(res.body).trim();
  } catch {
    return no("the answer is not UTF-8");
  }
  if (/^[\w-]+\.[\w-]+\.[\w-]+$/.test(text)) return ok(text);
  const json = parseJsonWithin(text);
  const jwt = json.ok ? (json.value as { credentialJwt?: unknown } | null)?.credentialJwt : undefined;
  if (typeof jwt === "string") return ok(jwt);
  return no("not a JWT-secured credential (Data Integrity lists are not supported)");
}
