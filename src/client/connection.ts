/**
 * One connection to Temporal per command: settings and the payload codec come from the environment, and a mistake
 * in either is a UsageError, not a stack trace.
 */
import { Client, Connection } from '@temporalio/client';
import { CodecConfigError } from '../codec/encryption-codec';
import { temporalSettings, type TemporalSettings } from '../config';
import { SEGFLOW_SEARCH_ATTRIBUTES } from '../contracts/search-attributes';
import { clientConnectionOptions, dataConverterFromEnv, TemporalConfigError } from '../temporal-connection';
import { UsageError } from './usage-error';

export interface SegflowClient {
  client: Client;
  settings: TemporalSettings;
  close(): Promise<void>;
}

export async function connectClient(env: NodeJS.ProcessEnv = process.env): Promise<SegflowClient> {
  let settings: TemporalSettings;
  let dataConverter;
  try {
    settings = temporalSettings(env);
    // With SEGFLOW_CODEC_KEY set, payloads are encrypted: the CLI needs the key too, to read what it shows.
    dataConverter = dataConverterFromEnv(env);
  } catch (error) {
    if (error instanceof TemporalConfigError || error instanceof CodecConfigError) throw new UsageError(error.message);
    throw error;
  }
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...clientConnectionOptions(settings.profile!), connectTimeout: 5000 });
  } catch (error) {
    throw new UsageError(
      `Cannot reach Temporal at ${settings.address} (${(error as Error).message}); start one with \`npm run dev\` (segflow dev) or set TEMPORAL_ADDRESS.`,
    );
  }
  return {
    client: new Client({ connection, namespace: settings.namespace, dataConverter }),
    settings,
    close: () => connection.close(),
  };
}

/**
 * Connects, runs `fn` and closes the connection however `fn` ends: a command never leaves a connection open.
 * `connect` is connectClient; tests pass their own.
 */
export async function withClient<T>(
  fn: (sc: SegflowClient) => Promise<T>,
  env: NodeJS.ProcessEnv = process.env,
  connect: (env: NodeJS.ProcessEnv) => Promise<SegflowClient> = connectClient,
): Promise<T> {
  const sc = await connect(env);
  try {
    return await fn(sc);
  } finally {
    await sc.close();
  }
}

let searchAttributesKnown: boolean | undefined;
/** Whether segflow's search attributes are registered; the workflow only upserts them when they are. */
export async function hasSegflowSearchAttributes(sc: SegflowClient): Promise<boolean> {
  if (searchAttributesKnown !== undefined) return searchAttributesKnown;
  try {
    const response = await sc.client.connection.operatorService.listSearchAttributes({ namespace: sc.settings.namespace });
    const custom = response.customAttributes ?? {};
    searchAttributesKnown = SEGFLOW_SEARCH_ATTRIBUTES.every((key) => key.name in custom);
  } catch {
    searchAttributesKnown = false; // Temporal Cloud API keys may not list attributes: run without them.
  }
  return searchAttributesKnown;
}
