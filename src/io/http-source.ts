/**
 * Inputs that workers on several hosts can share: an http(s) URL (a presigned object-store URL works the same
 * way) read with range requests, so each chunk activity fetches only its own byte range, exactly as it would
 * read a local file.
 */
import { Agent, request, type Dispatcher } from 'undici';
import type { ByteSource } from './byte-source';
import { vettedConnector } from './input-policy';
import { displayLocation } from '../shared/location';

const AGENT_OPTIONS = { connections: 16, keepAliveTimeout: 10_000 } as const;
/** For the CLI, which reads what its own user names; a worker's sources connect through policyAgent. */
const unrestricted = new Agent(AGENT_OPTIONS);
const policyAgents = new Map<string, Agent>();

/**
 * The connection pool a worker reads URLs through: every connection is checked against the worker's input policy
 * at connect time (src/io/input-policy.ts vettedConnector). One per SEGFLOW_INPUT_HOSTS value, so pooled
 * connections are reused across sources.
 */
export function policyAgent(env: NodeJS.ProcessEnv): Agent {
  const key = env.SEGFLOW_INPUT_HOSTS ?? '';
  let agent = policyAgents.get(key);
  if (agent === undefined) {
    agent = new Agent({ ...AGENT_OPTIONS, connect: vettedConnector({ SEGFLOW_INPUT_HOSTS: key }) });
    policyAgents.set(key, agent);
  }
  return agent;
}

/**
 * A range is fetched in windows of at most this many bytes, each read whole before the caller sees any of it.
 * Whole: a chunk activity consumes its bytes at the job's rate cap, for seconds or minutes; a body left streaming
 * that long is one the server finished sending long ago, and once it closes the idle keep-alive connection undici
 * fails the half-consumed body ("other side closed"; seen between network namespaces,
 * test/cluster/slow-range-reader.test.ts). In windows: the chunk planner opens everything up to the end of the
 * file and stops after a few chunks' worth, so it fetches at most one window it does not use.
 */
export const HTTP_WINDOW_BYTES = 4 * 1024 * 1024;

export interface HttpRangeSourceOptions {
  timeoutMs?: number;
  windowBytes?: number;
  /**
   * The version (from `version()`) the job recorded when it inspected the input: every range request is then
   * conditional on it (If-Match for a strong ETag, If-Unmodified-Since for Last-Modified), so an object overwritten
   * between two reads answers 412 instead of other bytes (docs/input-pinning.md).
   */
  pinnedVersion?: string;
  /**
   * What connects: a worker passes policyAgent(env), so an address its input policy refuses is never connected to,
   * even when DNS answers differently than it did for the activity's check. Redirects are not followed (a 3xx is
   * refused like any status but 206), so no other host is reached. Default: no policy (the CLI).
   */
  dispatcher?: Dispatcher;
}

export class HttpRangeSource implements ByteSource {
  readonly description: string;
  private readonly timeoutMs: number;
  private readonly windowBytes: number;
  private readonly conditions: Record<string, string>;
  private readonly dispatcher: Dispatcher;

  constructor(
    private readonly url: string,
    options: HttpRangeSourceOptions = {},
  ) {
    // A presigned URL's query string is a credential: never show it in messages or logs.
    this.description = displayLocation(url);
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.windowBytes = options.windowBytes ?? HTTP_WINDOW_BYTES;
    this.conditions = conditionalHeaders(options.pinnedVersion);
    this.dispatcher = options.dispatcher ?? unrestricted;
  }

  /**
   * Asks for the first byte rather than HEAD: a presigned URL is signed for one method (GET), and
   * `Content-Range: bytes 0-0/<total>` carries the size.
   */
  async size(): Promise<number> {
    return (await this.firstByte()).size;
  }

  async version(): Promise<string | undefined> {
    return (await this.firstByte()).version;
  }

  private async firstByte(): Promise<{ size: number; version: string | undefined }> {
    const response = await request(this.url, {
      method: 'GET',
      headers: { range: 'bytes=0-0', ...this.conditions },
      dispatcher: this.dispatcher,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
    await response.body.dump();
    const version = versionOf(response.headers);
    if (response.statusCode === 416) return { size: 0, version }; // an empty object has no byte 0
    if (response.statusCode !== 206) throw this.refusal(response.statusCode, 'a range request for the first byte');
    const total = /\/(\d+)\s*$/.exec(String(response.headers['content-range'] ?? ''))?.[1];
    if (total === undefined) throw new Error(`${this.description}: the server did not say the size (Content-Range: bytes 0-0/<size>)`);
    return { size: Number(total), version };
  }

  openRange(start: number, endExclusive: number): AsyncIterable<Buffer> {
    const { url, timeoutMs, windowBytes, conditions, dispatcher } = this;
    const describe = (status: number, what: string) => this.refusal(status, what);
    return (async function* rangeBody() {
      for (let from = start; from < endExclusive; from += windowBytes) {
        const to = Math.min(from + windowBytes, endExclusive);
        const response = await request(url, {
          method: 'GET',
          headers: { range: `bytes=${from}-${to - 1}`, ...conditions },
          dispatcher,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        // A 200 would be the whole object: a server that ignores Range cannot serve chunks.
        if (response.statusCode !== 206) {
          await response.body.dump();
          throw describe(response.statusCode, `bytes ${from}-${to - 1}`);
        }
        const body = Buffer.from(await response.body.arrayBuffer());
        if (body.length !== to - from) {
          throw new Error(`short read of bytes ${from}-${to - 1}: got ${body.length} bytes`);
        }
        yield body;
      }
    })();
  }

  private refusal(status: number, what: string): Error {
    const hint =
      status === 200
        ? 'the server ignores Range requests; serve the file from a server that supports them (object stores do)'
        : status === 403
          ? 'access denied (an expired presigned URL?)'
          : status === 404
            ? 'not found'
            : status === 412
              ? 'the object changed since the job first read it (its ETag or Last-Modified no longer matches)'
              : `HTTP ${status}`;
    // The status travels with the error so the activity can tell a permanent refusal (403, 404) from a blip.
    return Object.assign(new Error(`${this.description}: cannot read ${what}: ${hint}`), { status });
  }
}

/**
 * A strong ETag names one exact content; a weak one (W/"...") or Last-Modified only says "probably the same". Both
 * are recorded; only a strong ETag can be used with If-Match (weak ones never match it, RFC 9110 §13.1.1).
 */
function versionOf(headers: Record<string, string | string[] | undefined>): string | undefined {
  const etag = headers.etag;
  if (typeof etag === 'string' && etag !== '') return `etag ${etag}`;
  const modified = headers['last-modified'];
  if (typeof modified === 'string' && modified !== '') return `last-modified ${modified}`;
  return undefined;
}

function conditionalHeaders(pinned: string | undefined): Record<string, string> {
  if (pinned?.startsWith('etag "')) return { 'if-match': pinned.slice('etag '.length) };
  if (pinned?.startsWith('last-modified ')) return { 'if-unmodified-since': pinned.slice('last-modified '.length) };
  return {};
}
