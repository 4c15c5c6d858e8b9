/**
 * A real import with SEGFLOW_CODEC_KEY on the worker and the client: every payload of every run of the chain
 * (inputs, results, activity arguments, heartbeat details, query and update answers, failures' details) is
 * encrypted, so Temporal holds no plain file path, source name or count.
 */
import { Client } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { followJob, startImport, type SegflowClient } from '../../src/client';
import { ENCRYPTED_ENCODING } from '../../src/codec/encryption-codec';
import { dataConverterFromEnv } from '../../src/temporal-connection';
import { chainHistories, payloadsOf } from '../support/history';
import { startImportHarness, type ImportHarness } from '../support/import-harness';
import { getTestEnv } from '../support/temporal';
import { ndjsonEvents } from '../support/wait';

const codecEnv = { SEGFLOW_CODEC_KEY: randomBytes(32).toString('base64'), SEGFLOW_CODEC_KEY_ID: 'import-test' };
let h: ImportHarness;
let sc: SegflowClient;

beforeAll(async () => {
  h = await startImportHarness({ extraEnv: codecEnv });
  const env = await getTestEnv();
  sc = { ...h.sc, client: new Client({ connection: env.connection, namespace: 'default', dataConverter: dataConverterFromEnv(codecEnv) }) };
});

afterAll(async () => {
  await h?.stop();
});

it('encrypts every payload of every run of an import chain', async () => {
  const file = h.writeInput('codec-import.ndjson', ndjsonEvents(1200, 'codec'));
  const started = await startImport(sc, { file, targetChunkBytes: 10_000, chunksPerRun: 3, concurrency: 2, heartbeatTimeoutMs: 5000 });
  const final = await followJob(sc, started.jobId, () => undefined, 200);
  expect(final.state).toBe('completed');
  expect(final.runs as number).toBeGreaterThan(1);
  expect(h.double.uniqueMessageIds().size).toBe(1200);

  const histories = await chainHistories(sc.client, started.jobId);
  expect(histories.length).toBe(final.runs);
  let payloads = 0;
  for (const history of histories) {
    for (const payload of payloadsOf(history)) {
      // A patch marker's payload is written by the SDK core itself and holds only the patch id (e.g.
      // "plan-ahead-while-chunks-run"): no codec runs on it.
      if (payload.path.includes('markerRecordedEventAttributes.details.patch-data')) continue;
      payloads += 1;
      const encoding = Buffer.from(payload.metadata?.encoding ?? new Uint8Array()).toString('utf8');
      expect(`${payload.path}: ${encoding}`).toBe(`${payload.path}: ${ENCRYPTED_ENCODING}`);
      expect(Buffer.from(payload.data ?? new Uint8Array()).toString('utf8')).not.toContain('codec-import.ndjson');
    }
  }
  // Inputs, results and activity arguments of several runs: a walk that found nothing would prove nothing.
  expect(payloads).toBeGreaterThan(20);
}, 180_000);
