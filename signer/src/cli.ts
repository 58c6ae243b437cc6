import { rmSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { KEY_TYPES, type KeyType, type SigningBackend } from "./backend.js";
import { keygenJwk, openJwkBackend } from "./backends/jwk.js";
import { keygenPkcs11, openPkcs11Backend, parsePkcs11Uri, pkcs11Uri, type Pkcs11Options } from "./backends/pkcs11.js";
import { MAX_BATCH } from "./batcher.js";
import { checkTransport, runSocket } from "./connection.js";
import { defaultKid, MAX_TOKEN_SECONDS } from "./didauth.js";
import { JobRunner } from "./jobs.js";
import { Log } from "./log.js";
import { loadPolicy } from "./policy.js";
import { runPoll } from "./poll.js";

const HELP = `ssi-edge-signer — SIP 9 external signer for ssi-edge

Usage:
  ssi-edge-signer keygen --backend pkcs11 --module <lib.so> --token <label> --pin-env <VAR>
                         --key-label <label> --key-type Ed25519|P-256|secp256k1
  ssi-edge-signer keygen --backend jwk --out <key.jwk> --key-type Ed25519|P-256|secp256k1
  ssi-edge-signer run --url <service> --did <did> --backend pkcs11|jwk [backend options]
                      [--kid <vm id>] [--aud <origin>] [--policy <policy.json>]
                      [--poll] [--poll-interval <ms>] [--concurrency <n>] [--allow-insecure]
                      [--batch-window <ms>] [--batch-max <n>] [--max-unconfirmed <n>]

Backend options:
  pkcs11: --module <path> --token <label> --key-label <label> --pin-env <VAR>
          (or --key-ref "pkcs11:token=<t>;object=<label>" instead of --token/--key-label)
  jwk:    --key-file <key.jwk>   (development only: the private key is a file)

run options:
  --kid            verification method id for DID-auth (default: derived for did:key and did:jwk)
  --aud            DID-auth audience (default: origin of --url; set it to PUBLIC_URL if different)
  --policy         JSON {"kinds"?, "schemaIds"?, "subjects"?}; jobs outside it are rejected
                   (without it: credentials and status lists of --did, in the shapes ssi-edge
                   builds; every job is checked against the bytes it signs, whatever its label)
  --key-ref        the keyRef the DID was registered with (pkcs11: defaults to the token and
                   label); a job naming another key is rejected
  --allow-insecure allow an http:// --url (ws:// socket) to a host other than this machine
  --pid-file       write the process id there while running (npx runs the daemon under npm
                   and a shell, so the pid of a backgrounded npx is not the daemon's)
  --poll           poll GET /v1/signjobs instead of holding a WebSocket
  --concurrency    signatures made in parallel (pkcs11: sessions opened), default 4
  --token-ttl      DID-auth JWT lifetime in seconds, at most ${MAX_TOKEN_SECONDS} (default)
  --drain-timeout  seconds to wait for answers in flight on SIGINT/SIGTERM, default 30
  --batch-window   ms a signature waits for others to share one batched sign frame, default 5
                   (0: one frame per signature; a service without batched frames is detected)
  --batch-max      signatures per batched sign frame, 1..1000, default 1000
  --max-unconfirmed  signatures sent and not yet confirmed by the service, at most n (socket
                   only); the next job is signed when a result arrives. Default: no bound

keygen prints {publicKeyJwk, keyRef, body}; body is a ready PUT /v1/dids/key request.
run logs one JSON line per job to stdout, counters every 30 s; diagnostics go to stderr.`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    help: { type: "boolean", short: "h" },
    backend: { type: "string" },
    module: { type: "string" },
    token: { type: "string" },
    "pin-env": { type: "string" },
    "key-label": { type: "string" },
    "key-ref": { type: "string" },
    "key-type": { type: "string" },
    "key-file": { type: "string" },
    out: { type: "string" },
    url: { type: "string" },
    did: { type: "string" },
    kid: { type: "string" },
    aud: { type: "string" },
    policy: { type: "string" },
    poll: { type: "boolean" },
    "poll-interval": { type: "string" },
    concurrency: { type: "string" },
    "token-ttl": { type: "string" },
    "drain-timeout": { type: "string" },
    "allow-insecure": { type: "boolean" },
    "pid-file": { type: "string" },
    "batch-window": { type: "string" },
    "batch-max": { type: "string" },
    "max-unconfirmed": { type: "string" },
  },
});

class UsageError extends Error {}

function need(name: keyof typeof values): string {
  const v = values[name];
  if (typeof v !== "string" || v === "") throw new UsageError(`--${name} is required`);
  return v;
}

