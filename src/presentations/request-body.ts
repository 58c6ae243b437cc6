/**
 * The body of a request a verifier or issuer signs for holders to answer (a presentation request,
 * a manifest request): who signs it, whom it is for, until when, where answers may be posted.
 * Each adds what it asks for (a definition, a manifest).
 */
import { z } from "@hono/zod-openapi";

const Did = z
  .string()
  .min(8)
  .max(2048)
  .regex(/^did:[a-z0-9]+:\S+$/, "must be a DID");

export function holderRequestBody<T extends z.ZodRawShape>(name: string, asks: T) {
  return z
    .object({
      ...asks,
      issuerId: Did,
      verificationMethodId: z.string().min(1).max(2100).openapi({ example: "did:key:z6Mk...#z6Mk..." }),
      // DIDs only: a JWT addressed to an http(s) origin could pass for a DID-auth token there.
      audience: z.array(Did).max(32).optional().openapi({ description: "The wallets (DIDs) the request is for" }),
      expiration: z.iso.datetime({ offset: true }).optional(),
      callbackUrl: z
        .url({ protocol: /^https?$/ })
        .max(2048)
        .optional(),
    })
    .strict()
    .superRefine((body, ctx) => {
      // The shape above holds these three; `asks` being generic hides them from the type.
      const r = body as { issuerId: string; verificationMethodId: string; expiration?: string };
      if (!r.verificationMethodId.startsWith(`${r.issuerId}#`))
        ctx.addIssue({ code: "custom", path: ["verificationMethodId"], message: "must be a verification method of issuerId" });
      if (r.expiration !== undefined && Date.parse(r.expiration) <= Date.now())
        ctx.addIssue({ code: "custom", path: ["expiration"], message: "must be in the future" });
    })
    .openapi(name);
}
