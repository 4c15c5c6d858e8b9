/**
 * Everything segflow reads from the environment, in one place.
 *
 * Secrets (write keys, API tokens) are resolved here, on the worker, by *name*: workflow inputs carry only
 * the name of a source ("default", "web"), never the key itself, so nothing secret reaches Temporal history,
 * memo, search attributes or logs.
 */
import { DEFAULT_PUBLIC_API_URL, DEFAULT_TRACKING_URL, STAGING_LIMITS, type StagingLimits } from './shared/limits';
import { loadTemporalProfile, type TemporalProfile } from './temporal-connection';
import type { WorkerApprovalPolicy } from './contracts/import-job';

export const DEFAULT_TASK_QUEUE = 'segflow';

export interface TemporalSettings {
  /** Address, namespace, TLS and API key, read the way every Temporal tool reads them (envconfig). */
  profile?: TemporalProfile;
  address: string;
  namespace: string;
  taskQueue: string;
  /** Web UI root used to print links; SEGFLOW_UI_URL, defaults to the dev server's UI. */
  uiUrl: string;
}

export function temporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const profile = loadTemporalProfile(env);
  const address = profile.address;
  return {
    profile,
    address,
    namespace: profile.namespace,
    taskQueue: env.SEGFLOW_TASK_QUEUE || DEFAULT_TASK_QUEUE,
    uiUrl: (env.SEGFLOW_UI_URL || defaultUiUrl(address)).replace(/\/+$/, ''),
  };
}

/** The dev server serves its UI on the gRPC port + 1000 (docs/temporal-notes.md, "The dev server"). */
function defaultUiUrl(address: string): string {
  const match = /^(.*):(\d+)$/.exec(address);
  if (!match) return 'http://localhost:8233';
  const port = Math.min(Number(match[2]) + 1000, 65535);
  return `http://${match[1]}:${port}`;
}

