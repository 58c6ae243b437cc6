// Runs test/signer-socket/*.test.ts as one workerd test file (why: test/suites/README.md).
import.meta.glob(["../signer-socket/*.test.ts"], { eager: true });
