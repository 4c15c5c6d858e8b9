/**
 * deploy/versions.env is the one place each deployment version is written. Compose and the Dockerfile repeat
 * those values as defaults (Compose reads only .env by itself, and `docker build` no env file at all), and
 * scripts may default to them; this test is what keeps every copy in step, and every image pinned.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const root = join(__dirname, '../..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

function parseEnvFile(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const match = /^([A-Z][A-Z0-9_]*)=(\S+)$/.exec(trimmed);
    if (!match) throw new Error(`deploy/versions.env: cannot read line ${JSON.stringify(line)}`);
    values.set(match[1]!, match[2]!);
  }
  return values;
}

const versions = parseEnvFile(read('deploy/versions.env'));

/** The files that may repeat a version as a default: `${NAME:-value}` or `NAME=value`. */
function readersOfVersions(): Array<{ path: string; text: string }> {
  const paths = ['docker-compose.yml', 'Dockerfile', '.ci/run'];
  for (const dir of ['scripts', 'deploy']) {
    for (const name of readdirSync(join(root, dir))) {
      if (/\.(sh|js|ts|ya?ml)$/.test(name)) paths.push(`${dir}/${name}`);
    }
  }
  return paths.map((path) => ({ path, text: read(path) }));
}

/** `repo:${NAME:-default}` as written in docker-compose.yml. */
const imageReference = /^([a-z0-9./_-]+):\$\{([A-Z][A-Z0-9_]*):-([^}]+)\}$/;

/** Which versions.env key pins each upstream image, so an image cannot borrow another's version. */
const keyOfImage: Record<string, string> = {
  postgres: 'POSTGRES_VERSION',
  'temporalio/server': 'TEMPORAL_SERVER_VERSION',
  'temporalio/admin-tools': 'TEMPORAL_ADMIN_TOOLS_TAG',
  'temporalio/ui': 'TEMPORAL_UI_VERSION',
  'prom/prometheus': 'PROMETHEUS_VERSION',
  'grafana/grafana': 'GRAFANA_VERSION',
};

describe('deploy/versions.env', () => {
  it('names the versions the deployment and CI rely on', () => {
    for (const key of [
      'TEMPORAL_SERVER_VERSION',
      'TEMPORAL_UI_VERSION',
      'TEMPORAL_ADMIN_TOOLS_TAG',
      'POSTGRES_VERSION',
      'NODE_22_VERSION',
      'NODE_24_VERSION',
    ]) {
      expect(versions.get(key), key).toMatch(/^\d/);
    }
  });

  it('docs/versions.md cites where upstream publishes every version the file names', () => {
    const docs = read('docs/versions.md');
    for (const key of versions.keys()) expect(docs, `docs/versions.md has no row for ${key}`).toContain(`\`${key}\``);
  });

  it('every default written elsewhere equals the value in deploy/versions.env', () => {
    const mismatches: string[] = [];
    let defaultsSeen = 0;
    for (const { path, text } of readersOfVersions()) {
      for (const [key, value] of versions) {
        const patterns = [new RegExp(`\\$\\{${key}:-([^}]*)\\}`, 'g'), new RegExp(`^\\s*(?:export\\s+|ARG\\s+)?${key}=["']?([^"'\\s]+)`, 'gm')];
        for (const pattern of patterns) {
          for (const match of text.matchAll(pattern)) {
            defaultsSeen++;
            if (match[1] !== value) mismatches.push(`${path}: ${key} defaults to ${match[1]}, versions.env says ${value}`);
          }
        }
      }
    }
    expect(mismatches).toEqual([]);
    expect(defaultsSeen).toBeGreaterThan(0);
  });

  it('every image in docker-compose.yml is pinned through a versions.env key (or built here)', () => {
    const compose = parseYaml(read('docker-compose.yml')) as {
      services: Record<string, { image?: string; build?: { args?: Record<string, string> } | string }>;
    };
    const problems: string[] = [];
    for (const [name, service] of Object.entries(compose.services)) {
      const image = service.image;
      if (image === undefined) {
        problems.push(`${name}: no image`);
        continue;
      }
      if (service.build !== undefined) {
        // Built from this repository's Dockerfile, on the Node release CI tests.
        expect(image, name).toBe('segflow:local');
        const args = typeof service.build === 'string' ? {} : (service.build.args ?? {});
        if (args.NODE_VERSION !== `\${NODE_24_VERSION:-${versions.get('NODE_24_VERSION')}}`) {
          problems.push(`${name}: build arg NODE_VERSION must be \${NODE_24_VERSION:-<versions.env value>}`);
        }
        continue;
      }
      const match = imageReference.exec(image);
      if (!match) {
        problems.push(`${name}: image ${image} must read its tag from deploy/versions.env as repo:\${KEY:-value}`);
        continue;
      }
      const [, repository, key, fallback] = match;
      if (!versions.has(key!)) problems.push(`${name}: ${key} is not in deploy/versions.env`);
      if (keyOfImage[repository!] !== undefined && keyOfImage[repository!] !== key) {
        problems.push(`${name}: ${repository} must be pinned by ${keyOfImage[repository!]}, not ${key}`);
      }
      if (fallback === 'latest' || versions.get(key!) === 'latest') problems.push(`${name}: never latest`);
    }
    expect(problems).toEqual([]);
    // The images the compose file is built on: the server, its schema and namespace jobs, the UI, PostgreSQL.
    const images = Object.values(compose.services).map((s) => s.image?.split(':')[0]);
    expect(images).toEqual(expect.arrayContaining(['postgres', 'temporalio/server', 'temporalio/admin-tools', 'temporalio/ui']));
    expect(images).not.toContain('temporalio/auto-setup');
  });

  it('the admin tools that set up the schema come from the same Temporal release as the server', () => {
    expect(versions.get('TEMPORAL_ADMIN_TOOLS_TAG')!.split('-')[0]).toBe(versions.get('TEMPORAL_SERVER_VERSION'));
  });

  it('the Dockerfile builds on the Node 24 release CI tests, by exact version', () => {
    const dockerfile = read('Dockerfile');
    expect(dockerfile).toMatch(new RegExp(`^ARG NODE_VERSION=${versions.get('NODE_24_VERSION')!.replace(/\./g, '\\.')}$`, 'm'));
    // Every FROM goes through the pinned argument or an earlier stage.
    const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(froms.length).toBeGreaterThan(0);
    for (const from of froms) expect(from).toBe('${NODE_IMAGE}');
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:\$\{NODE_VERSION\}-[a-z]+-slim$/m);
  });
});
