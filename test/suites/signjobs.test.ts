// Runs test/signjobs/*.test.ts as one workerd test file (why: test/suites/README.md).
import.meta.glob(["../signjobs/*.test.ts"], { eager: true });
