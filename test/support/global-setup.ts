/**
 * Starts one real Temporal dev server (the Temporal CLI installed by scripts/install-temporal-cli.sh) for the
 * whole test run, and bundles the workflow code once. Tests reach both through `inject()`.
 * There is no fallback: without a CLI binary the run fails and says how to get one.
 */
import { bundleWorkflowCode } from '@temporalio/worker';
import { Connection } from '@temporalio/client';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { searchAttributeCliArgs } from '../../src/core/search-attributes';
import { workflowsPath } from '../../src/worker';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalUiUrl: string;
    temporalCli: string;
    workflowBundlePath: string;
  }
}

const root = resolve(__dirname, '../..');
let server: ChildProcess | undefined;
let dataDir: string | undefined;

export function findTemporalCli(): string {
  try {
    const out = execFileSync('bash', [join(root, 'scripts/install-temporal-cli.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const path = out.trim().split('\n').pop();
    if (!path) throw new Error('the install script printed no path');
    return path;
  } catch (error) {
    throw new Error(
      `No Temporal CLI for the tests: ${(error as Error).message}\n` +
        'Run `npm run temporal:install` (needs Go >= 1.25 and the Go module proxy), or set TEMPORAL_CLI_PATH to a temporal binary.',
    );
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

export async function waitForServer(address: string, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`temporal dev server exited with code ${child.exitCode}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      await connection.workflowService.getSystemInfo({});
      await connection.close();
      return;
    } catch (error) {
      lastError = error;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`Temporal dev server at ${address} not ready after ${timeoutMs} ms: ${String(lastError)}`);
}

/** The part of vitest's TestProject this setup uses (vitest/node is ESM-only, this package is CommonJS). */
interface ProvidingProject {
  provide<K extends keyof import('vitest').ProvidedContext>(key: K, value: import('vitest').ProvidedContext[K]): void;
}

export default async function setup(project: ProvidingProject) {
  const cli = findTemporalCli();
  const port = await freePort();
  const uiPort = await freePort();
  dataDir = mkdtempSync(join(tmpdir(), 'segflow-test-temporal-'));
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--ui-port', String(uiPort),
    '--db-filename', join(dataDir, 'temporal.sqlite'),
    '--log-level', 'error',
    '--dynamic-config-value', 'frontend.enableServerVersionCheck=false',
    '--sqlite-pragma', 'journal_mode=WAL',
    '--sqlite-pragma', 'synchronous=OFF',
    ...searchAttributeCliArgs(),
  ];
  server = spawn(cli, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  const address = `127.0.0.1:${port}`;
  await waitForServer(address, 60_000, server);

  const artifacts = join(root, '.cache');
  mkdirSync(artifacts, { recursive: true });
  const bundle = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: quietLogger });
  const bundlePath = join(artifacts, 'test-workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);

  project.provide('temporalAddress', address);
  project.provide('temporalUiUrl', `http://127.0.0.1:${uiPort}`);
  project.provide('temporalCli', cli);
  project.provide('workflowBundlePath', bundlePath);

  return async () => {
    server?.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    if (server && server.exitCode === null) server.kill('SIGKILL');
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
}

const quietLogger = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn(message: string) {
    console.warn(message);
  },
  error(message: string) {
    console.error(message);
  },
};
