// Runs test/ion/*.test.ts and test/rotation/*.test.ts as one workerd test file (why: test/suites/README.md).
import.meta.glob(["../ion/*.test.ts", "../rotation/*.test.ts"], { eager: true });
