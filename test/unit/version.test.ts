/** `segflow --version` prints the package's version (the same the worker puts in its identity and metrics). */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { segflowVersion } from '../../src/version';
import { workerIdentity } from '../../src/worker';

const root = join(__dirname, '../..');
const packageVersion = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

it('segflow --version prints the package version', () => {
  const run = spawnSync(join(root, 'node_modules/.bin/tsx'), [join(root, 'src/cli.ts'), '--version'], { encoding: 'utf8' });
  expect(run.status).toBe(0);
  expect(run.stdout.trim()).toBe(packageVersion);
  expect(segflowVersion()).toBe(packageVersion);
});

it("the worker's identity names the version", () => {
  expect(workerIdentity()).toMatch(new RegExp(`^\\d+@.+ segflow/${packageVersion.replaceAll('.', '\\.')}$`));
});
