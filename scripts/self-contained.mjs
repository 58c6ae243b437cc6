// Fails when a tracked file reaches outside the repository (for example into a sibling
// `../shared` folder that exists beside a developer's checkout but not in a user's clone).
import { execFileSync } from "node:child_process";

const files = execFileSync(
  "git",
  ["ls-files", "--", "src", "durable-objects", "test", "signer", "bench", "scripts", "*.json", "*.ts", "*.toml"],
  { encoding: "utf8" },
)
  .split("\n")
  .filter((f) => f && !f.startsWith("test/vectors/") && f !== "scripts/self-contained.mjs" && f !== "package-lock.json");
const hits = [];
for (const f of files) {
  const text = execFileSync("git", ["show", `:${f}`], { encoding: "utf8", maxBuffer: 64 << 20 });
  text.split("\n").forEach((line, i) => {
    if (/(["'`])(\.\.\/)+shared\//.test(line)) hits.push(`${f}:${i + 1}: ${line.trim()}`);
  });
}
if (hits.length > 0) {
  console.error("These files read from outside the repository; keep a copy inside it instead:\n" + hits.join("\n"));
  process.exit(1);
}
