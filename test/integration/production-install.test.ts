/**
 * The product stands on its own: after `npm run build`, a production install (package.json, lockfile, bin/ and
 * dist/ only, `npm ci --omit=dev`) runs `segflow dev --import ... --exit` end to end — its own Temporal dev
 * server, worker and Segment stand-in — with no test code, no tsx and no dev dependency in reach. Its worker runs
 * the workflow bundle the build emitted instead of bundling at start.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, inject, it } from 'vitest';

const root = resolve(__dirname, '../..');
const install = mkdtempSync(join(tmpdir(), 'segflow-prod-install-'));
afterAll(() => rmSync(install, { recursive: true, force: true }));

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolvePort(port));
    });
  });
}

it('segflow dev imports the sample from a build installed with production dependencies only', async () => {
  // From a clean dist/, so nothing left by an earlier build can stand in for what this build must emit.
  rmSync(join(root, 'dist'), { recursive: true, force: true });
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  for (const path of ['package.json', 'package-lock.json', 'bin', 'dist']) {
    cpSync(join(root, path), join(install, path), { recursive: true });
  }
  execFileSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: install,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  // What a production install leaves out must really be missing, or this test proves nothing. (@types/node
  // comes in through the Temporal SDK's own dependencies, so not every dev dependency is absent.)
  for (const devOnly of ['tsx', 'typescript', 'vitest', 'playwright-core']) {
    expect(existsSync(join(install, 'node_modules', devOnly)), devOnly).toBe(false);
  }
  expect(existsSync(join(install, 'test'))).toBe(false);
  expect(existsSync(join(install, 'src'))).toBe(false);

  // `npm run build` emits the workflow bundle, and the worker picks it over bundling its sources at start.
  const bundle = join(install, 'dist/workflow-bundle.js');
  expect(existsSync(bundle)).toBe(true);
  const chosen = execFileSync(process.execPath, ['-e', "process.stdout.write(JSON.stringify(require('./dist/worker').workflowCode({})))"], {
    cwd: install,
    encoding: 'utf8',
  });
  expect(JSON.parse(chosen)).toEqual({ workflowBundle: { codePath: bundle } });

  const port = await freePort();
  const reports = mkdtempSync(join(install, 'reports-'));
  const child = spawn(
    process.execPath,
    [join(install, 'bin/segflow.js'), 'dev', '--import', join(root, 'samples/events.csv'), '--exit', '--port', String(port)],
    {
      cwd: install,
      env: {
        ...process.env,
        // No real Segment settings: the stand-in must be used.
        SEGMENT_WRITE_KEY: '',
        SEGMENT_TRACKING_URL: '',
        // A production install has no scripts/ to build a CLI with: the binary comes from the environment, as
        // the README says, and there is no download to fall back on here.
        TEMPORAL_CLI_PATH: inject('temporalCli'),
        SEGFLOW_TEMPORAL_DOWNLOAD: '0',
        SEGFLOW_REPORT_DIR: reports,
        NODE_ENV: 'production',
      },
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  expect(code, stderr).toBe(0);
  expect(stdout).toContain('rows read 205 = events sent 201 + rows rejected 4');
  expect(stderr).toMatch(/Segment stand-in \(records what it receives\)/);
  expect(stderr).toMatch(/\[segment stand-in\] stopped: 201 events accepted, 0 duplicates dropped/);
}, 600_000);
