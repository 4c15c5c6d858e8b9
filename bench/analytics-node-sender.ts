/**
 * What a user would write instead of segflow: read the file line by line and hand each event to
 * `@segment/analytics-node` with its defaults (only `host` points it at the bench's Segment double). Runs in its own
 * process (bench/analytics-node-run.ts transpiles and starts it) so its CPU and memory are measured like the worker's.
 *
 *   node analytics-node-sender.js <file.ndjson> <host> <writeKey>
 *
 * Prints one JSON line {events, ms, errors} when every event was flushed, then waits for SIGTERM (the bench reads the
 * process's peak memory before stopping it).
 */
import { Analytics, type AliasParams, type GroupParams, type IdentifyParams, type PageParams, type TrackParams } from '@segment/analytics-node';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

async function main(): Promise<void> {
  const [file, host, writeKey] = process.argv.slice(2);
  if (!file || !host || !writeKey) throw new Error('usage: analytics-node-sender <file.ndjson> <host> <writeKey>');
  const analytics = new Analytics({ writeKey, host });
  let errors = 0;
  analytics.on('error', () => {
    errors += 1;
  });
  let events = 0;
  const started = performance.now();
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (line.length === 0) continue;
    const row = JSON.parse(line) as Record<string, unknown>;
    const { type, ...fields } = row;
    switch (type) {
      case 'track':
        analytics.track(fields as TrackParams);
        break;
      case 'identify':
        analytics.identify(fields as IdentifyParams);
        break;
      case 'page':
        analytics.page(fields as PageParams);
        break;
      case 'screen':
        analytics.screen(fields as PageParams);
        break;
      case 'group':
        analytics.group(fields as GroupParams);
        break;
      case 'alias':
        analytics.alias(fields as AliasParams);
        break;
      default:
        throw new Error(`unknown type ${String(type)}`);
    }
    events += 1;
  }
  await analytics.closeAndFlush({ timeout: 600_000 });
  process.stdout.write(`${JSON.stringify({ events, ms: performance.now() - started, errors })}\n`);
  process.once('SIGTERM', () => process.exit(0));
  setInterval(() => undefined, 60_000);
}

main().catch((error: unknown) => {
  process.stderr.write(`analytics-node sender: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
