// Runs test/credentials/*.test.ts as one workerd test file (why: test/suites/README.md).
import.meta.glob(["../credentials/*.test.ts"], { eager: true });