function int(name: keyof typeof values, dflt: number, min: number, max: number): number {
  const raw = values[name];
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer in ${min}..${max}`);
  return n;
}

function pkcs11Options(): Pkcs11Options {
  const ref = values["key-ref"] ? parsePkcs11Uri(values["key-ref"]) : {};
  const pinEnv = need("pin-env");
  const pin = process.env[pinEnv];
  if (pin === undefined) throw new UsageError(`environment variable ${pinEnv} (--pin-env) is not set`);
  const token = values.token ?? ref.token;
  const keyLabel = values["key-label"] ?? ref.object;
  if (!token) throw new UsageError("--token (or --key-ref with token=) is required");
  if (!keyLabel) throw new UsageError("--key-label (or --key-ref with object=) is required");
  return { module: need("module"), token, keyLabel, pin };
}

async function keygen(): Promise<void> {
  const keyType = need("key-type") as KeyType;
  if (!KEY_TYPES.includes(keyType)) throw new UsageError(`--key-type must be one of ${KEY_TYPES.join(", ")}`);
  const backend = need("backend");
  const result =
    backend === "pkcs11"
      ? await keygenPkcs11(pkcs11Options(), keyType)
      : backend === "jwk"
        ? await keygenJwk(keyType, need("out"))
        : usage(`unknown --backend ${backend}`);
  process.stdout.write(JSON.stringify(result, null, 2) + "\n");
}

async function openBackend(concurrency: number): Promise<SigningBackend> {
  const backend = need("backend");
  if (backend === "pkcs11") return openPkcs11Backend({ ...pkcs11Options(), sessions: concurrency });
  if (backend === "jwk") return openJwkBackend(need("key-file"));
  return usage(`unknown --backend ${backend}`);
}

/** The key reference jobs must name (or omit): what keygen printed, or --key-ref. */
function configuredKeyRef(): string | undefined {
  if (values.backend !== "pkcs11") return values["key-ref"];
  const { token, keyLabel } = pkcs11Options();
  return values["key-ref"] ?? pkcs11Uri(token, keyLabel);
}

async function run(): Promise<void> {
  const url = need("url");
  const transport = checkTransport(url, values["allow-insecure"]);
  if (transport) throw new UsageError(transport);
  const did = need("did");
  const concurrency = int("concurrency", 4, 1, 256);
  const auth = {
    did,
    kid: values.kid ?? defaultKid(did),
    aud: values.aud ?? new URL(url).origin,
    ttlSeconds: int("token-ttl", MAX_TOKEN_SECONDS, 10, MAX_TOKEN_SECONDS),
  };
  if (!values.poll && typeof WebSocket === "undefined") {
    throw new UsageError("this Node has no global WebSocket (needs Node >= 22); use --poll or a newer Node");
  }
  if (values.poll && values["max-unconfirmed"] !== undefined) {
    throw new UsageError("--max-unconfirmed is for the socket: a poll round sends its answers together");
  }
  const maxUnconfirmed = values["max-unconfirmed"] === undefined ? undefined : int("max-unconfirmed", 1, 1, 100_000);
  const policy = values.policy ? await loadPolicy(values.policy) : undefined;
  const backend = await openBackend(concurrency);
  const log = new Log();
  const keyRef = configuredKeyRef();
  const runner = new JobRunner(
    backend,
    {
      did,
      kid: auth.kid,
      concurrency,
      ...(maxUnconfirmed ? { maxUnconfirmed } : {}),
      ...(keyRef ? { keyRef } : {}),
      ...(policy ? { policy } : {}),
    },
    log,
  );

  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (stop.signal.aborted) {
      log.warn("forced_exit", { signal: sig, pending: runner.pending });
      process.exit(1);
    }
    log.info("signal", { signal: sig });
    stop.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const stats = setInterval(() => log.stats({ pending: runner.pending }), 30_000);
  const pidFile = values["pid-file"];
  if (pidFile) writeFileSync(pidFile, `${process.pid}\n`);

  log.info("start", {
    did,
    kid: auth.kid,
    alg: backend.alg,
    mode: values.poll ? "poll" : "socket",
    policy: !!policy,
  });
  const common = { url, auth, signal: stop.signal };
  try {
    if (values.poll)
      await runPoll(backend, runner, log, {
        ...common,
        intervalMs: int("poll-interval", 1000, 50, 60_000),
      });
    else
      await runSocket(backend, runner, log, {
        ...common,
        drainTimeoutMs: int("drain-timeout", 30, 0, 3600) * 1000,
        batch: { windowMs: int("batch-window", 5, 0, 1000), max: int("batch-max", MAX_BATCH, 1, MAX_BATCH) },
      });
  } finally {
    clearInterval(stats);
    log.stats({ pending: runner.pending, final: true });
    await backend.close();
    if (pidFile) rmSync(pidFile, { force: true });
  }
}

function usage(msg: string): never {
  throw new UsageError(msg);
}

async function main(): Promise<number> {
  const cmd = positionals[0];
  if (values.help || cmd === undefined || cmd === "help") {
    process.stdout.write(HELP + "\n");
    return values.help || cmd === "help" ? 0 : 2;
  }
  if (cmd === "keygen") await keygen();
  else if (cmd === "run") await run();
  else usage(`unknown command "${cmd}"`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) process.stderr.write(`error: ${e.message}\n\n${HELP}\n`);
    else process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
