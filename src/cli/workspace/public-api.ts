/**
 * Direct Public API reads from this shell (SEGMENT_API_TOKEN / SEGMENT_API_URL): the client, and the action
 * wrapper that turns the API's refusals into one line and exit code 1.
 */
import { UsageError } from '../../client';
import { ConfigError, MissingSecretError, publicApiRoot, resolveApiToken } from '../../config';
import { PublicApiClient } from '../../segment/public-api-client';
import { PublicApiError } from '../../segment/public-api-errors';
import { action, EXIT } from '../common';
import { note } from '../terminal';

export function publicApi(): PublicApiClient {
  try {
    return new PublicApiClient({ baseUrl: publicApiRoot(process.env), token: resolveApiToken(process.env) });
  } catch (error) {
    if (error instanceof MissingSecretError)
      throw new UsageError("SEGMENT_API_TOKEN is not set in this shell (direct reads use the Public API token of the shell; jobs use the worker's).");
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
}

/** Public API failures are expected outcomes of a read: one clear line and exit code 1, no stack. */
export function apiAction<A extends unknown[]>(fn: (...args: A) => Promise<number | void>) {
  return action(async (...args: A) => {
    try {
      return await fn(...args);
    } catch (error) {
      if (!(error instanceof PublicApiError)) throw error;
      note(`segflow: ${error.message}`);
      return EXIT.failed;
    }
  });
}
