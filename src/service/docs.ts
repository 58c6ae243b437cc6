import { Hono } from "hono";
import type { AppEnv } from "../http/router";

export const docs = new Hono<AppEnv>();
