import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChunkCheckpointWriter, readChunkCheckpoint } from '../../src/io/chunk-checkpoint';

const key = { runId: 'run-1', activityId: '7', startByte: 0, endByte: 1000 };

describe('durable chunk checkpoint', () => {
  it('reads back the last save, only for the same run, activity and byte range', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'segflow-cp-')), 'chunks', '00000001.checkpoint.json');
    const writer = await ChunkCheckpointWriter.open(path, key, { recordsAcked: 0, eventsSent: 0, batchesSent: 0, serverRejected: 0 });
    await writer.save({ recordsAcked: 200, eventsSent: 200, batchesSent: 1, serverRejected: 0 });
    const days = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`2020-01-${i}`, i]));
    await writer.save({ recordsAcked: 400, eventsSent: 399, batchesSent: 2, serverRejected: 1, sentByDay: days });
    await writer.save({ recordsAcked: 600, eventsSent: 599, batchesSent: 3, serverRejected: 1, sentByDay: { '2020-01-01': 599 } });
    await writer.close();
    expect(await readChunkCheckpoint(path, key)).toEqual({ recordsAcked: 600, eventsSent: 599, batchesSent: 3, serverRejected: 1, sentByDay: { '2020-01-01': 599 } });
    expect(await readChunkCheckpoint(path, { ...key, runId: 'run-2' })).toBeUndefined();
    expect(await readChunkCheckpoint(path, { ...key, endByte: 999 })).toBeUndefined();
    expect(await readChunkCheckpoint(join(path, '..', 'missing'), key)).toBeUndefined();
  });

  it('a new attempt that dies before its first batch keeps what the earlier one saved', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'segflow-cp-')), 'y.checkpoint.json');
    const first = await ChunkCheckpointWriter.open(path, key, { recordsAcked: 0, eventsSent: 0, batchesSent: 0, serverRejected: 0 });
    await first.save({ recordsAcked: 2200, eventsSent: 2200, batchesSent: 11, serverRejected: 0, sentByDay: { '2026-11-27': 2200 } });
    await first.close();
    const resumed = (await readChunkCheckpoint(path, key))!;
    const second = await ChunkCheckpointWriter.open(path, key, resumed); // ...and dies here
    await second.close();
    expect(await readChunkCheckpoint(path, key)).toEqual(resumed);
  });

  it('ignores a torn or tampered file', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'segflow-cp-')), 'x.checkpoint.json');
    writeFileSync(path, '{"runId":"run-1","activityId":"7","startByte":0,"endByte":1000,"recordsAcked":5');
    expect(await readChunkCheckpoint(path, key)).toBeUndefined();
    writeFileSync(path, JSON.stringify({ ...key, recordsAcked: -1, eventsSent: 0, batchesSent: 0, serverRejected: 0 }));
    expect(await readChunkCheckpoint(path, key)).toBeUndefined();
  });
});
