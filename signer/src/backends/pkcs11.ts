import { createRequire } from "node:module";
import { randomBytes } from "node:crypto";
import { sha256 } from "@noble/hashes/sha2.js";
import type { JWK } from "jose";
import type * as P11 from "pkcs11js";
import { ALG_OF, joseEcdsa, jwkFromPublicBytes, keygenResult, type KeygenResult, type KeyType, type SigningBackend } from "../backend.js";

// Mechanisms and key types from PKCS#11 3.0 that pkcs11js (a 2.40 binding) has no constants for.
const CKK_EC_EDWARDS = 0x40;
const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
const CKM_EDDSA = 0x1057;
const CKR_USER_ALREADY_LOGGED_IN = 0x100;
const CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;

// DER of each curve's CKA_EC_PARAMS. Ed25519 has two spellings in the wild: the RFC 8410 OID
// (what we generate with; SoftHSM 2.6 accepts both) and PKCS#11 3.0's printable "edwards25519".
const EC_PARAMS: Record<KeyType, string[]> = {
  Ed25519: ["06032b6570", "130c656477617264733235353139"],
  "P-256": ["06082a8648ce3d030107"],
  secp256k1: ["06052b8104000a"],
};

export interface Pkcs11Options {
  module: string;
  token: string;
  pin: string;
  keyLabel: string;
  /** Sessions to open; signing on one session is serialised, so this is the HSM parallelism. */
  sessions?: number;
}

/** Parses an RFC 7512 URI like `pkcs11:token=issuer;object=vc-signing` (path attributes only). */
export function parsePkcs11Uri(uri: string): { token?: string; object?: string } {
  if (!uri.startsWith("pkcs11:")) throw new Error(`not a pkcs11: URI: ${uri}`);
  const out: Record<string, string> = {};
  for (const part of uri.slice(7).split("?")[0]!.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) out[part.slice(0, eq)] = decodeURIComponent(part.slice(eq + 1));
  }
  return {
    ...(out.token ? { token: out.token } : {}),
    ...(out.object ? { object: out.object } : {}),
  };
}

export function pkcs11Uri(token: string, object: string): string {
  return `pkcs11:token=${encodeURIComponent(token)};object=${encodeURIComponent(object)}`;
}

type Lib = typeof P11;
interface Loaded {
  lib: Lib;
  p11: P11.PKCS11;
  refs: number;
}
// One initialised module per path per process: C_Initialize twice fails and C_Finalize from one
// user would pull the rug from another (tests open keygen and a backend in the same process).
const loaded = new Map<string, Loaded>();

function acquireModule(path: string): Loaded {
  let entry = loaded.get(path);
  if (!entry) {
    const lib = createRequire(import.meta.url)("pkcs11js") as Lib;
    const p11 = new lib.PKCS11();
    p11.load(path);
    try {
      // Without CKF_OS_LOCKING_OK a module may assume one thread and skip its locks (SoftHSM
      // does); C_SignAsync runs on libuv's thread pool, so concurrent signs would race.
      p11.C_Initialize({ flags: lib.CKF_OS_LOCKING_OK });
    } catch (e) {
      if (!isCode(e, CKR_CRYPTOKI_ALREADY_INITIALIZED)) throw e;
    }
    entry = { lib, p11, refs: 0 };
    loaded.set(path, entry);
  }
  entry.refs++;
  return entry;
}

function releaseModule(path: string): void {
  const entry = loaded.get(path);
  if (!entry || --entry.refs > 0) return;
  loaded.delete(path);
  entry.p11.C_Finalize();
  entry.p11.close();
}

function isCode(e: unknown, code: number): boolean {
  return typeof e === "object" && e !== null && (e as { code?: unknown }).code === code;
}

