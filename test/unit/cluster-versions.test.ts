/**
 * docker-compose.yml and scripts/cluster.sh describe the same deployment, so they must run the same Temporal
 * server, schema tool and UI releases. Both read deploy/versions.env (test/unit/versions.test.ts keeps compose's
 * defaults equal to it); this test compares what each of the two really runs.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = resolve(__dirname, '../..');

/**
 * An image reference as a user without overrides gets it: `${NAME:-default}` / `${NAME-default}` resolve to their
 * default (what runs when nothing is set), `${NAME}`, `$NAME` and `${NAME:?message}` to `values[NAME]`.
 */
function resolveAsShipped(text: string, values: Record<string, string>): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (_all, braced: string | undefined, op: string | undefined, rest: string | undefined, bare: string | undefined) => {
      if (op === ':-' || op === '-') return rest ?? '';
      return values[(braced ?? bare)!] ?? '';
    },
  );
}

function readVersions(): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const line of readFileSync(join(root, 'deploy/versions.env'), 'utf8').split('\n')) {
    const match = /^([A-Z0-9_]+)=(\S+)$/.exec(line.trim());
    if (match) versions[match[1]!] = match[2]!;
  }
  return versions;
}

/** image repository -> tag, for every service of docker-compose.yml that names an image. */
function composeImages(): Map<string, string> {
  const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { image?: string }> };
  const images = new Map<string, string>();
  for (const service of Object.values(compose.services)) {
    if (!service.image) continue;
    const image = resolveAsShipped(service.image, readVersions());
    const colon = image.lastIndexOf(':');
    images.set(image.slice(0, colon), image.slice(colon + 1));
  }
  return images;
}

/** `module@vX.Y.Z` lines printed by `scripts/cluster.sh versions`, as package -> version. */
function clusterPackages(): Map<string, string> {
  const lines = execFileSync('bash', [join(root, 'scripts/cluster.sh'), 'versions'], { encoding: 'utf8' })
    .trim()
    .split('\n');
  return new Map(
    lines.map((line) => {
      const [pkg, version] = line.split('@v');
      return [pkg!, version!] as const;
    }),
  );
}

describe('docker-compose.yml and scripts/cluster.sh', () => {
  const images = composeImages();
  const packages = clusterPackages();

  it('run the same Temporal server release', () => {
    expect(images.get('temporalio/server')).toBeDefined();
    expect(packages.get('go.temporal.io/server/cmd/server')).toBe(images.get('temporalio/server'));
  });

  it('set the schema up with the tool of that same release', () => {
    // Compose's schema job runs in temporalio/admin-tools, tagged <server release>-tctl-...-cli-...
    const adminTools = images.get('temporalio/admin-tools');
    expect(adminTools?.split('-')[0]).toBe(images.get('temporalio/server'));
    expect(packages.get('go.temporal.io/server/cmd/tools/sql')).toBe(images.get('temporalio/server'));
  });

  it('serve the same Web UI release', () => {
    expect(packages.get('github.com/temporalio/ui-server/v2/cmd/server')).toBe(images.get('temporalio/ui'));
  });

  it('take them from deploy/versions.env: the script writes no version of its own', () => {
    const script = readFileSync(join(root, 'scripts/cluster.sh'), 'utf8');
    expect(script).toContain('. "$root/deploy/versions.env"');
    expect(script).not.toMatch(/@v\d/);
    expect(packages.get('go.temporal.io/server/cmd/server')).toBe(readVersions().TEMPORAL_SERVER_VERSION);
  });

  it('reads image references the way a user without overrides gets them', () => {
    const env = { TEMPORAL_SERVER_VERSION: '9.9.9', POSTGRES_VERSION: '16' };
    expect(resolveAsShipped('temporalio/server:${TEMPORAL_SERVER_VERSION:-0.0.1}', env)).toBe('temporalio/server:0.0.1');
    expect(resolveAsShipped('temporalio/server:${TEMPORAL_SERVER_VERSION:?set it}', env)).toBe('temporalio/server:9.9.9');
    expect(resolveAsShipped('temporalio/server:${TEMPORAL_SERVER_VERSION}', env)).toBe('temporalio/server:9.9.9');
    expect(resolveAsShipped('postgres:$POSTGRES_VERSION', env)).toBe('postgres:16');
  });
});
