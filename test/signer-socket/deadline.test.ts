import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { AUTH_TIMEOUT_MS } from "../../durable-objects/signer-protocol";
import { SignerClient, externalIssuer } from "./client";

// Real time: the socket stays silent and nothing but the object's own alarm closes it.
describe("the first-message auth deadline, in real time", () => {
  it(
    "closes a silent socket with 4401 by the alarm alone, not before its deadline",
    async () => {
      const issuer = await externalIssuer();
      const opened = Date.now();
      const silent = await SignerClient.open(issuer.did, null);
      const deadline = await runInDurableObject(issuer.stub, (_, state) => state.storage.getAlarm());
      expect(deadline).toBeGreaterThanOrEqual(opened + AUTH_TIMEOUT_MS);
      // No upper bound here: how late the close comes is measured and logged, not asserted.
      const closed = await silent.waitClosed(4 * AUTH_TIMEOUT_MS);
      expect(closed.code).toBe(4401);
      expect(silent.closedAt!).toBeGreaterThanOrEqual(deadline!);
      console.log(
        JSON.stringify({
          event: "silent_socket_closed",
          afterOpenMs: silent.closedAt! - opened,
          afterDeadlineMs: silent.closedAt! - deadline!,
        }),
      );
    },
    6 * AUTH_TIMEOUT_MS,
  );
});
