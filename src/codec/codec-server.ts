/**
 * A codec server, so people who hold the key can read encrypted payloads in the Temporal Web UI and CLI
 * (`temporal ... --codec-endpoint`). The browser calls it directly; the key never reaches the Temporal server.
 *
 * Protocol (docs/temporal-notes.md, "Data security and the codec server"): `POST <any path>/encode` and
 * `POST <any path>/decode` with a proto-JSON body `{ "payloads": [ { "metadata": { k: base64 }, "data": base64 } ] }`,
 * answered in the same shape; the UI sends the namespace in `X-Namespace`. Anyone who can reach it can decrypt, so:
 * - it listens on loopback by default;
 * - it answers only requests whose Host header is allowed (DNS rebinding: a page on evil.example whose name
 *   resolves to 127.0.0.1 reaches a loopback server with `Host: evil.example`, and CORS does not stop a same-origin
 *   request to it);
 * - it requires a token by default, compared in constant time: `Authorization: Bearer <token>` (the CLI's
 *   `--codec-auth`), or the token as a path segment of the endpoint (`http://localhost:8888/<token>`), which is the
 *   one way the Web UI's codec settings can carry a secret. `allowUnauthenticated` turns this off explicitly.
 * With SEGFLOW_CODEC_REQUIRE_ENCRYPTION the codec refuses plaintext payloads (encryption-codec.ts).
 *
 * Run standalone: `node dist/codec/codec-server.js` (reads SEGFLOW_CODEC_* and SEGFLOW_CODEC_SERVER_*).
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CodecConfigError,
  PayloadDecryptionError,
  UnencryptedPayloadError,
  UnknownEncryptionKeyError,
  encryptionCodecFromEnv,
} from './encryption-codec';

export const DEFAULT_CODEC_SERVER_PORT = 8888;
/** The dev server's UI (`segflow dev`, port 8233) and the compose UI (8080). */
export const DEFAULT_ALLOWED_ORIGINS = ['http://localhost:8233', 'http://localhost:8080'];

/** Temporal payloads are at most 2 MiB each and a UI request carries a page of them; anything far larger is abuse. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

export interface CodecServerOptions {
  port: number;
  codec: PayloadCodec;
  /** Origin(s) of the Web UI allowed to call from a browser, e.g. `http://localhost:8080`; `*` allows any. */
  allowedOrigin: string | string[];
  /** Interface to listen on; 127.0.0.1 unless the server must be reachable from elsewhere (a container). */
  host?: string;
  /** When set, requests must carry exactly this `Authorization` header (the CLI's `--codec-auth`). */
  requiredAuthorization?: string;
  /** When set, requests must carry `Authorization: Bearer <token>` or the token as a path segment. */
  token?: string;
  /** Serve without authentication; only when set explicitly (a loopback-only dev setup). */
  allowUnauthenticated?: boolean;
  /**
   * Host header values accepted: `name` (any port) or `name:port`. Default: localhost, 127.0.0.1, [::1] and the
   * host the server listens on.
   */
  allowedHosts?: string[];
}

/** Loopback names a browser on this machine uses for the server. */
export const DEFAULT_ALLOWED_HOSTS = ['localhost', '127.0.0.1', '[::1]'];
/** A token shorter than this is guessable; refuse it at start. */
const MIN_TOKEN_CHARS = 16;

/** Equal-length digests, so the comparison takes the same time whatever the input and leaks not even its length. */
export function constantTimeEqual(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected)) && given.length === expected.length;
}

/** Whether a Host header names this server: a listed name with any port, or a listed name:port exactly. */
export function hostAllowed(hostHeader: string | undefined, allowed: string[]): boolean {
  if (!hostHeader) return false;
  const host = hostHeader.trim().toLowerCase();
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
  return allowed.some((entry) => {
    const wanted = entry.trim().toLowerCase();
    return wanted === host || wanted === name;
  });
}

