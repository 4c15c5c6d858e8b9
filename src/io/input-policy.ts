/**
 * What a worker may read. Anyone who can start an import names its input, and a worker would otherwise read any
 * local file it can see (a header error quotes the "column", a reject report holds every line) or fetch any URL
 * (a cloud metadata endpoint hands out credentials). So, on the worker:
 *
 * - Local paths must resolve (symlinks followed) under one of SEGFLOW_INPUT_ROOTS (comma-separated directories).
 *   Unset, the roots are the worker's working directory and the system temp directory: `npm run demo` and the
 *   tests keep working, and a worker started in its own directory cannot read /etc or a home directory's keys.
 *   The container sets /data. The report directory is always readable (staged inputs live there).
 * - URLs must name a host on SEGFLOW_INPUT_HOSTS (comma-separated host names) when it is set; unset, any host.
 * - Link-local addresses (169.254.0.0/16, fe80::/10) and cloud metadata names are refused whatever is configured,
 *   checked on the name and on every address it resolves to.
 */
import { lookup } from 'node:dns/promises';
import { realpath } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { displayLocation } from '../shared/location';

export class InputNotAllowedError extends Error {
  override readonly name = 'InputNotAllowedError';
}

const METADATA_HOSTS = new Set(['metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data', 'instance-data.ec2.internal']);

export async function checkInputAllowed(location: string, env: NodeJS.ProcessEnv): Promise<void> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) return checkUrl(location, env);
  return checkLocalPath(location, env);
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

async function canonical(path: string): Promise<string> {
  // A file that does not exist yet is judged by its directory (the read fails later with its own message).
  try {
    return await realpath(path);
  } catch {
    try {
      return resolve(await realpath(dirname(path)), path.slice(dirname(path).length + 1));
    } catch {
      return resolve(path);
    }
  }
}

function within(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

async function checkLocalPath(path: string, env: NodeJS.ProcessEnv): Promise<void> {
  const configured = list(env.SEGFLOW_INPUT_ROOTS);
  const roots = configured.length > 0 ? configured : [process.cwd(), tmpdir()];
  roots.push(resolve(env.SEGFLOW_REPORT_DIR ?? 'segflow-reports'));
  const target = await canonical(resolve(path));
  for (const root of roots) {
    if (within(await canonical(resolve(root)), target)) return;
  }
  throw new InputNotAllowedError(
    `${displayLocation(path)} is outside the directories this worker may read (SEGFLOW_INPUT_ROOTS${configured.length ? '' : ' unset: its working directory and the temp directory'})`,
  );
}

function isLinkLocal(address: string): boolean {
  const lower = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower)?.[1];
  const v4 = isIP(lower) === 4 ? lower : mapped;
  if (v4) return v4.startsWith('169.254.');
  // fe80::/10, 169.254.x.y mapped into IPv6 as URL parsing writes it (::ffff:a9fe:xxxx), AWS's IPv6 metadata address.
  return /^fe[89ab][0-9a-f]:/.test(lower) || /^::ffff:a9fe:/.test(lower) || lower === 'fd00:ec2::254';
}

async function checkUrl(location: string, env: NodeJS.ProcessEnv): Promise<void> {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new InputNotAllowedError(`${displayLocation(location)} is not a valid URL`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (METADATA_HOSTS.has(host) || isLinkLocal(host)) {
    throw new InputNotAllowedError(`${displayLocation(location)}: link-local and cloud metadata addresses are never read`);
  }
  const allowed = list(env.SEGFLOW_INPUT_HOSTS).map((h) => h.toLowerCase());
  if (allowed.length > 0 && !allowed.includes(host)) {
    throw new InputNotAllowedError(`${displayLocation(location)}: host ${host} is not in this worker's SEGFLOW_INPUT_HOSTS`);
  }
  if (isIP(host)) return;
  let addresses: Array<{ address: string }>;
  try {
    addresses = await lookup(host, { all: true });
  } catch {
    return; // unresolvable: the fetch fails with its own message
  }
  if (addresses.some((a) => isLinkLocal(a.address))) {
    throw new InputNotAllowedError(`${displayLocation(location)}: ${host} resolves to a link-local (metadata) address, which is never read`);
  }
}
