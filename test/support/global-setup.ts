/**
 * Starts one real Temporal dev server (the Temporal CLI installed by scripts/install-temporal-cli.sh) for the
 * whole test run, and bundles the workflow code once. Tests reach both through `inject()`.
 * There is no fallback: without a CLI binary the run fails and says how to get one.
 */
import { bundleWorkflowCode } from '@temporalio/worker';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { findTemporalCli, quietBundlerLogger, startDevServer, type DevServer } from '../../src/dev/dev-server';
import { workflowsPath } from '../../src/worker';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalUiUrl: string;
    temporalCli: string;
    workflowBundlePath: string;
  }
}

/** The part of vitest's TestProject this setup uses (vitest/node is ESM-only, this package is CommonJS). */
interface ProvidingProject {
  provide<K extends keyof import('vitest').ProvidedContext>(key: K, value: import('vitest').ProvidedContext[K]): void;
}

const root = resolve(__dirname, '../..');

export default async function setup(project: ProvidingProject) {
  // The installed CLI (scripts/install-temporal-cli.sh); without one, startDevServer tries the SDK's download
  // (machines with internet) and otherwise fails saying how to get a binary. Never a fake server.
  let cli = '';
  try {
    cli = findTemporalCli();
  } catch (error) {
    console.warn(String((error as Error).message));
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'segflow-test-temporal-'));
  let server: DevServer | undefined = await startDevServer({ cliPath: cli || undefined, dbFilename: join(dataDir, 'temporal.sqlite') });

  const cacheDir = join(root, '.cache');
  mkdirSync(cacheDir, { recursive: true });
  const bundle = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: quietBundlerLogger });
  const bundlePath = join(cacheDir, 'test-workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);

  project.provide('temporalAddress', server.address);
  project.provide('temporalUiUrl', server.uiUrl!);
  project.provide('temporalCli', cli);
  project.provide('workflowBundlePath', bundlePath);

  return async () => {
    await server?.stop();
    server = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  };
}
