/**
 * `segflow dev`'s local Segment stand-in: a small HTTP server that answers the Tracking API's batch endpoint the
 * way Segment does for well-formed requests (docs/segment-tracking-api.md), dedupes by messageId and counts what it
 * accepted, so a first run needs no Segment workspace. It is product code, shipped in a production install.
 *
 * It is not the test suite's Segment double (the tests' own support code): that one is an oracle written from
 * Segment's documentation, independent of the product's constants, with fault injection and every drop rule, so a
 * mistake in the product cannot hide itself. The stand-in only has to accept what segflow sends and say so.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SEGMENT_LIMITS } from '../shared/limits';

/** Segment's documented request limit is "500 KB"; the stand-in refuses bodies over the larger reading. */
const MAX_BODY_BYTES = 500 * 1024;
const BATCH_PATHS: ReadonlySet<string> = new Set(['/v1/batch', '/v1/import']);

export interface StandInStats {
  requests: number;
  accepted: number;
  duplicates: number;
  /** Requests refused with 400 or 401. */
  refused: number;
}

export interface StandInRequest {
  path: string;
  status: number;
  events: number;
  accepted: number;
  duplicates: number;
  bytes: number;
}

export interface SegmentStandInOptions {
  writeKey: string;
  host?: string;
  /** 0 (default): a free port. */
  port?: number;
  onRequest?: (request: StandInRequest) => void;
}

export interface SegmentStandIn {
  /** API root to give segflow as SEGMENT_TRACKING_URL (segflow appends /v1/batch). */
  url: string;
  stats(): StandInStats;
  stop(): Promise<void>;
}

/** One grep-friendly line per request, for the dev command's log. */
export function describeStandInRequest(request: StandInRequest): string {
  return [
    `POST ${request.path}`,
    String(request.status),
    `events=${request.events}`,
    `accepted=${request.accepted}`,
    `duplicates=${request.duplicates}`,
    `bytes=${request.bytes}`,
  ].join(' ');
}

/** The write key of a request: HTTP Basic username, else `writeKey` at the body root (both documented). */
function writeKeyOf(req: IncomingMessage, body: Record<string, unknown>): string | undefined {
  const header = req.headers.authorization;
  if (header?.startsWith('Basic ')) {
    const decoded = Buffer.from(header.slice('Basic '.length), 'base64').toString('utf8');
    return decoded.split(':')[0];
  }
  return typeof body.writeKey === 'string' ? body.writeKey : undefined;
}

export async function startSegmentStandIn(options: SegmentStandInOptions): Promise<SegmentStandIn> {
  const seen = new Set<string>();
  const stats: StandInStats = { requests: 0, accepted: 0, duplicates: 0, refused: 0 };
  const sockets = new Set<Socket>();

  const answer = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: Buffer, tooLarge: boolean) => {
    stats.requests++;
    const path = (req.url ?? '/').split('?')[0]!;
    const report = (status: number, events = 0, accepted = 0, duplicates = 0) =>
      options.onRequest?.({ path, status, events, accepted, duplicates, bytes: raw.length });
    const refuse = (status: number, message: string) => {
      stats.refused++;
      answer(res, status, { success: false, message });
      report(status);
    };

    if (req.method !== 'POST' || !BATCH_PATHS.has(path)) return refuse(404, 'not found');
    if (tooLarge) return refuse(400, 'request body too large');
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return refuse(400, 'expected JSON');
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return refuse(400, 'invalid JSON');
    }
    if (typeof body !== 'object' || body === null || !Array.isArray((body as { batch?: unknown }).batch)) {
      return refuse(400, 'expected {"batch": [...]}');
    }
    const envelope = body as { batch: unknown[] } & Record<string, unknown>;
    if (writeKeyOf(req, envelope) !== options.writeKey) return refuse(401, 'unknown write key');

    let accepted = 0;
    let duplicates = 0;
    for (const item of envelope.batch) {
      const messageId = (item as { messageId?: unknown } | null)?.messageId;
      // Segment keeps the first event of a messageId and drops later ones; over-long ids are dropped too.
      if (typeof messageId === 'string' && messageId.length <= SEGMENT_LIMITS.maxMessageIdLength) {
        if (seen.has(messageId)) {
          duplicates++;
          continue;
        }
        seen.add(messageId);
      }
      accepted++;
    }
    stats.accepted += accepted;
    stats.duplicates += duplicates;
    answer(res, 200, { success: true });
    report(200, envelope.batch.length, accepted, duplicates);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => handle(req, res, Buffer.concat(chunks), size > MAX_BODY_BYTES));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    stats: () => ({ ...stats }),
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive sockets of the worker's HTTP client would hold close() open.
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
