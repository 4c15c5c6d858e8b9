/**
 * The Segment Tracking API double as a standalone process, for the benchmark and tests (`segflow dev` has its own
 * stand-in in the product: src/dev/segment-stand-in.ts).
 *
 *   npx tsx test/support/segment-double-cli.ts [--port 0] [--host 127.0.0.1] [--write-key KEY ...]
 *
 * stdout: exactly one JSON line `{"url":"http://127.0.0.1:PORT","writeKeys":[...]}` once listening,
 *         so a script can `read` it and point segflow at the url.
 * stderr: one summary line per request, and a final stats line on SIGINT/SIGTERM.
 * Runs in benchmark mode (nothing but counters and messageIds kept): nobody can query it from outside,
 * and a long demo must not grow memory.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_WRITE_KEYS, SegmentDouble } from './segment-double';
import type { RequestLogEntry } from './segment-double';

/** One grep-friendly line per request. */
export function summarizeRequest(entry: RequestLogEntry): string {
  const parts = [
    entry.receivedAt,
    entry.method,
    entry.path,
    entry.status === 0 ? 'RESET' : String(entry.status),
    `events=${entry.events}`,
    `accepted=${entry.accepted}`,
    `duplicates=${entry.duplicates}`,
    `dropped=${entry.dropped}`,
    `bytes=${entry.bytes}`,
  ];
  if (entry.sentAt !== undefined) parts.push(`sentAt=${entry.sentAt}`);
  if (entry.fault !== undefined) parts.push(`fault=${entry.fault}`);
  return parts.join(' ');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      'write-key': { type: 'string', multiple: true },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`invalid --port ${values.port}`);
  const writeKeys = values['write-key'];

  const double = await SegmentDouble.start({
    port,
    host: values.host,
    ...(writeKeys ? { writeKeys } : {}),
    recordMessages: false,
    onRequest: (entry) => process.stderr.write(`${summarizeRequest(entry)}\n`),
  });
  process.stdout.write(`${JSON.stringify({ url: double.url, writeKeys: writeKeys ?? DEFAULT_WRITE_KEYS })}\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`segment-double: ${signal}, stopping; stats ${JSON.stringify(double.stats())}\n`);
    double.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`segment-double: stop failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`segment-double: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
