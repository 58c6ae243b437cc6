import { createRouter } from "../http/router";

/** Public: published status list credentials. */
export const statusPublic = createRouter();
/** Operator: credential status changes. */
export const statusRoutes = createRouter();
