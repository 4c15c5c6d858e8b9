/**
 * A Segment export (storage export / Debugger copy shape) imports as it is: server-set fields dropped and counted,
 * the export's messageIds kept, originalTimestamp standing in for a missing timestamp, the writeKey never sent.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { formatStatus } from '../../src/cli/import-commands';
import { startImportHarness, type ImportHarness } from '../support/import-harness';

let h: ImportHarness;

beforeAll(async () => {
  h = await startImportHarness();
});

afterAll(async () => {
  await h?.stop();
});

const EXPORTED_KEY = 'exportedWriteKey0123456789';

function exportedRow(i: number, withTimestamp: boolean): Record<string, unknown> {
  const at = new Date(Date.UTC(2023, 4, 1) + i * 60_000);
  return {
    _metadata: { bundled: ['Segment.io'], unbundled: [] },
    anonymousId: `anon-${i}`,
    channel: 'client',
    context: { library: { name: 'analytics.js', version: 'next-1.53.0' }, page: { path: '/pricing' } },
    event: 'Viewed Pricing',
    messageId: `ajs-next-export-${i}`,
    originalTimestamp: new Date(at.getTime() - 1500).toISOString(),
    projectId: 'Xyz123',
    properties: { plan: 'team' },
    receivedAt: new Date(at.getTime() + 800).toISOString(),
    sentAt: new Date(at.getTime() + 200).toISOString(),
    ...(withTimestamp ? { timestamp: at.toISOString() } : {}),
    type: 'track',
    userId: null,
    version: 2,
    writeKey: EXPORTED_KEY,
  };
}

it('imports an export-shaped file: server-set fields dropped and counted, messageIds kept, writeKey never sent', async () => {
  h.double.reset();
  const rows = [
    ...Array.from({ length: 6 }, (_, i) => exportedRow(i, true)),
    ...Array.from({ length: 4 }, (_, i) => exportedRow(i + 6, false)),
    // A plain row and a row with a really unknown field, which is still refused by name.
    { type: 'identify', userId: 'u-plain', traits: { plan: 'free' }, timestamp: '2023-05-02T00:00:00.000Z' },
    { ...exportedRow(10, true), user_email: 'x@example.com' },
  ];
  const file = h.writeInput('segment-export.ndjson', rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const status = await h.runImport({ file });

  expect(status.state).toBe('completed');
  expect(status.rows).toMatchObject({ read: 12, rejected: 1, valid: 11 });
  expect(status.serverSetFields).toEqual({
    rows: 10,
    fields: expect.arrayContaining([
      'receivedAt',
      'sentAt',
      'originalTimestamp',
      'version',
      'channel',
      'projectId',
      'writeKey',
      '_metadata',
      'context.library',
    ]),
  });
  expect(formatStatus(status, 'link')).toMatch(/10 rows carried server-set fields \(.*receivedAt.*\): dropped, not sent/);

  const received = h.double.messages.map((m) => m.message);
  expect(received).toHaveLength(11);
  const byId = new Map(received.map((m) => [String(m.messageId), m]));
  // The export's own messageIds are kept, so a replay within Segment's dedupe window is dropped by Segment.
  for (let i = 0; i < 10; i++) expect(byId.has(`ajs-next-export-${i}`)).toBe(true);
  // timestamp stays the event time; without one, originalTimestamp is used.
  expect(byId.get('ajs-next-export-2')!.timestamp).toBe(exportedRow(2, true).timestamp);
  expect(byId.get('ajs-next-export-7')!.timestamp).toBe(exportedRow(7, false).originalTimestamp);
  for (const message of received) {
    for (const field of ['receivedAt', 'originalTimestamp', 'version', 'channel', 'projectId', 'writeKey', '_metadata']) {
      expect(message).not.toHaveProperty(field);
    }
    expect((message.context as Record<string, unknown> | undefined)?.library).toBeUndefined();
  }
  expect(JSON.stringify(h.double.messages)).not.toContain(EXPORTED_KEY);

  // The unknown field is refused by name, and the report does not hold the row's write key.
  const report = readFileSync(String(status.rejectReport), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(report).toEqual([expect.objectContaining({ line: 12, field: 'user_email', reason: expect.stringMatching(/unknown field "user_email"/) })]);
  expect(readFileSync(String(status.rejectReport), 'utf8')).not.toContain(EXPORTED_KEY);
}, 120_000);
