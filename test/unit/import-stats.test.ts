/**
 * The one stats merge (src/shared/import-stats.ts): what a chunk counts per event and what the workflow adds per
 * chunk, including a stopped chunk's partial result and totals carried from runs that predate later fields.
 */
import { describe, expect, it } from 'vitest';
import type { ChunkResult, ImportTotals } from '../../src/contracts/import-job';
import { addChunkToTotals, countEvent } from '../../src/shared/import-stats';

function chunk(overrides: Partial<ChunkResult> = {}): ChunkResult {
  return {
    index: 0,
    rowsRead: 10,
    rowsRejected: 1,
    eventsSent: 9,
    eventsValid: 9,
    batchesSent: 1,
    bytes: 1000,
    typeCounts: { track: 8, identify: 1 },
    minTimestamp: '2020-01-02T00:00:00.000Z',
    maxTimestamp: '2020-01-05T00:00:00.000Z',
    serverFieldRows: 2,
    serverFields: ['receivedAt'],
    sentByDay: { '2031-01-01': 9 },
    attempt: 1,
    ...overrides,
  };
}

function totals(): ImportTotals {
  return { rowsRead: 0, rowsRejected: 0, eventsSent: 0, eventsValid: 0, batchesSent: 0, bytesDone: 0, chunksDone: 0, typeCounts: {} };
}

describe('countEvent', () => {
  it('counts types, widens the time range and lists server-set fields once, in first-seen order', () => {
    const result = chunk({ typeCounts: {}, minTimestamp: undefined, maxTimestamp: undefined, serverFieldRows: 0, serverFields: [] });
    countEvent(result, { type: 'track', timestamp: '2020-03-01T00:00:00.000Z' }, undefined);
    countEvent(result, { type: 'track', timestamp: '2020-01-01T00:00:00.000Z' }, ['sentAt']);
    countEvent(result, { type: 'page' }, ['receivedAt', 'sentAt']);
    expect(result).toMatchObject({
      typeCounts: { track: 2, page: 1 },
      minTimestamp: '2020-01-01T00:00:00.000Z',
      maxTimestamp: '2020-03-01T00:00:00.000Z',
      serverFieldRows: 2,
      serverFields: ['sentAt', 'receivedAt'],
    });
  });
});

describe('addChunkToTotals', () => {
  it('adds finished chunks: every count, the time range, the days and the server-set fields', () => {
    const sum = totals();
    addChunkToTotals(sum, chunk());
    addChunkToTotals(
      sum,
      chunk({
        index: 1,
        minTimestamp: '2019-12-31T00:00:00.000Z',
        serverFields: ['sentAt', 'receivedAt'],
        sentByDay: { '2031-01-01': 4, '2031-01-02': 5 },
      }),
    );
    expect(sum).toEqual({
      rowsRead: 20,
      rowsRejected: 2,
      eventsSent: 18,
      eventsValid: 18,
      batchesSent: 2,
      bytesDone: 2000,
      chunksDone: 2,
      typeCounts: { track: 16, identify: 2 },
      minTimestamp: '2019-12-31T00:00:00.000Z',
      maxTimestamp: '2020-01-05T00:00:00.000Z',
      serverFieldRows: 4,
      serverFields: ['receivedAt', 'sentAt'],
      sentByDay: { '2031-01-01': 13, '2031-01-02': 5 },
    });
  });

  it('adds only what a stopped chunk got through: not its bytes, types or range, and the chunk is not done', () => {
    const sum = totals();
    addChunkToTotals(sum, chunk({ stopped: true, rowsRead: 4, rowsRejected: 1, eventsSent: 3, batchesSent: 1, sentByDay: { '2031-01-01': 3 } }));
    expect(sum).toEqual({ ...totals(), rowsRead: 4, rowsRejected: 1, eventsSent: 3, batchesSent: 1, sentByDay: { '2031-01-01': 3 } });
  });

  it('leaves totals from older runs without the later fields until a chunk has something to add to them', () => {
    const sum = totals();
    addChunkToTotals(sum, chunk({ serverFieldRows: 0, serverFields: [], sentByDay: {} }));
    expect(sum).not.toHaveProperty('sentByDay');
    expect(sum).not.toHaveProperty('serverFields');
    expect(sum).not.toHaveProperty('serverFieldRows');
  });
});
