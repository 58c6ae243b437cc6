import { verifyJwtSignature } from "../credentials/verify";
import { decodeList, StatusListError } from "./bitstring";

const FETCH_TIMEOUT_MS = 5_000;
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
 * status list credential (this service's own lists straight from D1), verify its signature by its
 * issuer, decode `encodedList` and read the bit. Returns why the credential is not valid, or null.
 * @param issuer the credential's issuer DID; a list signed by anyone else is not trusted.
 */
export async function checkCredentialStatus(env: Env, credential: Record<string, unknown>, issuer?: string): Promise<string | null> {
  const status = credential.credentialStatus;
  if (status === undefined) return null;
  const entries = (Array.isArray(status) ? status : [status]) as Entry[];
  for (const entry of entries) {
    const reason = await checkEntry(env, entry, issuer ?? issuerOf(credential));
    if (reason) return reason;
  }
  return null;
}

function issuerOf(credential: Record<string, unknown>): string | undefined {
  const i = credential.issuer;
  return typeof i === "string" ? i : typeof (i as { id?: unknown } | null)?.id === "string" ? (i as { id: string }).id : undefined;
}

async function checkEntry(env: Env, entry: Entry, issuer: string | undefined): Promise<string | null> {
  if (!entry || typeof entry !== "object") return "credentialStatus is not an object";
  if (entry.type !== "BitstringStatusListEntry") return `unsupported credentialStatus type ${String(entry.type)}`;
  const purpose = entry.statusPurpose;
  const url = entry.statusListCredential;
  const index = typeof entry.statusListIndex === "string" && /^\d+$/.test(entry.statusListIndex) ? Number(entry.statusListIndex) : NaN;
  if (typeof purpose !== "string" || typeof url !== "string" || !Number.isSafeInteger(index)) {
    return "credentialStatus lacks statusPurpose, statusListCredential or a numeric statusListIndex";
  }

  const jwt = await listJwt(env, url);
  if (typeof jwt !== "string") return `status list ${url} could not be read: ${jwt.error}`;
  const signed = await verifyJwtSignature(env, jwt);
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
async function listJwt(env: Env, url: string): Promise<string | { error: string }> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { error: "statusListCredential is not a URL" };
  }
  const own = LIST_PATH.exec(parsed.pathname);
  if (own) {
    const row = await env.DB.prepare("SELECT jwt FROM status_lists WHERE id = ?")
      .bind(decodeURIComponent(own[1]!))
      .first<{ jwt: string }>();
    if (row) return row.jwt;
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return { error: "unsupported URL scheme" };
  try {
    const res = await fetch(parsed, {
      headers: { accept: "application/vc+jwt, application/jwt;q=0.9, application/json;q=0.5" },
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    if (!res.ok) return { error: `HTTP ${res.status}` };
    const text = (await res.text()).trim();
    if (/^[\w-]+\.[\w-]+\.[\w-]+$/.test(text)) return text;
    const json = JSON.parse(text) as { credentialJwt?: unknown };
    if (typeof json?.credentialJwt === "string") return json.credentialJwt;
    return { error: "not a JWT-secured credential (Data Integrity lists are not supported)" };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}
