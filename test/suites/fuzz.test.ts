// Runs test/fuzz/*.test.ts as one workerd test file (why: test/suites/README.md).
import.meta.glob(["../fuzz/*.test.ts"], { eager: true });