export interface RunningCodecServer {
  /** Base URL to give the UI or `--codec-endpoint`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function startCodecServer(options: CodecServerOptions): Promise<RunningCodecServer> {
  const allowed = Array.isArray(options.allowedOrigin) ? options.allowedOrigin : [options.allowedOrigin];
  if (options.requiredAuthorization === undefined && options.token === undefined && !options.allowUnauthenticated) {
    throw new CodecConfigError(
      'The codec server requires authentication: set SEGFLOW_CODEC_SERVER_TOKEN (or SEGFLOW_CODEC_SERVER_AUTH), or SEGFLOW_CODEC_SERVER_AUTH=none to run without it on loopback.',
    );
  }
  if (options.token !== undefined && options.token.length < MIN_TOKEN_CHARS)
    throw new CodecConfigError(`SEGFLOW_CODEC_SERVER_TOKEN must be at least ${MIN_TOKEN_CHARS} characters (e.g. openssl rand -hex 24).`);
  const listenHost = options.host ?? '127.0.0.1';
  const hosts = options.allowedHosts ?? [
    ...DEFAULT_ALLOWED_HOSTS,
    ...(listenHost === '0.0.0.0' || listenHost === '::' ? [] : [listenHost.includes(':') ? `[${listenHost}]` : listenHost]),
  ];
  const server = createServer((request, response) => {
    handle(request, response, options, allowed, hosts).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : isPayloadError(error) ? 400 : 500;
      if (!response.headersSent) sendJson(response, status, { error: (error as Error).message });
      else response.destroy();
    });
  });
  const host = listenHost;
  await listen(server, options.port, host);
  const port = (server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** The caller sent something that cannot be decoded (tampered, wrong key); anything else is our fault. */
function isPayloadError(error: unknown): boolean {
  return (
    error instanceof UnknownEncryptionKeyError ||
    error instanceof PayloadDecryptionError ||
    error instanceof CodecConfigError ||
    error instanceof UnencryptedPayloadError
  );
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  options: CodecServerOptions,
  allowed: string[],
  hosts: string[],
): Promise<void> {
  // Before anything else, CORS preflights included: a rebinding page must learn nothing, not even the CORS policy.
  if (!hostAllowed(request.headers.host, hosts))
    throw new HttpError(421, 'Unknown Host header: this codec server answers only for its allowed host names (SEGFLOW_CODEC_ALLOWED_HOSTS).');
  setCorsHeaders(request, response, allowed);
  if (request.method === 'OPTIONS') {
    response.writeHead(204).end();
    return;
  }
  // Only the last path segment matters, so the UI and CLI can be pointed at any prefix.
  const segments = new URL(request.url ?? '/', 'http://codec').pathname.split('/').filter(Boolean);
  const operation = segments.pop();
  if (!authorized(request, segments, options))
    throw new HttpError(401, 'Missing or wrong credentials: send Authorization: Bearer <token>, or put the token in the endpoint path.');
  if (operation !== 'encode' && operation !== 'decode') throw new HttpError(404, 'Not found: POST to .../encode or .../decode.');
  if (request.method !== 'POST') throw new HttpError(405, `Use POST for /${operation}.`);

  const payloads = parsePayloads(await readBody(request)).map(payloadFromJson);
  const result = operation === 'encode' ? await options.codec.encode(payloads) : await options.codec.decode(payloads);
  sendJson(response, 200, { payloads: result.map(payloadToJson) });
}

function authorized(request: IncomingMessage, pathPrefix: string[], options: CodecServerOptions): boolean {
  const header = request.headers.authorization ?? '';
  if (options.requiredAuthorization !== undefined && constantTimeEqual(header, options.requiredAuthorization)) return true;
  if (options.token !== undefined) {
    if (constantTimeEqual(header, `Bearer ${options.token}`)) return true;
    // Every segment is compared, so the time taken does not depend on where (or whether) the token sits.
    let found = false;
    for (const segment of pathPrefix) found = constantTimeEqual(decodeURIComponent(segment), options.token) || found;
    if (found) return true;
  }
  return options.requiredAuthorization === undefined && options.token === undefined && options.allowUnauthenticated === true;
}

function setCorsHeaders(request: IncomingMessage, response: ServerResponse, allowed: string[]): void {
  const origin = request.headers.origin;
  if (allowed.includes('*')) {
    response.setHeader('Access-Control-Allow-Origin', '*');
  } else if (origin && allowed.includes(origin)) {
    response.setHeader('Access-Control-Allow-Origin', origin);
    // The UI can forward the user's access token (codec.includeCredentials / passAccessToken).
    response.setHeader('Access-Control-Allow-Credentials', 'true');
    response.setHeader('Vary', 'Origin');
  } else {
    return; // no CORS headers: the browser refuses the response, which is the point
  }
  response.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
  response.setHeader('Access-Control-Allow-Headers', 'x-namespace, content-type, authorization');
  response.setHeader('Access-Control-Max-Age', '600');
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `Request body larger than ${MAX_BODY_BYTES} bytes.`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Proto-JSON form of a Payload: bytes fields as base64 strings. */
export interface JsonPayload {
  metadata?: Record<string, string> | null;
  data?: string | null;
}

// The SDK's payloadToJSON/JSONToPayload (@temporalio/common/lib/proto-utils) fail in this dependency tree
// ("type must be a Type": @temporalio/common and @temporalio/proto each carry their own protobufjs copy), and
// the mapping is tiny: proto3 JSON writes bytes as base64 (standard or URL-safe, padding optional on input).
export function payloadFromJson(json: JsonPayload): Payload {
  const metadata: Record<string, Uint8Array> = {};
  for (const [key, value] of Object.entries(json.metadata ?? {})) {
    if (typeof value !== 'string') throw new HttpError(400, `Payload metadata "${key}" must be a base64 string.`);
    metadata[key] = new Uint8Array(Buffer.from(value, 'base64'));
  }
  if (json.data != null && typeof json.data !== 'string') throw new HttpError(400, 'Payload data must be a base64 string.');
  return { metadata, data: new Uint8Array(Buffer.from(json.data ?? '', 'base64')) };
}

export function payloadToJson(payload: Payload): JsonPayload {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(payload.metadata ?? {})) metadata[key] = Buffer.from(value ?? []).toString('base64');
  return { metadata, data: Buffer.from(payload.data ?? []).toString('base64') };
}

function parsePayloads(body: string): JsonPayload[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new HttpError(400, 'Body is not JSON; send {"payloads": [...]}.');
  }
  const payloads = (parsed as { payloads?: unknown } | null)?.payloads;
  if (!Array.isArray(payloads) || !payloads.every((p) => typeof p === 'object' && p !== null)) {
    throw new HttpError(400, 'Body must be {"payloads": [{"metadata": {...}, "data": "<base64>"}]}.');
  }
  return payloads as JsonPayload[];
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}

