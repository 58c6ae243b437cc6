// The one node:zlib call the Worker makes (nodejs_compat): a synchronous gzip, so a status list
// is encoded inside the same synchronous turn that reads its bits and creates its sign job.
declare module "node:zlib" {
  export function gzipSync(data: Uint8Array): Uint8Array;
}
