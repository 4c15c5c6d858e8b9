/**
 * How segflow finds its Temporal cluster, following Temporal's own conventions (`@temporalio/envconfig`), so the
 * same binary and the same variables work against the dev server, a self-hosted cluster or Temporal Cloud:
 * TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH/_DATA,
 * TEMPORAL_TLS_CLIENT_KEY_PATH/_DATA, TEMPORAL_TLS_SERVER_CA_CERT_PATH/_DATA, TEMPORAL_TLS_SERVER_NAME,
 * TEMPORAL_GRPC_META_<HEADER>, and profiles from a TOML file (TEMPORAL_CONFIG_FILE, default
 * ~/.config/temporalio/temporal.toml) chosen with TEMPORAL_PROFILE. Variables override the profile.
 *
 * Also the optional payload codec, read from SEGFLOW_CODEC_* (see codec/encryption-codec.ts).
 */
import { join } from 'node:path';
import type { ConnectionOptions, TLSConfig } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { loadClientConfigProfile, toClientOptions, type ClientConfigProfile } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { existsSync } from 'node:fs';
import { encryptionCodecFromEnv } from './codec/encryption-codec';

export const DEFAULT_TEMPORAL_ADDRESS = 'localhost:7233';
export const DEFAULT_TEMPORAL_NAMESPACE = 'default';

export interface TemporalProfile {
  address: string;
  namespace: string;
  /** `true` or a TLSConfig turns TLS on; an API key alone implies TLS (Temporal Cloud), `TEMPORAL_TLS=false` turns it off. */
  tls?: TLSConfig | boolean;
  apiKey?: string;
  /** Extra gRPC headers (TEMPORAL_GRPC_META_*). */
  metadata?: Record<string, string>;
}

/** Connection settings that cannot be used as given; the message names the variable or file to fix. */
export class TemporalConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemporalConfigError';
  }
}

export function loadTemporalProfile(env: NodeJS.ProcessEnv = process.env): TemporalProfile {
  const vars = nonEmptyEnv(env);
  // envconfig silently ignores a config file that does not exist; a typo in the path should not quietly
  // connect somewhere else.
  const configFile = vars.TEMPORAL_CONFIG_FILE;
  if (configFile !== undefined && !existsSync(configFile)) {
    throw new TemporalConfigError(`TEMPORAL_CONFIG_FILE points to ${configFile}, which does not exist; fix the path or unset it.`);
  }

  let profile: ClientConfigProfile;
  let options: ReturnType<typeof toClientOptions>;
  try {
    profile = loadClientConfigProfile({ overrideEnvVars: vars });
    // Reads TLS certificate files named by the profile, so path mistakes surface here too.
    options = toClientOptions(profile);
  } catch (error) {
    const where = vars.TEMPORAL_PROFILE ? `profile "${vars.TEMPORAL_PROFILE}"` : 'the Temporal connection settings';
    throw new TemporalConfigError(
      `Cannot load ${where}: ${(error as Error).message}. Check TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE and the TEMPORAL_TLS_* paths.`,
    );
  }

  const { connectionOptions } = options;
  const result: TemporalProfile = {
    address: connectionOptions.address ?? DEFAULT_TEMPORAL_ADDRESS,
    namespace: options.namespace ?? DEFAULT_TEMPORAL_NAMESPACE,
  };
  if (connectionOptions.tls !== undefined && connectionOptions.tls !== null) result.tls = connectionOptions.tls;
  if (connectionOptions.apiKey) result.apiKey = connectionOptions.apiKey;
  if (profile.grpcMeta && Object.keys(profile.grpcMeta).length > 0) result.metadata = { ...profile.grpcMeta };
  return result;
}

/**
 * Compose files and CI systems pass unset settings as empty strings (`TEMPORAL_API_KEY=`); envconfig would take
 * an empty API key as "use TLS". Empty means unset here, except for TEMPORAL_GRPC_META_*, where envconfig
 * defines an empty value as "remove this header from the profile".
 */
function nonEmptyEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (value.trim() === '' && !name.startsWith('TEMPORAL_GRPC_META_')) continue;
    vars[name] = value;
  }
  return vars;
}

/** Options for `Connection.connect` (`@temporalio/client`): the CLI and anything else that starts or reads jobs. */
export function clientConnectionOptions(profile: TemporalProfile): ConnectionOptions {
  return {
    address: profile.address,
    ...(profile.tls !== undefined ? { tls: profile.tls } : {}),
    ...(profile.apiKey ? { apiKey: profile.apiKey } : {}),
    ...(profile.metadata ? { metadata: { ...profile.metadata } } : {}),
  };
}

/** Options for `NativeConnection.connect` (`@temporalio/worker`): the worker. */
export function nativeConnectionOptions(profile: TemporalProfile): NativeConnectionOptions {
  return {
    address: profile.address,
    ...(profile.tls !== undefined ? { tls: profile.tls } : {}),
    ...(profile.apiKey ? { apiKey: profile.apiKey } : {}),
    ...(profile.metadata ? { metadata: { ...profile.metadata } } : {}),
  };
}

/** A one-line description for logs and errors; never includes the API key or certificates. */
export function describeTemporalProfile(profile: TemporalProfile): string {
  const security = profile.apiKey ? 'TLS + API key' : profile.tls ? 'TLS' : 'plaintext';
  return `${profile.address} (namespace ${profile.namespace}, ${security})`;
}

/**
 * The data converter for Client and Worker: with SEGFLOW_CODEC_KEY set, every payload is AES-256-GCM encrypted
 * before it reaches Temporal. Both sides must use the same keys, so pass this to `new Client(...)` and to
 * `Worker.create(...)` alike. Undefined when encryption is off.
 */
export function dataConverterFromEnv(env: NodeJS.ProcessEnv = process.env): DataConverter | undefined {
  const codec = encryptionCodecFromEnv(env);
  // Failures too: their messages and stacks go into an encoded attributes payload the codec encrypts.
  return codec ? { payloadCodecs: [codec], failureConverterPath: encodedFailureConverterPath() } : undefined;
}

/** src/workflows/failure-converter: `.ts` when run from sources (tsx, vitest), `.js` from dist. */
export function encodedFailureConverterPath(): string {
  const base = join(__dirname, 'workflows', 'failure-converter');
  return existsSync(`${base}.ts`) ? `${base}.ts` : `${base}.js`;
}
