/**
 * The worker's health endpoint for orchestrators (SEGFLOW_HEALTH_ADDRESS, e.g. 0.0.0.0:8081):
 * - GET /livez: the process is up and answering.
 * - GET /readyz: the worker runs, both its pollers are polling its task queue, and Temporal answers a call now.
 * Both answer JSON; 200 when true, 503 otherwise (with the reasons). Nothing secret or job-specific is shown.
 */
import type { NativeConnection, Worker } from '@temporalio/worker';
import { createServer, type Server } from 'node:http';
import { segflowVersion } from '../version';

export interface HealthTarget {
  worker: Pick<Worker, 'getStatus'>;
  connection: Pick<NativeConnection, 'workflowService' | 'withDeadline'>;
  taskQueue: string;
}

export interface Readiness {
  ready: boolean;
  problems: string[];
}

const TEMPORAL_CHECK_TIMEOUT_MS = 3000;

export async function checkReadiness(target: HealthTarget): Promise<Readiness> {
  const problems: string[] = [];
  const status = target.worker.getStatus();
  if (status.runState !== 'RUNNING') problems.push(`worker is ${status.runState.toLowerCase()}`);
  if (status.workflowPollerState !== 'POLLING') problems.push(`workflow poller is ${status.workflowPollerState.toLowerCase()}`);
  if (status.activityPollerState !== 'POLLING') problems.push(`activity poller is ${status.activityPollerState.toLowerCase()}`);
  try {
    await target.connection.withDeadline(Date.now() + TEMPORAL_CHECK_TIMEOUT_MS, () => target.connection.workflowService.getSystemInfo({}));
  } catch (error) {
    problems.push(`Temporal does not answer: ${String((error as Error).message ?? error).slice(0, 200)}`);
  }
  return { ready: problems.length === 0, problems };
}

/** Parses `host:port` (port 0 lets the OS pick); IPv6 hosts in brackets. */
export function parseListenAddress(address: string, variable: string): { host: string; port: number } {
  const match = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(address.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) throw new Error(`${variable} must be host:port (e.g. 0.0.0.0:8081), not "${address.slice(0, 100)}"`);
  return { host: match[1] || '0.0.0.0', port };
}

export interface HealthServer {
  url: string;
  close(): Promise<void>;
}

export async function startHealthServer(address: string, target: () => HealthTarget | undefined): Promise<HealthServer> {
  const { host, port } = parseListenAddress(address, 'SEGFLOW_HEALTH_ADDRESS');
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (code: number, body: object) => {
      res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ ...body, version: segflowVersion() }) + '\n');
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, { error: 'GET only' });
    if (path === '/livez' || path === '/healthz') return reply(200, { status: 'live' });
    if (path === '/readyz') {
      const current = target();
      if (!current) return reply(503, { status: 'not ready', problems: ['worker is starting'] });
      checkReadiness(current).then(
        (readiness) =>
          reply(readiness.ready ? 200 : 503, {
            status: readiness.ready ? 'ready' : 'not ready',
            taskQueue: current.taskQueue,
            problems: readiness.problems,
          }),
        (error: unknown) => reply(503, { status: 'not ready', problems: [String((error as Error).message ?? error).slice(0, 200)] }),
      );
      return;
    }
    reply(404, { error: 'try /livez or /readyz' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  const boundPort = typeof bound === 'object' && bound ? bound.port : port;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${boundPort}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
