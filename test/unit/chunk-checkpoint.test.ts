import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChunkCheckpointWriter, ChunkSupersededError, readChunkCheckpoint } from '../../src/io/chunk-checkpoint';

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
    expect(await readChunkCheckpoint(path, key)).toEqual({
      recordsAcked: 600,
      eventsSent: 599,
      batchesSent: 3,
      serverRejected: 1,
      sentByDay: { '2020-01-01': 599 },
    });
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

  it('stops an attempt that a later one has taken over (a heartbeat timeout while the old attempt still runs)', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'segflow-cp-')), 'z.checkpoint.json');
    const zero = { recordsAcked: 0, eventsSent: 0, batchesSent: 0, serverRejected: 0 };
    const old = await ChunkCheckpointWriter.open(path, key, zero, 1);
    await old.save({ recordsAcked: 400, eventsSent: 400, batchesSent: 2, serverRejected: 0 });
    await old.assertCurrent();

    const resumed = (await readChunkCheckpoint(path, key))!;
    const replacement = await ChunkCheckpointWriter.open(path, key, resumed, 2);
    // The old attempt may not send its next batch, nor overwrite the replacement's record with its own progress.
    await expect(old.assertCurrent()).rejects.toBeInstanceOf(ChunkSupersededError);
    await expect(old.save({ recordsAcked: 600, eventsSent: 600, batchesSent: 3, serverRejected: 0 })).rejects.toThrow(/attempt 2 has taken it over/);
    await replacement.assertCurrent();
    await replacement.save({ recordsAcked: 600, eventsSent: 600, batchesSent: 3, serverRejected: 0 });
    expect(await readChunkCheckpoint(path, key)).toEqual({ recordsAcked: 600, eventsSent: 600, batchesSent: 3, serverRejected: 0 });
    // Another run's attempts are not this one's business.
    const otherRun = await ChunkCheckpointWriter.open(path, { ...key, runId: 'run-9' }, zero, 1);
    await otherRun.assertCurrent();
    await Promise.all([old.close(), replacement.close(), otherRun.close()]);
  });

  it('ignores a torn or tampered file', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'segflow-cp-')), 'x.checkpoint.json');
    writeFileSync(path, '{"runId":"run-1","activityId":"7","startByte":0,"endByte":1000,"recordsAcked":5');
    expect(await readChunkCheckpoint(path, key)).toBeUndefined();
    writeFileSync(path, JSON.stringify({ ...key, recordsAcked: -1, eventsSent: 0, batchesSent: 0, serverRejected: 0 }));
    expect(await readChunkCheckpoint(path, key)).toBeUndefined();
  });
});
