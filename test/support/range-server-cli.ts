/**
 * The range server (range-server.ts) as a standalone process: the multi-host test's "storage host", which serves
 * input files over HTTP with range requests the way an object store does.
 *
 *   npx tsx test/support/range-server-cli.ts --dir DIR [--host 127.0.0.1]
 *
 * Serves every file directly in DIR at /<name> (read once at start).
 * stdout: one JSON line `{"url":"http://HOST:PORT"}` once listening.
 * stderr: one line per request: `<status> <remote address> <path> <range>`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startRangeServer } from './range-server';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { dir: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' } },
    strict: true,
  });
  if (!values.dir) throw new Error('--dir is required');
  const server = await startRangeServer({
    host: values.host,
    onRequest: (entry) => process.stderr.write(`${entry.status} ${entry.remote ?? '-'} ${entry.path} ${entry.range ?? '-'}\n`),
  });
  for (const name of readdirSync(values.dir)) {
    const path = join(values.dir, name);
    if (statSync(path).isFile()) server.put(`/${name}`, readFileSync(path));
  }
  process.stdout.write(`${JSON.stringify({ url: server.url('').replace(/\/$/, '') })}\n`);
  const stop = () => void server.stop().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`range-server: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