/**
 * Starts the codec server from the environment: SEGFLOW_CODEC_KEY (+ _KEY_ID, _PREVIOUS_KEYS) for the keys,
 * SEGFLOW_CODEC_SERVER_PORT (8888), SEGFLOW_CODEC_SERVER_HOST (127.0.0.1), SEGFLOW_CODEC_ALLOWED_ORIGINS
 * (comma-separated; the local UIs by default), SEGFLOW_CODEC_ALLOWED_HOSTS (Host names, comma-separated; loopback
 * names by default), SEGFLOW_CODEC_SERVER_TOKEN (the token) or SEGFLOW_CODEC_SERVER_AUTH (an exact Authorization
 * header value; `none` serves without authentication).
 */
export async function runCodecServerFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<RunningCodecServer> {
  const codec = encryptionCodecFromEnv(env);
  if (!codec) throw new Error('SEGFLOW_CODEC_KEY is not set: the codec server needs the key(s) the workers encrypt with.');
  const port = Number(env.SEGFLOW_CODEC_SERVER_PORT || DEFAULT_CODEC_SERVER_PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`SEGFLOW_CODEC_SERVER_PORT must be a port number, got "${env.SEGFLOW_CODEC_SERVER_PORT}".`);
  const hosts = (env.SEGFLOW_CODEC_ALLOWED_HOSTS ?? '')
    .split(',')
    .map((host) => host.trim())
    .filter(Boolean);
  const origins = (env.SEGFLOW_CODEC_ALLOWED_ORIGINS ?? '')
    .split(',')
    .map((origin) => origin.trim().replace(/\/+$/, ''))
    .filter(Boolean);
  return startCodecServer({
    port,
    codec,
    host: env.SEGFLOW_CODEC_SERVER_HOST || '127.0.0.1',
    allowedOrigin: origins.length > 0 ? origins : DEFAULT_ALLOWED_ORIGINS,
    ...(hosts.length ? { allowedHosts: hosts } : {}),
    ...(env.SEGFLOW_CODEC_SERVER_TOKEN ? { token: env.SEGFLOW_CODEC_SERVER_TOKEN.trim() } : {}),
    ...(env.SEGFLOW_CODEC_SERVER_AUTH && env.SEGFLOW_CODEC_SERVER_AUTH !== 'none' ? { requiredAuthorization: env.SEGFLOW_CODEC_SERVER_AUTH } : {}),
    allowUnauthenticated: env.SEGFLOW_CODEC_SERVER_AUTH === 'none',
  });
}

if (require.main === module) {
  runCodecServerFromEnv()
    .then((running) => {
      process.stderr.write(`segflow codec server listening on ${running.url} (key ${encryptionCodecFromEnv(process.env)?.currentKeyId})\n`);
      const stop = () => void running.close().finally(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    })
    .catch((error: unknown) => {
      process.stderr.write(`segflow codec server: ${(error as Error).message}\n`);
      process.exit(2);
    });
}
