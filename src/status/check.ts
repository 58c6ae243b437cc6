import { parseJsonWithin } from "../core/json-depth";
import { verifyJwtSignature } from "../credentials/verify";
import { describeOutboundFailure, fetchOutbound, isOwnHost } from "../net/outbound";
import { decodeList, StatusListError } from "./bitstring";

/** A credential naming more status entries than this fails verification: each may cost a fetch. */
export const MAX_STATUS_ENTRIES = 8;
const LIST_PATH = /^\/v1\/credentials\/status\/([^/]+)$/;
const SKEW_S = 60;

type Entry = {
  type?: unknown;
  statusPurpose?: unknown;
  statusListIndex?: unknown;
  statusListCredential?: unknown;
};

/**
 * Checks a credential's status list entries the way a relying party would: fetch each entry's
 * status list credential (this service's own lists straight from D1, others through the outbound
 * policy), verify its signature by its issuer, decode `encodedList` and read the bit. Returns why
 * the credential is not valid, or null.
 * @param ownOrigin this service's origin: lists under it are read from D1, never fetched.
 * @param issuer the credential's issuer DID; a list signed by anyone else is not trusted.
 */
export async function checkCredentialStatus(
  env: Env,
  ownOrigin: string,
  credential: Record<string, unknown>,
  issuer?: string,
): Promise<string | null> {
  const status = credential.credentialStatus;
  if (status === undefined) return null;
  const entries = (Array.isArray(status) ? status : [status]) as Entry[];
  if (entries.length > MAX_STATUS_ENTRIES) {
    return `credentialStatus has ${entries.length} entries; at most ${MAX_STATUS_ENTRIES} are checked`;
  }
  for (const entry of entries) {
    const reason = await checkEntry(env, ownOrigin, entry, issuer ?? issuerOf(credential));
    if (reason) return reason;
  }
  return null;
}

function issuerOf(credential: Record<string, unknown>): string | undefined {
  const i = credential.issuer;
  return typeof i === "string" ? i : typeof (i as { id?: unknown } | null)?.id === "string" ? (i as { id: string }).id : undefined;
}

async function checkEntry(env: Env, ownOrigin: string, entry: Entry, issuer: string | undefined): Promise<string | null> {
  if (!entry || typeof entry !== "object") return "credentialStatus is not an object";
  if (entry.type !== "BitstringStatusListEntry") return `unsupported credentialStatus type ${String(entry.type)}`;
  const purpose = entry.statusPurpose;
  const url = entry.statusListCredential;
  const index = typeof entry.statusListIndex === "string" && /^\d+$/.test(entry.statusListIndex) ? Number(entry.statusListIndex) : NaN;
  if (typeof purpose !== "string" || typeof url !== "string" || !Number.isSafeInteger(index)) {
    return "credentialStatus lacks statusPurpose, statusListCredential or a numeric statusListIndex";
  }

  const jwt = await listJwt(env, ownOrigin, url);
  if (typeof jwt !== "string") return `status list ${url} could not be read: ${jwt.error}`;
  const signed = await verifyJwtSignature(env, jwt, ownOrigin);
  if (!signed.ok) return `status list ${url} does not verify: ${signed.reason}`;
  if (issuer && signed.issuer !== issuer) return `status list ${url} is issued by ${signed.issuer}, not by the credential's issuer`;
  const list = signed.credential;
  const types = Array.isArray(list.type) ? list.type : [list.type];
  if (!types.includes("BitstringStatusListCredential")) return `${url} is not a BitstringStatusListCredential`;
  const validUntil = signed.v2 ? list.validUntil : (signed.payload.exp ?? list.expirationDate);
  const until = typeof validUntil === "number" ? validUntil : typeof validUntil === "string" ? Date.parse(validUntil) / 1000 : null;
  if (until !== null && until <= Date.now() / 1000 - SKEW_S) return `status list ${url} has expired`;
  const subject = list.credentialSubject as { statusPurpose?: unknown; encodedList?: unknown } | undefined;
  if (!subject || typeof subject.encodedList !== "string") return `status list ${url} has no encodedList`;
  if (subject.statusPurpose !== purpose) return `status list ${url} is for ${String(subject.statusPurpose)}, not ${purpose}`;

  let set: boolean;
  try {
    const bits = await decodeList(subject.encodedList);
    if (index >= bits.length) return `statusListIndex ${index} is outside status list ${url} (${bits.length} entries)`;
    set = bits.get(index);
  } catch (err) {
    if (err instanceof StatusListError) return `status list ${url} has an unreadable encodedList: ${err.message}`;
    throw err;
  }
  if (!set) return null;
  if (purpose === "revocation") return "the credential has been revoked";
  if (purpose === "suspension") return "the credential is suspended";
  return `the credential's ${purpose} status is set`;
}

/** The list credential as a compact JWT: this service's own from D1, anyone else's over HTTPS. */
async function listJwt(env: Env, ownOrigin: string, url: string): Promise<string | { error: string }> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { error: "statusListCredential is not a URL" };
  }
  if (isOwnHost(parsed, ownOrigin)) {
    const own = LIST_PATH.exec(parsed.pathname);
    let id: string | null = null;
    try {
      id = own ? decodeURIComponent(own[1]!) : null;
    } catch {
      // malformed percent-encoding names no list of ours
    }
    const row = id === null ? null : await env.DB.prepare("SELECT jwt FROM status_lists WHERE id = ?").bind(id).first<{ jwt: string }>();
    return row ? row.jwt : { error: "no such status list is published here" };
  }
  const res = await fetchOutbound(parsed, "application/vc+jwt, application/jwt;q=0.9, application/json;q=0.5");
  if (!res.ok) return { error: describeOutboundFailure(res) };
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(res.body).trim();
  } catch {
    return { error: "the answer is not UTF-8" };
  }
  if (/^[\w-]+\.[\w-]+\.[\w-]+$/.test(text)) return text;
  const json = parseJsonWithin(text);
  const jwt = json.ok ? (json.value as { credentialJwt?: unknown } | null)?.credentialJwt : undefined;
  if (typeof jwt === "string") return jwt;
  return { error: "not a JWT-secured credential (Data Integrity lists are not supported)" };
}