/** An open, logged-in token: slot lookup by label, session handling, object search. */
class Token {
  readonly lib: Lib;
  readonly p11: P11.PKCS11;
  readonly slot: P11.Handle;
  constructor(
    private readonly modulePath: string,
    tokenLabel: string,
  ) {
    const m = acquireModule(modulePath);
    this.lib = m.lib;
    this.p11 = m.p11;
    const slot = this.p11.C_GetSlotList(true).find((s) => this.p11.C_GetTokenInfo(s).label.trim() === tokenLabel);
    if (!slot) {
      releaseModule(modulePath);
      throw new Error(`no token labelled "${tokenLabel}" in ${modulePath}`);
    }
    this.slot = slot;
  }

  openSession(pin: string): P11.Handle {
    const s = this.p11.C_OpenSession(this.slot, this.lib.CKF_SERIAL_SESSION | this.lib.CKF_RW_SESSION);
    try {
      this.p11.C_Login(s, this.lib.CKU_USER, pin);
    } catch (e) {
      // Login state is per token per application: every session after the first is logged in.
      if (!isCode(e, CKR_USER_ALREADY_LOGGED_IN)) {
        this.p11.C_CloseSession(s);
        throw e;
      }
    }
    return s;
  }

  find(session: P11.Handle, template: P11.Template): P11.Handle[] {
    this.p11.C_FindObjectsInit(session, template);
    try {
      return this.p11.C_FindObjects(session, 16);
    } finally {
      this.p11.C_FindObjectsFinal(session);
    }
  }

  /** Reads the EC public key of the pair labelled `label` and infers its key type from CKA_EC_PARAMS. */
  publicKey(session: P11.Handle, label: string): { keyType: KeyType; jwk: JWK } {
    const [pub, extra] = this.find(session, [
      { type: this.lib.CKA_CLASS, value: this.lib.CKO_PUBLIC_KEY },
      { type: this.lib.CKA_LABEL, value: label },
    ]);
    if (!pub) throw new Error(`no public key labelled "${label}"`);
    if (extra) throw new Error(`more than one public key labelled "${label}"`);
    const [params, point] = this.p11.C_GetAttributeValue(session, pub, [{ type: this.lib.CKA_EC_PARAMS }, { type: this.lib.CKA_EC_POINT }]);
    const hex = params!.value.toString("hex");
    const keyType = (Object.keys(EC_PARAMS) as KeyType[]).find((k) => EC_PARAMS[k].includes(hex));
    if (!keyType) throw new Error(`key "${label}" has unsupported CKA_EC_PARAMS ${hex}`);
    return { keyType, jwk: jwkFromPublicBytes(keyType, unwrapEcPoint(keyType, point!.value)) };
  }

  close(): void {
    releaseModule(this.modulePath);
  }
}

/**
 * CKA_EC_POINT is a DER OCTET STRING around the point (PKCS#11 2.40); a few tokens store the bare
 * point. The expected point length tells the two apart without guessing from the first byte.
 */
function unwrapEcPoint(keyType: KeyType, v: Buffer): Uint8Array {
  const sizes = keyType === "Ed25519" ? [32] : [33, 65];
  if (sizes.includes(v.length)) return v;
  if (v[0] === 0x04 && v[1] === v.length - 2 && sizes.includes(v.length - 2)) return v.subarray(2);
  throw new Error(`cannot parse CKA_EC_POINT (${v.length} bytes)`);
}

