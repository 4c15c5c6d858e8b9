/**
 * A presigned URL's signature stays out of everything people and logs see: an HTTP import failed in each way a
 * location reaches a message (bad CSV header, 503 while inspecting, size changed mid-import) must leave the
 * signature nowhere in `temporal workflow show`, `segflow status --json`, the CLI's output or the worker's log.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inject } from 'vitest';
import { startImportHarness, type ImportHarness } from '../support/import-harness';
import { ndjsonEvents } from '../support/wait';
import { FailureType } from '../../src/contracts/failures';

const run = promisify(execFile);
const root = resolve(__dirname, '../..');
const SIGNATURE = 'SigZ9q7X3kLm2Pw8vTn4';
const QUERY = `?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=${SIGNATURE}`;

let h: ImportHarness;
let store: Server;
let storeUrl = '';
let worker: ChildProcess;
let workerLog = '';
const served = new Map<string, number>();

// Object-store stand-in: every path misbehaves in its own way; every request must carry the signature.
function answer(path: string, range: string | undefined): { status: number; body?: string; headers?: Record<string, string> } {
  const count = (served.get(path) ?? 0) + 1;
  served.set(path, count);
  let body: string;
  if (path === '/bad-header.csv') body = 'type,userId,event,timestamp,secret_column\ntrack,u,E,2020-01-01T00:00:00Z,x\n';
  else if (path === '/unavailable.ndjson') return { status: 503, body: 'slow down' };
  else if (path === '/changing.ndjson') body = ndjsonEvents(count === 1 ? 50 : 80, 'changing');
  else return { status: 404 };
  const match = /^bytes=(\d+)-(\d+)$/.exec(range ?? '');
  if (!match) return { status: 200, body };
  const start = Number(match[1]);
  const end = Math.min(Number(match[2]), body.length - 1);
  return { status: 206, body: body.slice(start, end + 1), headers: { 'content-range': `bytes ${start}-${end}/${body.length}` } };
}

beforeAll(async () => {
  // The object store stand-in listens on loopback, which a worker reads only when SEGFLOW_INPUT_HOSTS names it.
  h = await startImportHarness({ extraEnv: { SEGFLOW_INPUT_HOSTS: '127.0.0.1' } });
  await h.worker.stop(); // the worker under test is a separate process, so its log can be read
  store = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.search !== QUERY) return void res.writeHead(403).end('signature mismatch');
    const reply = answer(url.pathname, req.headers.range);
    res.writeHead(reply.status, reply.headers ?? {}).end(reply.body ?? '');
  });
  await new Promise<void>((done) => store.listen(0, '127.0.0.1', done));
  storeUrl = `http://127.0.0.1:${(store.address() as AddressInfo).port}`;
  worker = spawn(join(root, 'node_modules/.bin/tsx'), [join(root, 'src/cli.ts'), 'worker'], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...h.workerEnv, ...cliEnv(), SEGFLOW_LOG_LEVEL: 'DEBUG', SEGFLOW_WORKFLOW_BUNDLE: inject('workflowBundlePath') },
  });
  worker.stdout!.on('data', (piece: Buffer) => (workerLog += piece.toString()));
  worker.stderr!.on('data', (piece: Buffer) => (workerLog += piece.toString()));
});

afterAll(async () => {
  try {
    process.kill(-worker.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
  await new Promise<void>((done) => store?.close(() => done()));
  await h?.double.stop();
});

function cliEnv(): NodeJS.ProcessEnv {
  return { TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_NAMESPACE: 'default', SEGFLOW_TASK_QUEUE: h.taskQueue };
}

async function segflow(args: string[]): Promise<string> {
  const result = await run(join(root, 'node_modules/.bin/tsx'), [join(root, 'src/cli.ts'), ...args], {
    cwd: root,
    env: { ...process.env, ...cliEnv() },
  }).catch((error: { stdout?: string; stderr?: string }) => ({ stdout: error.stdout ?? '', stderr: error.stderr ?? '' }));
  return `${result.stdout}\n${result.stderr}`;
}

it.each([
  ['bad CSV header', '/bad-header.csv', FailureType.InvalidCsvHeader, /secret_column/],
  ['503 while inspecting', '/unavailable.ndjson', FailureType.InputUnreadable, /503/],
  ['size changed mid-import', '/changing.ndjson', FailureType.InputChanged, /changed while being imported/],
])(
  '%s: the signature appears in no output',
  async (_name, path, failureType, said) => {
    const jobId = `secret-${path.replace(/[^a-z]/g, '')}`;
    const cliOutput = await segflow(['import', `${storeUrl}${path}${QUERY}`, '--id', jobId, '--wait']);
    const status = await segflow(['status', jobId, '--json']);
    expect(JSON.parse(status.slice(0, status.lastIndexOf('}') + 1))).toMatchObject({ state: 'failed' });
    expect(status).toMatch(said);
    const shown = await run(inject('temporalCli'), [
      'workflow',
      'show',
      '--workflow-id',
      jobId,
      '--address',
      inject('temporalAddress'),
      '--output',
      'json',
    ]);
    expect(shown.stdout).toContain(failureType);
    expect(cliOutput).toMatch(said);

    for (const [where, text] of [
      ['CLI output', cliOutput],
      ['segflow status --json', status],
      ['temporal workflow show', shown.stdout],
      ['worker log', workerLog],
    ] as const) {
      expect(text.includes(SIGNATURE), `${where} holds the signature`).toBe(false);
      expect(text.includes('AKIAEXAMPLE'), `${where} holds the credential`).toBe(false);
    }
  },
  120_000,
);
