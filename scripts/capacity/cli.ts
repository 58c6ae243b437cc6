/**
 * npm run capacity -- --issuers 100000 --credentials 100000000 --rate 5000 [--largest 10000000]
 *   [--batch 100] [--shards N] [--design today|proposed|both] [--json]
 * Prints, for each design, what lands on each store and which documented limit binds first.
 */
import { parseArgs } from "node:util";
import { DESIGNS, evaluate, formatResult, shardsFor, type Design, type Workload } from "./model.ts";
import { LIMITS } from "./limits.ts";

const USAGE = `usage: npm run capacity -- [--issuers N] [--credentials N] [--rate N] [--largest N]
         [--batch N] [--shards N] [--design today|proposed|both] [--json]`;

const options = {
  help: { type: "boolean", default: false },
  issuers: { type: "string", default: "100000" },
  credentials: { type: "string", default: "100000000" },
  rate: { type: "string", default: "5000" },
  largest: { type: "string" },
  batch: { type: "string", default: "100" },
  shards: { type: "string" },
  design: { type: "string", default: "both" },
  json: { type: "boolean", default: false },
} as const;

function parsed() {
  try {
    return parseArgs({ options }).values;
  } catch (err) {
    // An unknown or malformed option is the user's mistake: say which, and how to call it.
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

const values = parsed();
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const num = (name: string, raw: string | undefined): number => {
  const n = Number(String(raw).replaceAll("_", "").replaceAll(",", ""));
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`--${name} must be a positive number, got ${raw}`);
    process.exit(2);
  }
  return n;
};

const issuers = num("issuers", values.issuers);
const credentials = num("credentials", values.credentials);
const workload: Workload = {
  issuers,
  credentials,
  rate: num("rate", values.rate),
  largest: values.largest ? num("largest", values.largest) : credentials / issuers,
  batch: Math.min(1000, num("batch", values.batch)),
};
if (workload.largest > credentials) {
  console.error("--largest cannot exceed --credentials");
  process.exit(2);
}

const names = values.design === "both" ? (["today", "proposed"] as const) : [values.design as keyof typeof DESIGNS];
const results = names.map((name) => {
  const base: Design = DESIGNS[name];
  if (!base) {
    console.error(`--design must be today, proposed or both`);
    process.exit(2);
  }
  const shards = values.shards ? num("shards", values.shards) : name === "today" ? 1 : (shardsFor(base, workload) ?? base.shards);
  return evaluate({ ...base, shards }, workload);
});

if (values.json) {
  console.log(JSON.stringify(results, null, 2));
} else {
  console.log(
    `workload: ${workload.credentials.toLocaleString("en-US")} credentials, ${workload.issuers.toLocaleString("en-US")} issuers, ` +
      `${workload.rate.toLocaleString("en-US")} credentials/s, largest issuer ${Math.round(workload.largest).toLocaleString("en-US")}, ` +
      `${workload.batch} per request\n`,
  );
  for (const r of results) console.log(`${formatResult(r)}\n`);
  console.log(
    "limits: " +
      Object.values(LIMITS)
        .map((l) => l.source.split(" ")[0])
        .filter((s, i, a) => a.indexOf(s) === i)
        .join(", "),
  );
}
