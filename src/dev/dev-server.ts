/**
 * Starting a local Temporal dev server (the Temporal CLI's `server start-dev`) for tests, the benchmark and
 * `segflow dev`. Finding the binary: TEMPORAL_CLI_PATH, the project's cache, PATH, or building it from Go
 * modules with scripts/install-temporal-cli.sh.
 */
import { Connection } from '@temporalio/client';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { SEGFLOW_SEARCH_ATTRIBUTES, searchAttributeCliArgs } from '../contracts/search-attributes';

const projectRoot = resolve(__dirname, '../..');

/** Path of a Temporal CLI binary, installing it (idempotent, cached) when the project's script is present. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string {
  const script = join(projectRoot, 'scripts/install-temporal-cli.sh');
  if (!existsSync(script)) {
    if (env.TEMPORAL_CLI_PATH) return env.TEMPORAL_CLI_PATH;
    throw new Error('No Temporal CLI: set TEMPORAL_CLI_PATH to a temporal binary (https://docs.temporal.io/cli#install).');
  }
  try {
    const out = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env });
    const path = out.trim().split('\n').pop();
    if (!path) throw new Error('the install script printed no path');
    return path;
  } catch (error) {
    throw new Error(
      `No Temporal CLI available (${(error as Error).message.split('\n')[0]}). ` +
        'Run `npm run temporal:install` (needs Go >= 1.25 and the Go module proxy), or set TEMPORAL_CLI_PATH to a temporal binary.',
      { cause: error },
    );
  }
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no free port'))));
    });
  });
}

export async function waitForTemporal(address: string, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`temporal dev server exited with code ${child.exitCode}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.getSystemInfo({});
      } finally {
        await connection.close();
      }
      return;
    } catch (error) {
      lastError = error;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`Temporal dev server at ${address} not ready after ${timeoutMs} ms: ${String(lastError)}`);
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  /** The server process when segflow started the CLI itself (not with the SDK's downloaded server). */
  process?: ChildProcess;
  /** Graceful stop. */
  stop(): Promise<void>;
  /** Abrupt stop (SIGKILL), as a crash would. */
  kill(): Promise<void>;
}

export interface DevServerOptions {
  cliPath?: string;
  port?: number;
  /** UI port; `false` for a headless server. */
  uiPort?: number | false;
  dbFilename?: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  stdio?: 'inherit' | 'ignore';
  readyTimeoutMs?: number;
  /** Serve the server's Prometheus metrics on this port (the bench counts Temporal actions there). */
  metricsPort?: number;
}

/** Starts `temporal server start-dev` with segflow's search attributes registered, and waits until it answers. */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  let cli = options.cliPath;
  if (!cli) {
    try {
      cli = findTemporalCli();
    } catch (error) {
      // No binary and no Go: on a machine with internet the SDK can still download the CLI it pins.
      if (process.env.SEGFLOW_TEMPORAL_DOWNLOAD === '0') throw error;
      return startDownloadedDevServer(options, error as Error);
    }
  }
  const port = options.port ?? (await freePort());
  const uiPort = options.uiPort === false ? undefined : (options.uiPort ?? (await freePort()));
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    ...(uiPort === undefined ? ['--headless'] : ['--ui-port', String(uiPort)]),
    ...(options.dbFilename ? ['--db-filename', options.dbFilename] : []),
    ...(options.metricsPort === undefined ? [] : ['--metrics-port', String(options.metricsPort)]),
    '--log-level',
    options.logLevel ?? 'error',
    // No outbound version check: tests and demos must not reach the internet (docs/temporal-notes.md, "The dev server").
    '--dynamic-config-value',
    'frontend.enableServerVersionCheck=false',
    '--sqlite-pragma',
    'journal_mode=WAL',
    '--sqlite-pragma',
    'synchronous=OFF',
    ...searchAttributeCliArgs(),
  ];
  const child = spawn(cli, args, { stdio: ['ignore', options.stdio ?? 'inherit', options.stdio ?? 'inherit'] });
  const address = `127.0.0.1:${port}`;
  try {
    await waitForTemporal(address, options.readyTimeoutMs ?? 60_000, child);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    address,
    uiUrl: uiPort === undefined ? undefined : `http://127.0.0.1:${uiPort}`,
    process: child,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * The same dev server through `@temporalio/testing`'s default executable: the CLI version the SDK pins,
 * downloaded once and cached. It needs internet, and the SDK gives a starting server only 5 s, which is why the
 * installed binary comes first. `@temporalio/testing` is a production dependency for this reason: `segflow dev`
 * from a production install, with no Temporal CLI around, still starts.
 */
async function startDownloadedDevServer(options: DevServerOptions, noBinary: Error): Promise<DevServer> {
  const port = options.port ?? (await freePort());
  const uiPort = options.uiPort === false ? undefined : (options.uiPort ?? (await freePort()));
  try {
    const { TestWorkflowEnvironment } = await import('@temporalio/testing');
    const env = await TestWorkflowEnvironment.createLocal({
      server: {
        ip: '127.0.0.1',
        port,
        ...(uiPort === undefined ? {} : { uiPort }),
        ...(options.dbFilename ? { dbFilename: options.dbFilename } : {}),
        log: { format: 'pretty', level: options.logLevel ?? 'error' },
        searchAttributes: SEGFLOW_SEARCH_ATTRIBUTES,
        extraArgs: ['--sqlite-pragma', 'journal_mode=WAL', '--sqlite-pragma', 'synchronous=OFF'],
      },
    });
    const teardown = () => env.teardown();
    return {
      address: `127.0.0.1:${port}`,
      uiUrl: uiPort === undefined ? undefined : `http://127.0.0.1:${uiPort}`,
      stop: teardown,
      kill: teardown, // the SDK stops its server with SIGKILL
    };
  } catch (error) {
    throw new Error(`${noBinary.message}\nThe SDK's own download of the Temporal CLI failed too: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** A logger for bundleWorkflowCode that keeps webpack's progress chatter out of test and benchmark output. */
export const quietBundlerLogger = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn(message: string) {
    process.stderr.write(`${message}\n`);
  },
  error(message: string) {
    process.stderr.write(`${message}\n`);
  },
};
