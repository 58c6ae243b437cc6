import type { StatusAllocation, StatusPurpose } from "./kinds";

/** The issuer's Bitstring Status Lists: allocation of random indexes, bits, and re-signing. */
export class StatusLists {
  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly env: Env,
    private readonly did: () => string,
  ) {}

  allocate(_purpose: StatusPurpose, _credentialId: string, _origin: string, _now: number): StatusAllocation {
    throw new Error("status lists are not available yet");
  }
}
