/** `npm run bench`: every benchmark in one run, each with its baselines measured alongside. */
await import("./issuance.ts");
await import("./signers.ts");
