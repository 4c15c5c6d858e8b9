/**
 * A static file server that honours single `Range: bytes=a-b` requests like an object store, counting what it
 * serves; `ignoreRange` makes it behave like a server without range support. Like S3 and GCS it sends a strong
 * ETag (a digest of the content) and answers 412 when `If-Match` names another one; `lastModifiedOnly` sends
 * Last-Modified instead, honouring `If-Unmodified-Since`.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';

export interface RangeServer {
  url(path: string): string;
  put(path: string, content: Buffer | string): void;
  /** The object is gone from now on (404), like a deleted object behind a presigned URL. */
  remove(path: string): void;
  requests: Array<{ path: string; range?: string; status: number; remote?: string }>;
  stop(): Promise<void>;
}

export interface RangeServerOptions {
  ignoreRange?: boolean;
  requireQuery?: string;
  /** Default 127.0.0.1; the multi-host test binds the storage host's own address. */
  host?: string;
  onRequest?: (entry: RangeServer['requests'][number]) => void;
  /** Node's default is 5 s: an idle keep-alive connection is closed after that, like any HTTP server does. */
  keepAliveTimeoutMs?: number;
  lastModifiedOnly?: boolean;
}

export async function startRangeServer(opts: RangeServerOptions = {}): Promise<RangeServer> {
  const files = new Map<string, Buffer>();
  const modified = new Map<string, Date>();
  const requests: RangeServer['requests'] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const range = req.headers.range;
    const record = (status: number) => {
      const entry = { path: url.pathname, range, status, remote: req.socket.remoteAddress };
      requests.push(entry);
      opts.onRequest?.(entry);
    };
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
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
    const lastModified = (modified.get(url.pathname) ?? new Date(0)).toUTCString();
    const versionHeaders: Record<string, string> = opts.lastModifiedOnly ? { 'last-modified': lastModified } : { etag };
    const ifMatch = req.headers['if-match'];
    const ifUnmodifiedSince = req.headers['if-unmodified-since'];
    if (
      (ifMatch !== undefined && ifMatch !== etag) ||
      (ifUnmodifiedSince !== undefined && Date.parse(lastModified) > Date.parse(ifUnmodifiedSince))
    ) {
      record(412);
      res.writeHead(412).end();
      return;
    }
    const match = /^bytes=(\d+)-(\d+)$/.exec(range ?? '');
    if (!match || opts.ignoreRange) {
      record(200);
      res.writeHead(200, { 'content-length': body.length, ...versionHeaders }).end(body);
      return;
    }
    const start = Number(match[1]);
    const end = Math.min(Number(match[2]), body.length - 1);
    if (start >= body.length) {
      record(416);
      res.writeHead(416, { 'content-range': `bytes */${body.length}`, ...versionHeaders }).end();
      return;
    }
    record(206);
    res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${body.length}`, 'content-length': end - start + 1, ...versionHeaders });
    res.end(body.subarray(start, end + 1));
  });
  if (opts.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = opts.keepAliveTimeoutMs;
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const address = server.address() as { port: number };
  return {
    url: (path) => `http://${host}:${address.port}${path}`,
    put: (path, content) => {
      files.set(path, Buffer.isBuffer(content) ? content : Buffer.from(content));
      // Last-Modified has whole seconds: a later put is at least a second newer, as a real overwrite would be.
      const previous = modified.get(path)?.getTime() ?? 0;
      modified.set(path, new Date(Math.max(Date.now(), previous + 1000)));
    },
    remove: (path) => files.delete(path),
    requests,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
