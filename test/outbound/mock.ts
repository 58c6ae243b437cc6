import { ION_TEST_NODE_URL, IonTestNode } from "../support/ion-node";

/**
 * The Worker's whole outside world in tests: miniflare hands every outbound fetch of the Worker
 * (and of the test code running inside it) to `outboundMock`, in the Node process. Nothing
 * reaches a real network. Tests script answers for exact URLs and read which URLs were asked
 * for through a control host, `https://outbound.control/…`:
 *   PUT /routes  { url, status?, headers?, body?, bytes?, hang? }  answer `url` like this
 *   GET /log?host=h                                               every URL of host h asked for
 * `bytes` streams that many bytes with no Content-Length; `hang` never answers; `drip` sends the
 * headers and a first chunk, then never ends the body; an unscripted URL is a 404. The control host exists only in this mock.
 */
export const CONTROL = "https://outbound.control";

/** The test ION node answers its own host (test/support/ion-node.ts); every other host is scripted here. */
const ionNode = new IonTestNode();

type Route = {
  url: string;
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  bytes?: number;
  hang?: boolean;
  drip?: boolean;
};

const routes = new Map<string, Route>();
const log: string[] = [];

export async function outboundMock(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.origin === CONTROL) {
    if (url.pathname === "/routes" && request.method === "PUT") {
      const route = (await request.json()) as Route;
      routes.set(new URL(route.url).href, route);
      return new Response(null, { status: 204 });
    }
    if (url.pathname === "/log") {
      const host = url.searchParams.get("host");
      return Response.json(log.filter((u) => new URL(u).host === host));
    }
    return new Response("unknown control request", { status: 400 });
  }
  log.push(url.href);
  if (url.origin === ION_TEST_NODE_URL) return ionNode.handle(request);
  const route = routes.get(url.href);
  if (!route) return new Response("not scripted", { status: 404 });
  if (route.hang) return new Promise<Response>(() => {});
  if (route.drip) {
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(route.body ?? "{"));
      },
    });
    return new Response(stream, { status: route.status ?? 200, headers: route.headers });
  }
  if (route.bytes !== undefined) {
    let left = route.bytes;
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (left <= 0) return controller.close();
        const n = Math.min(left, chunk.length);
        left -= n;
        controller.enqueue(chunk.subarray(0, n));
      },
    });
    return new Response(stream, { status: route.status ?? 200, headers: route.headers });
  }
  return new Response(route.body ?? "", { status: route.status ?? 200, headers: route.headers });
}
