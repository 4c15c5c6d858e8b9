/**
 * The Node lines segflow supports are the ones CI tests: `engines`, the README, deploy/versions.env (the releases
 * .ci/run installs) and the Docker image agree, and a CI run on a line really runs on it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '../..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const packageJson = JSON.parse(read('package.json')) as { engines: { node: string } };
const versionsEnv = read('deploy/versions.env');
const pinned = (line: number) => new RegExp(`^NODE_${line}_VERSION=(${line}\\.\\d+\\.\\d+)$`, 'm').exec(versionsEnv)?.[1];

describe('supported Node lines', () => {
  it('engines names exactly the lines CI tests: 20 (from 20.18.1, undici 7 needs it), 22 and 24', () => {
    expect(packageJson.engines.node).toBe('^20.18.1 || ^22 || ^24');
  });

  it('deploy/versions.env pins the release of each extra line .ci/run installs, and .ci/run tests them', () => {
    const ci = read('.ci/run');
    for (const line of [22, 24]) {
      expect(pinned(line), `NODE_${line}_VERSION`).toBeDefined();
      expect(ci).toContain(`bash scripts/install-node.sh ${line}`);
    }
    // npm test once per line: the machine's Node, then 22 and 24; the last (24) with every project.
    const runs = ci.match(/^\(run_suite "[^"]*".*\)$/gm) ?? [];
    expect(runs).toHaveLength(3);
    expect(runs[2]).toBe('(run_suite "$node24")');
    for (const run of runs.slice(0, 2)) expect(run).toContain('--project unit --project integration');
  });

  it('the README names the supported lines', () => {
    expect(read('README.md')).toMatch(/Needs Node\.js 22 or 24\s+\(the LTS lines; Node 20 ≥ 20\.18\.1 still works/);
  });

  it('this run is on the Node release CI asked for (SEGFLOW_EXPECTED_NODE), and on a supported line', () => {
    const expected = process.env.SEGFLOW_EXPECTED_NODE;
    if (expected !== undefined) expect(process.version).toBe(expected);
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    expect([20, 22, 24]).toContain(major);
    if (major === 20) expect(minor).toBeGreaterThanOrEqual(18);
  });

  it("Temporal's native core bridge loads on this Node", async () => {
    // The worker's Rust core is a native module: a Node line it does not support fails here first.
    const bridge = (await import('@temporalio/core-bridge')) as { native?: Record<string, unknown> };
    expect(Object.keys(bridge.native ?? bridge).length).toBeGreaterThan(0);
  });
});
