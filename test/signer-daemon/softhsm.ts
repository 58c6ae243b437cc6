import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const SOFTHSM_MODULE = process.env.SOFTHSM2_MODULE ?? "/usr/lib/softhsm/libsofthsm2.so";
export const TOKEN = "t";
export const PIN = "1234";

/**
 * Whether SoftHSM2 tests run. In CI a missing SoftHSM2 is a failure (the suite must not go green
 * by skipping the HSM path); locally the tests skip with a loud message.
 */
export function softhsmAvailable(): boolean {
  if (existsSync(SOFTHSM_MODULE)) return true;
  const msg = `SoftHSM2 module not found at ${SOFTHSM_MODULE} (apt-get install -y softhsm2)`;
  if (process.env.CI) throw new Error(`${msg}; CI is set, so this is a failure`);
  console.warn(`\n!!! ${msg}: SKIPPING the PKCS#11 signer tests !!!\n`);
  return false;
}

/**
 * A fresh SoftHSM2 token in a temp dir, labelled `t` with user PIN 1234. Sets SOFTHSM2_CONF in
 * this process (read at C_Initialize) and returns the env for child processes.
 */
export function freshToken(): { dir: string; env: Record<string, string> } {
  const dir = mkdtempSync(join(tmpdir(), "ssi-signer-hsm-"));
  mkdirSync(join(dir, "tokens"));
  const conf = join(dir, "softhsm2.conf");
  writeFileSync(conf, `directories.tokendir = ${join(dir, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const env = { SOFTHSM2_CONF: conf };
  execFileSync("softhsm2-util", ["--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", "5678"], {
    env: { ...process.env, ...env },
    stdio: "pipe",
  });
  process.env.SOFTHSM2_CONF = conf;
  return { dir, env };
}

/**
 * The daemon's flags that name a key on the test token: `--backend pkcs11` with this module, token
 * and PIN variable, and the key's label. `keygen` and the daemon take the same ones.
 */
export function pkcs11KeyArgs(label: string, pinEnv = "SSI_SIGNER_PIN"): string[] {
  return ["--backend", "pkcs11", "--module", SOFTHSM_MODULE, "--token", TOKEN, "--pin-env", pinEnv, "--key-label", label];
}
