// Runs test/*.test.ts and test/crypto/*.test.ts as one workerd test file (why: test/suites/README.md).
import.meta.glob(["../*.test.ts", "../crypto/*.test.ts"], { eager: true });
