/**
 * The double itself: an HTTP server on a loopback port that checks the token, spends a rate-limit point, applies
 * any queued fault, routes the request (routes.ts) and answers in the API's envelopes; plus the hooks tests read.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultQueue } from './faults';
import { RateWindow } from './rate-window';
import { buildRoutes, type Route } from './routes';
import { seedState } from './state';
import type { AuditEntry, PublicApiDoubleOptions, PublicApiDoubleState, PublicApiFault, PublicApiRequestLogEntry, SourceRecord } from './types';
import { ApiError } from './validation';
import { requestedApiVersion, SERVED_FOR, type ApiVersion } from './versions';

export class PublicApiDouble {
  readonly url: string;
  readonly state: PublicApiDoubleState;

  private readonly server: Server;
  private readonly token: string;
  private readonly now: () => Date;
  private readonly rateWindow: RateWindow;
  private readonly routes: Route[];
  private readonly faults = new FaultQueue();
  private audit: AuditEntry[] = [];
  private requests: PublicApiRequestLogEntry[] = [];

  private constructor(server: Server, url: string, opts: PublicApiDoubleOptions) {
    this.server = server;
    this.url = url;
    this.token = opts.token;
    this.now = opts.now ?? (() => new Date());
    this.rateWindow = new RateWindow(opts.rateLimitPoints ?? 10_000, opts.rateLimitWindowMs ?? 60_000);
    this.state = seedState(opts);
    this.routes = buildRoutes({
      state: this.state,
      now: this.now,
      newWriteKey: opts.newWriteKey ?? (() => randomBytes(16).toString('hex')),
      likeSegment: opts.likeSegment,
    });
  }

  static async start(opts: PublicApiDoubleOptions): Promise<PublicApiDouble> {
    const host = opts.host ?? '127.0.0.1';
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const double = new PublicApiDouble(server, `http://${host}:${port}`, opts);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      double.handle(req, res).catch((error: unknown) => {
        console.error('public-api-double: internal error', error);
        if (!res.headersSent && !res.destroyed) res.writeHead(500).end('public-api-double internal error');
      });
    });
    return double;
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  /** Queue faults; each request consumes the first queued fault that matches it (`times` defaults to 1). */
  injectFaults(...faults: PublicApiFault[]): void {
    this.faults.add(...faults);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /** Every write that was applied, in order. */
  auditLog(): AuditEntry[] {
    return this.audit.map((entry) => ({ ...entry }));
  }

  requestLog(): PublicApiRequestLogEntry[] {
    return this.requests.map((entry) => ({ ...entry }));
  }

  source(id: string): SourceRecord | undefined {
    return this.state.sources.find((source) => source.id === id);
  }

  // ----- request handling ----------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://double.local');
    const path = url.pathname;
    const accept = req.headers.accept;
    const rawBody = await readBody(req);
    const log = (status: number, fault?: PublicApiFault['kind']) =>
      this.requests.push({ method, url: req.url ?? path, path, status, accept, at: this.now().toISOString(), fault });

    const auth = req.headers.authorization ?? '';
    if (auth !== `Bearer ${this.token}`) {
      log(401);
      return this.sendErrors(res, new ApiError(401, 'unauthorized', 'Missing or invalid token'));
    }

    const limited = this.rateWindow.consume(this.now().getTime());
    if (limited) {
      log(429);
      return this.sendRateLimited(res, limited);
    }

    const fault = this.faults.take(method, path);
    if (fault?.kind === 'rate-limit') {
      log(429, fault.kind);
      return this.sendRateLimited(res, fault.msBeforeNext ?? 1_000);
    }
    if (fault?.kind === 'server-error') {
      const status = fault.status ?? 500;
      log(status, fault.kind);
      return this.sendErrors(res, new ApiError(status, 'internal-error', 'Injected server error'));
    }
    if (fault?.kind === 'hang') {
      log(0, fault.kind);
      return;
    }

    let status: number;
    let payload: unknown;
    try {
      const { route, params } = this.findRoute(method, path, requestedApiVersion(accept));
      let body: unknown;
      if (rawBody.length > 0) {
        try {
          body = JSON.parse(rawBody);
        } catch {
          throw new ApiError(400, 'bad-request', 'Request body is not valid JSON');
        }
      }
      const result = route.handle({ params, query: url.searchParams, body });
      status = result.status;
      payload = { data: result.data };
      if (route.write) {
        this.audit.push({ method, path, body: body ?? null, at: this.now().toISOString(), status });
      }
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      log(error.status, fault?.kind);
      return this.sendErrors(res, error);
    }

    if (fault?.kind === 'apply-then-hang') {
      log(0, fault.kind);
      return;
    }
    if (fault?.kind === 'apply-then-fail') {
      log(500, fault.kind);
      return this.sendErrors(res, new ApiError(500, 'internal-error', 'Injected failure after applying the request'));
    }
    log(status);
    this.sendJson(res, status, payload);
  }

  private findRoute(method: string, path: string, version: ApiVersion | undefined): { route: Route; params: string[] } {
    for (const route of this.routes) {
      const match = route.pattern.exec(path);
      if (!match || route.method !== method) continue;
      if (version !== undefined && !SERVED_FOR[route.version].has(version)) {
        throw new ApiError(
          404,
          'not-found',
          `${method} ${path.replace(/\/writekey\/[^/]+$/, '/writekey/{writeKey}')} does not exist in API version ${version}`,
        );
      }
      return { route, params: match.slice(1).map((part) => decodeURIComponent(part)) };
    }
    throw new ApiError(404, 'not-found', `No route for ${method} ${path}`);
  }

  private sendJson(res: ServerResponse, status: number, payload: unknown): void {
    const text = JSON.stringify(payload);
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
      ...this.rateWindow.headers(),
    });
    res.end(text);
  }

  private sendErrors(res: ServerResponse, error: ApiError): void {
    const entry: Record<string, unknown> = { type: error.type, message: error.message, status: error.status };
    if (error.field !== undefined) entry.field = error.field;
    if (error.data !== undefined) entry.data = error.data;
    this.sendJson(res, error.status, { errors: [entry] });
  }

  private sendRateLimited(res: ServerResponse, msBeforeNext: number): void {
    this.sendJson(res, 429, {
      errors: [
        {
          type: 'RequestError',
          message: 'Too many requests',
          data: { remainingPoints: 0, msBeforeNext, consumedPoints: this.rateWindow.consumedPoints },
        },
      ],
    });
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
