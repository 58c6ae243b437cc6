/** Reading published status lists the way an independent verifier would: Node's gunzip, no service code. */
import { gunzipSync } from "node:zlib";
import { Buffer } from "node:buffer";
import { decodeJwt } from "jose";
import { expect } from "vitest";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { api } from "./api";
import { stubOf } from "./keys";

/** The indexes whose bit is set in an `encodedList` ("u" + base64url(GZIP(bitstring)), bit 0 = MSB of byte 0). */
export function setIndexes(encodedList: string): number[] {
  expect(encodedList.startsWith("u")).toBe(true);
  const bytes = gunzipSync(Buffer.from(encodedList.slice(1), "base64url"));
  expect(bytes.length * 8).toBeGreaterThanOrEqual(131_072);
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0) continue;
    for (let b = 0; b < 8; b++) if (bytes[i]! & (0x80 >> b)) out.push(i * 8 + b);
  }
  return out;
}

/** The list credential inside a JWT's claims (VC 1.1 `vc` claim, or the VC 2.0 payload). */
export function listCredentialOf(jwt: string): Record<string, any> {
  const payload = decodeJwt(jwt) as Record<string, any>;
  return payload.vc ?? payload;
}

/** The published list behind a statusListCredential URL, fetched without auth, and its set bits. */
export async function published(url: string) {
  const res = await api("GET", new URL(url).pathname, undefined, { auth: null });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const credential = listCredentialOf(res.body.credentialJwt);
  expect(res.body.credential).toEqual(credential);
  return { jwt: res.body.credentialJwt as string, credential, bits: setIndexes(credential.credentialSubject.encodedList) };
}

export const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

export function statusEntryOf(container: { credential: Record<string, any> }) {
  const s = container.credential.credentialStatus;
  return { url: s.statusListCredential as string, index: Number(s.statusListIndex), purpose: s.statusPurpose as string, entry: s };
}

/** Runs the alarm now, whatever it was armed for (or whether it was armed at all). */
export async function alarmNow(did: string) {
  await runInDurableObject(stubOf(did), async (_i, state) => state.storage.setAlarm(Date.now() + 60_000));
  expect(await runDurableObjectAlarm(stubOf(did))).toBe(true);
}

/** The alarm is armed for retention alone (the oldest ended job's signing input, 30 days on), not for a retry. */
export async function onlyRetentionArmed(did: string) {
  const { alarm, oldest } = await runInDurableObject(stubOf(did), async (_i, state) => ({
    alarm: await state.storage.getAlarm(),
    oldest: state.storage.sql
      .exec<{ t: number }>("SELECT min(ended_at) AS t FROM jobs WHERE ended_at IS NOT NULL AND purged_at IS NULL")
      .one().t,
  }));
  expect(alarm).toBe(oldest + 30 * 86_400_000);
}
