// Runs test/presentations/*.test.ts and test/manifests/*.test.ts and test/schemas/*.test.ts as one workerd test file (why: test/suites/README.md).
import.meta.glob(["../presentations/*.test.ts", "../manifests/*.test.ts", "../schemas/*.test.ts"], { eager: true });
