import { z } from "@hono/zod-openapi";
import { JOB_KINDS } from "../../durable-objects/kinds";
import { Operation, OperationResult, SignJob } from "../core/models";

/** The shared models as the OpenAPI document names them; a job's `kind` is one of the registered kinds. */
export const SignJobSchema = SignJob.extend({ kind: z.string().openapi({ enum: [...JOB_KINDS] }) }).openapi("SignJob");
export const OperationSchema = Operation.extend({
  id: z.string().openapi({ example: "credentials/3f2c9a1e-..." }),
  result: OperationResult.openapi("OperationResult").optional(),
}).openapi("Operation");
