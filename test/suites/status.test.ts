// Runs test/status/*.test.ts as one workerd test file (why: test/suites/README.md).
import.meta.glob(["../status/*.test.ts"], { eager: true });