/** Opens the key pair `keyLabel` in a token; `sessions` sessions sign in parallel. */
export async function openPkcs11Backend(opts: Pkcs11Options): Promise<SigningBackend> {
  const token = new Token(opts.module, opts.token);
  const sessions: P11.Handle[] = [];
  try {
    for (let i = 0; i < Math.max(1, opts.sessions ?? 1); i++) sessions.push(token.openSession(opts.pin));
    const first = sessions[0]!;
    const { keyType, jwk } = token.publicKey(first, opts.keyLabel);
    const [priv, extra] = token.find(first, [
      { type: token.lib.CKA_CLASS, value: token.lib.CKO_PRIVATE_KEY },
      { type: token.lib.CKA_LABEL, value: opts.keyLabel },
    ]);
    if (!priv) throw new Error(`no private key labelled "${opts.keyLabel}" (wrong PIN or label?)`);
    if (extra) throw new Error(`more than one private key labelled "${opts.keyLabel}"`);
    const alg = ALG_OF[keyType];
    const mechanism = { mechanism: alg === "EdDSA" ? CKM_EDDSA : token.lib.CKM_ECDSA };

    // Sessions are not thread-safe, and C_SignInit/C_Sign is a two-step state machine on the
    // session: each sign takes a session out of the pool and returns it afterwards.
    const free = [...sessions];
    const waiters: ((s: P11.Handle) => void)[] = [];
    const take = () =>
      new Promise<P11.Handle>((resolve) => {
        const s = free.pop();
        if (s) resolve(s);
        else waiters.push(resolve);
      });
    const give = (s: P11.Handle) => {
      const w = waiters.shift();
      if (w) w(s);
      else free.push(s);
    };

    return {
      alg,
      publicJwk: async () => ({ ...jwk }),
      async sign(signingInput) {
        const msg = Buffer.from(signingInput, "ascii");
        // EdDSA signs the whole message; CKM_ECDSA is the raw primitive over a digest we compute.
        const data = alg === "EdDSA" ? msg : Buffer.from(sha256(msg));
        const s = await take();
        try {
          token.p11.C_SignInit(s, mechanism, priv);
          // The async variant runs on libuv's pool, so a slow network HSM does not block the loop.
          const sig = await token.p11.C_SignAsync(s, data, Buffer.alloc(512));
          return alg === "EdDSA" ? new Uint8Array(sig) : joseEcdsa(alg, sig);
        } finally {
          give(s);
        }
      },
      async close() {
        for (const s of sessions) token.p11.C_CloseSession(s);
        token.close();
      },
    };
  } catch (e) {
    for (const s of sessions) token.p11.C_CloseSession(s);
    token.close();
    throw e;
  }
}

/**
 * Generates a token key pair labelled `keyLabel`: private key sensitive, never extractable,
 * sign-only. Refuses a label that already exists, because the backend finds keys by label.
 */
export async function keygenPkcs11(opts: Omit<Pkcs11Options, "sessions">, keyType: KeyType): Promise<KeygenResult> {
  const token = new Token(opts.module, opts.token);
  const lib = token.lib;
  const s = token.openSession(opts.pin);
  try {
    const existing = token.find(s, [{ type: lib.CKA_LABEL, value: opts.keyLabel }]);
    if (existing.length > 0) throw new Error(`an object labelled "${opts.keyLabel}" already exists`);
    const ed = keyType === "Ed25519";
    const ckk = ed ? CKK_EC_EDWARDS : lib.CKK_EC;
    const id = randomBytes(16);
    const common = (cls: number) => [
      { type: lib.CKA_CLASS, value: cls },
      { type: lib.CKA_KEY_TYPE, value: ckk },
      { type: lib.CKA_TOKEN, value: true },
      { type: lib.CKA_LABEL, value: opts.keyLabel },
      { type: lib.CKA_ID, value: id },
    ];
    token.p11.C_GenerateKeyPair(
      s,
      { mechanism: ed ? CKM_EC_EDWARDS_KEY_PAIR_GEN : lib.CKM_EC_KEY_PAIR_GEN },
      [
        ...common(lib.CKO_PUBLIC_KEY),
        { type: lib.CKA_VERIFY, value: true },
        { type: lib.CKA_EC_PARAMS, value: Buffer.from(EC_PARAMS[keyType][0]!, "hex") },
      ],
      [
        ...common(lib.CKO_PRIVATE_KEY),
        { type: lib.CKA_PRIVATE, value: true },
        { type: lib.CKA_SENSITIVE, value: true },
        { type: lib.CKA_EXTRACTABLE, value: false },
        { type: lib.CKA_SIGN, value: true },
      ],
    );
    const { jwk } = token.publicKey(s, opts.keyLabel);
    return keygenResult(keyType, jwk, pkcs11Uri(opts.token, opts.keyLabel));
  } finally {
    token.p11.C_CloseSession(s);
    token.close();
  }
}
