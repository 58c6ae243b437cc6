import type { Result } from "./engine";
import type { JobStore } from "./jobs";
import type { SignJob, Submission } from "../src/signjobs/model";

/** What the hub needs from the issuer object. */
export interface SignerHubHost {
  submit(id: string, submission: Submission, origin: string): Promise<Result<SignJob>>;
  reject(id: string, reason: string): Promise<Result<SignJob>>;
  jobs(): JobStore;
  authenticate(jwt: string, audience: string): Promise<Result<{ verificationMethodId: string }>>;
  afterChange(): Promise<void>;
}

/**
 * Connected signers of one issuer: hibernatable WebSockets, the backlog on connect, pushes of new
 * jobs, and leases so each pending job is with one signer at a time.
 */
export class SignerHub {
  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: Env,
    private readonly did: () => string,
    private readonly host: SignerHubHost,
  ) {}

  offer(_jobs: SignJob[]): void {}
  ended(_ids: string[]): void {}
  signed(_id: string): void {}
  onAlarm(_now: number): void {}
  nextDue(): number | null {
    return null;
  }
  async connect(_request: Request): Promise<Response> {
    return new Response("signer sockets are not available yet", { status: 501 });
  }
  async message(_ws: WebSocket, _message: string | ArrayBuffer): Promise<void> {}
  async close(_ws: WebSocket, _code: number, _reason: string): Promise<void> {}
}
