/**
 * docker-compose.yml and scripts/cluster.sh describe the same deployment: both take the Temporal server, UI and
 * PostgreSQL versions from deploy/versions.env, so a version bump there moves both (or this test fails).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = resolve(__dirname, '../..');

function readVersions(): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const line of readFileSync(join(root, 'deploy/versions.env'), 'utf8').split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match) versions[match[1]!] = match[2]!.replace(/^["']|["']$/g, '');
  }
  return versions;
}

/**
 * An image reference as a user without overrides gets it: `${NAME:-default}` / `${NAME-default}` resolve to their
 * default (that is what runs when nothing is set; a default that drifted from deploy/versions.env must fail here),
 * `${NAME}`, `$NAME` and `${NAME:?message}` to deploy/versions.env's value (compose is then run with it as env file).
 */
function resolveAsShipped(text: string, versions: Record<string, string>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_all, braced: string | undefined, op: string | undefined, rest: string | undefined, bare: string | undefined) => {
    if (op === ':-' || op === '-') return rest ?? '';
    return versions[(braced ?? bare)!] ?? '';
  });
}

function composeImages(versions: Record<string, string>): Map<string, string> {
  const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { image?: string }> };
  const images = new Map<string, string>();
  for (const service of Object.values(compose.services)) {
    if (!service.image) continue;
    const image = resolveAsShipped(service.image, versions);
    const colon = image.lastIndexOf(':');
    images.set(image.slice(0, colon), image.slice(colon + 1));
  }
  return images;
}

describe('deployment versions', () => {
  const versions = readVersions();

  it('deploy/versions.env names every version the two deployments need', () => {
    for (const name of ['TEMPORAL_SERVER_VERSION', 'TEMPORAL_UI_VERSION', 'POSTGRES_VERSION']) {
      expect(versions[name], name).toMatch(/^\d+(\.\d+)*$/);
    }
  });

  it('scripts/cluster.sh builds the versions of deploy/versions.env', () => {
    const packages = execFileSync('bash', [join(root, 'scripts/cluster.sh'), 'versions'], { encoding: 'utf8' }).trim().split('\n');
    expect(packages).toEqual([
      `go.temporal.io/server/cmd/server@v${versions.TEMPORAL_SERVER_VERSION}`,
      `go.temporal.io/server/cmd/tools/sql@v${versions.TEMPORAL_SERVER_VERSION}`,
      `github.com/temporalio/ui-server/v2/cmd/server@v${versions.TEMPORAL_UI_VERSION}`,
    ]);
    // No version written into the script itself: it only reads deploy/versions.env.
    const script = readFileSync(join(root, 'scripts/cluster.sh'), 'utf8');
    expect(script).not.toMatch(/@v\d/);
  });

  it('docker-compose.yml runs the same Temporal server, UI and PostgreSQL versions', () => {
    const images = composeImages(versions);
    const server = images.get('temporalio/server') ?? images.get('temporalio/auto-setup');
    expect(server, 'a temporalio/server (or auto-setup) image').toBeDefined();
    expect(server).toBe(versions.TEMPORAL_SERVER_VERSION);
    expect(images.get('temporalio/ui')).toBe(versions.TEMPORAL_UI_VERSION);
    expect(images.get('postgres')?.split('-')[0]).toBe(versions.POSTGRES_VERSION);
  });

  it('reads image references the way a user without overrides gets them', () => {
    const env = { TEMPORAL_SERVER_VERSION: '9.9.9', POSTGRES_VERSION: '16' };
    expect(resolveAsShipped('temporalio/server:${TEMPORAL_SERVER_VERSION:-0.0.1}', env)).toBe('temporalio/server:0.0.1');
    expect(resolveAsShipped('temporalio/server:${TEMPORAL_SERVER_VERSION:?set it}', env)).toBe('temporalio/server:9.9.9');
    expect(resolveAsShipped('temporalio/server:${TEMPORAL_SERVER_VERSION}', env)).toBe('temporalio/server:9.9.9');
    expect(resolveAsShipped('postgres:$POSTGRES_VERSION', env)).toBe('postgres:16');
  });
});