export function workflowUiLink(settings: TemporalSettings, workflowId: string): string {
  return `${settings.uiUrl}/namespaces/${encodeURIComponent(settings.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The Tracking API root; only https, except loopback and SEGFLOW_ALLOW_INSECURE_HOSTS (see secureApiRoot). */
export function trackingApiRoot(env: NodeJS.ProcessEnv = process.env): string {
  return secureApiRoot('SEGMENT_TRACKING_URL', env.SEGMENT_TRACKING_URL || DEFAULT_TRACKING_URL, env);
}

export function publicApiRoot(env: NodeJS.ProcessEnv = process.env): string {
  return secureApiRoot('SEGMENT_API_URL', env.SEGMENT_API_URL || DEFAULT_PUBLIC_API_URL, env);
}

/**
 * Write keys and API tokens travel in headers, so a plain-http root would hand them to every hop on the way.
 * Plain http is accepted only for loopback (tests, `segflow dev`) and for hosts listed in
 * SEGFLOW_ALLOW_INSECURE_HOSTS (comma-separated host names or IPs: a test network such as a network namespace).
 */
export function secureApiRoot(variable: string, value: string, env: NodeJS.ProcessEnv = process.env): string {
  const root = value.replace(/\/+$/, '');
  let url: URL;
  try {
    url = new URL(root);
  } catch {
    throw new ConfigError(`${variable} is not a URL: "${root.slice(0, 80)}"`);
  }
  if (url.protocol === 'https:') return root;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (url.protocol === 'http:' && (isLoopbackHost(host) || insecureHostsAllowed(env).has(host))) return root;
  throw new ConfigError(
    `${variable} must be an https URL (got ${url.protocol}//${url.host}): plain http is only accepted for loopback addresses ` +
      'and for hosts listed in SEGFLOW_ALLOW_INSECURE_HOSTS (a test network)',
  );
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function insecureHostsAllowed(env: NodeJS.ProcessEnv): Set<string> {
  return new Set(
    (env.SEGFLOW_ALLOW_INSECURE_HOSTS ?? '')
      .split(',')
      .map((h) =>
        h
          .trim()
          .replace(/^\[|\]$/g, '')
          .toLowerCase(),
      )
      .filter(Boolean),
  );
}

/** A source name as used on the command line: letters, digits, `_` and `-` (the rule lives in the contracts). */
export { SOURCE_NAME_PATTERN } from './contracts/names';

/**
 * SEGFLOW_REQUIRE_APPROVAL, on workers: `imports` makes an approval mandatory for every import that sends, whoever
 * starts it (a namespace user can start a workflow without the CLI's --require-approval). The workflow asks its worker
 * at a job's start and takes the validate, approve, send path; every send chunk also refuses to run without an
 * approved plan (ApprovalRequired). Comma-separated; unset or empty: approval stays per job. An unknown value stops
 * the worker at start (fail closed), rather than silently running without the gate.
 */
export function requiredApprovals(env: NodeJS.ProcessEnv = process.env): WorkerApprovalPolicy {
  const values = (env.SEGFLOW_REQUIRE_APPROVAL ?? '')
    .split(',')
    .map((value) => value.trim().toLowerCase())
    .filter(Boolean);
  const unknown = values.filter((value) => value !== 'imports');
  if (unknown.length > 0) {
    throw new ConfigError(`SEGFLOW_REQUIRE_APPROVAL "${unknown[0]!.slice(0, 40)}" is not known: set it to "imports" or leave it unset`);
  }
  return { imports: values.includes('imports') };
}

/**
 * One spelling per source: `web-app`, `web_app` and `Web-App` all read SEGMENT_WRITE_KEY_WEB_APP, so they are the
 * same source and must give the same job id and messageId namespace (else importing a file under each spelling
 * sends every event again with new ids). Lower case, `_` as `-`.
 */
export function canonicalSourceName(sourceName: string): string {
  return sourceName.toLowerCase().replace(/_/g, '-');
}

/** The env variable that holds the write key of a named source: `default` -> SEGMENT_WRITE_KEY, `web-app` -> SEGMENT_WRITE_KEY_WEB_APP. */
export function writeKeyVariable(sourceName: string): string {
  if (sourceName === 'default') return 'SEGMENT_WRITE_KEY';
  return `SEGMENT_WRITE_KEY_${sourceName.toUpperCase().replace(/-/g, '_')}`;
}

export class MissingSecretError extends Error {
  constructor(
    readonly variable: string,
    what: string,
  ) {
    super(`${what} is not set on this worker: set ${variable} in the worker's environment`);
    this.name = 'MissingSecretError';
  }
}

export function resolveWriteKey(sourceName: string, env: NodeJS.ProcessEnv = process.env): string {
  const variable = writeKeyVariable(sourceName);
  const key = env[variable];
  if (!key) throw new MissingSecretError(variable, `The write key of source "${sourceName}"`);
  return key;
}

export function resolveApiToken(env: NodeJS.ProcessEnv = process.env): string {
  const token = env.SEGMENT_API_TOKEN;
  if (!token) throw new MissingSecretError('SEGMENT_API_TOKEN', 'The Segment Public API token');
  return token;
}

/**
 * What staging a .gz or many-file input may write on a worker (src/io/staging.ts), defaults in src/shared/limits.ts:
 * SEGFLOW_STAGING_MAX_BYTES, the decompressed bytes of one job's files together (default 64 GiB), and
 * SEGFLOW_STAGING_MAX_RATIO, how many times its compressed size a .gz file may grow to (default 100).
 */
export function stagingLimits(env: NodeJS.ProcessEnv = process.env): StagingLimits {
  return {
    maxBytes: atLeastOne(env, 'SEGFLOW_STAGING_MAX_BYTES', STAGING_LIMITS.maxBytes, 'a number of bytes (137438953472 for 128 GiB)'),
    maxRatio: atLeastOne(env, 'SEGFLOW_STAGING_MAX_RATIO', STAGING_LIMITS.maxRatio, 'a number of times (200, say)'),
  };
}

function atLeastOne(env: NodeJS.ProcessEnv, variable: string, fallback: number, what: string): number {
  const text = env[variable]?.trim();
  if (!text) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 1) throw new ConfigError(`${variable} must be ${what}, at least 1; got "${text.slice(0, 40)}"`);
  return value;
}
