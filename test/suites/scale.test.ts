// Runs test/cost/*.test.ts and test/scale/*.test.ts and test/shards/*.test.ts as one workerd test file (why: test/suites/README.md).
import.meta.glob(["../cost/*.test.ts", "../scale/*.test.ts", "../shards/*.test.ts"], { eager: true });
