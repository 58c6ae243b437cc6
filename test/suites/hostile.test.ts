// Runs test/torture/*.test.ts and test/outbound/*.test.ts as one workerd test file (why: test/suites/README.md).
import.meta.glob(["../torture/*.test.ts", "../outbound/*.test.ts"], { eager: true });
