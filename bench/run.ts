/**
 * `npm run bench`: every benchmark in one run, each with its baselines measured alongside in
 * alternating rounds. Prints markdown: paste it into bench/RESULTS.md with the machine's load.
 */
import { execFileSync } from "node:child_process";
import { cpus } from "node:os";
import { main as breadth } from "./breadth.ts";
import { main as depth } from "./depth.ts";
import { main as issuance } from "./issuance.ts";
import { main as rotation } from "./rotation.ts";
import { main as signers } from "./signers.ts";
import { main as verification } from "./verification.ts";

const uptime = () => execFileSync("uptime", { encoding: "utf8" }).trim();
console.log(`# npm run bench: ${new Date().toISOString()}, ${cpus().length} cores (${cpus()[0]?.model ?? "?"})\n`);
console.log(`uptime at start: ${uptime()}\n`);
for (const [name, run] of [
  ["issuance", issuance],
  ["signers", signers],
  ["verification", verification],
  ["breadth", breadth],
  ["depth", depth],
  ["rotation", rotation],
] as const) {
  const t0 = Date.now();
  await run();
  console.log(`\n(${name}: ${((Date.now() - t0) / 1000).toFixed(0)} s; uptime: ${uptime()})\n`);
}
