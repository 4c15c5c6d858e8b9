/**
 * A static file server that honours single `Range: bytes=a-b` requests like an object store, counting what it
 * serves; `ignoreRange` makes it behave like a server without range support.
 */
import { createServer, type Server } from 'node:http';

export interface RangeServer {
  url(path: string): string;
  put(path: string, content: Buffer | string): void;
  /** The object is gone from now on (404), like a deleted object behind a presigned URL. */
  remove(path: string): void;
  requests: Array<{ path: string; range?: string; status: number }>;
  stop(): Promise<void>;
}

export async function startRangeServer(opts: { ignoreRange?: boolean; requireQuery?: string } = {}): Promise<RangeServer> {
  const files = new Map<string, Buffer>();
  const requests: RangeServer['requests'] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const range = req.headers.range;
    const record = (status: number) => requests.push({ path: url.pathname, range, status });
    if (opts.requireQuery && url.search !== opts.requireQuery) {
      record(403);
      res.writeHead(403).end('signature mismatch');
      return;
    }
    const body = files.get(url.pathname);
    if (!body || req.method !== 'GET') {
      record(404);
      res.writeHead(404).end();
      return;
    }
    const match = /^bytes=(\d+)-(\d+)$/.exec(range ?? '');
    if (!match || opts.ignoreRange) {
      record(200);
      res.writeHead(200, { 'content-length': body.length }).end(body);
      return;
    }
    const start = Number(match[1]);
    const end = Math.min(Number(match[2]), body.length - 1);
    if (start >= body.length) {
      record(416);
      res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
      return;
    }
    record(206);
    res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${body.length}`, 'content-length': end - start + 1 });
    res.end(body.subarray(start, end + 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    url: (path) => `http://127.0.0.1:${address.port}${path}`,
    put: (path, content) => files.set(path, Buffer.isBuffer(content) ? content : Buffer.from(content)),
    remove: (path) => files.delete(path),
    requests,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
