/**
 * The README's signer daemon section, run as written: its shell blocks are read from README.md
 * and executed by bash against a `wrangler dev` started here, after the walk-through's own
 * shell set-up block. So the section cannot drift from what works again.
 *
 * The only edits: the walk-through's base URL points at this test's server, and the SoftHSM2
 * module path follows SOFTHSM2_MODULE when set. The commands run in a fresh folder inside the
 * repository (so `npx ssi-edge-signer` is this checkout's) with its own `.dev.vars`, and the
 * section creates its own SoftHSM2 token there (SOFTHSM2_CONF included).
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, startDevServer, type DevServer } from "../../scripts/dev-server.ts";
import { SOFTHSM_MODULE, softhsmAvailable } from "../signer-daemon/softhsm.ts";
import { operator } from "./harness.ts";

const README_MODULE = "/usr/lib/softhsm/libsofthsm2.so";
const README_BASE = "http://localhost:8787";

/** The ```sh blocks between a heading and the next heading of the same or a higher level. */
function shellBlocks(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README has no "${heading}"`);
  const level = heading.split(" ")[0]!;
  const rest = markdown.slice(start + heading.length + 2);
  const next = rest.search(new RegExp(`\\n#{1,${level.length}} `));
  const section = next < 0 ? rest : rest.slice(0, next);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

const hsm = softhsmAvailable();

describe.skipIf(!hsm)("README: signer daemon section", () => {
  let server: DevServer;
  let dir: string;

  beforeAll(async () => {
    server = await startDevServer();
    // Inside the repository, so npx resolves this checkout's bin; node_modules is ignored by git.
    mkdirSync(join(ROOT, "node_modules", ".cache"), { recursive: true });
    dir = mkdtempSync(join(ROOT, "node_modules", ".cache", "readme-"));
    writeFileSync(join(dir, ".dev.vars"), `API_TOKENS=${server.token}\n`);
  });

  afterAll(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("runs verbatim: token, key, DID, daemon, a signed credential, a clean SIGTERM", async () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const setup = shellBlocks(readme, "## Walk-through")[0]!;
    expect(setup).toMatch(/^BASE=/m);
    const section = shellBlocks(readme, "## Signer daemon");
    expect(section.length).toBeGreaterThan(0);

    const script = ["set -euo pipefail", setup, ...section]
      .join("\n")
      .replaceAll(README_BASE, server.url)
      .replaceAll(README_MODULE, SOFTHSM_MODULE);
    const env: Record<string, string | undefined> = { ...process.env };
    delete env.SOFTHSM2_CONF; // the section sets its own
    delete env.SSI_SIGNER_PIN;
    const child = spawn("bash", ["-c", script], { cwd: dir, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      // The section waits for the daemon with an unbounded loop; bound it here.
      const timer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 150_000);
      child.on("exit", (c) => (clearTimeout(timer), resolve(c)));
    });
    try {
      process.kill(-child.pid!, "SIGKILL"); // anything the script left behind
    } catch {
      // the group is gone
    }
    expect(code, `stdout:\n${out}\nstderr:\n${err}`).toBe(0);

    // The last command printed the signed credential; a third party of sorts checks it.
    const jwt = /"jwt":\s*"([A-Za-z0-9_.-]+)"/.exec(out)?.[1];
    expect(jwt, out).toBeDefined();
    expect(out).toMatch(/"done":\s*true/);
    const call = operator(server.url, server.token);
    expect((await call("PUT", "/v1/credentials/verification", { credentialJwt: jwt })).body).toEqual({ verified: true });
    // The daemon logged the job it signed, then its final counters after the SIGTERM drain.
    const lines = out
      .split("\n")
      .filter((l) => l.startsWith('{"ts"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.event === "signed")).toHaveLength(1);
    expect(lines.at(-1)).toMatchObject({ event: "stats", signed: 1, final: true });
  });
});
