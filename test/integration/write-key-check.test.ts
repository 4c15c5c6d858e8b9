/**
 * A wrong write key must not look like success (issue 14). The doubles run "like Segment": the Tracking API answers
 * 200 to an unknown key and drops the events; the Public API pages its source list two at a time and hides write keys
 * from a token without the Source Admin permission.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatStatus } from '../../src/cli/import-commands';
import { PublicApiDouble } from '../support/public-api-double';
import { startImportHarness, WRITE_KEY, type ImportHarness } from '../support/import-harness';
import { ndjsonEvents } from '../support/wait';

const TOKEN = 'sat-test-token';
const SOURCES = [
  { id: 'src_a', name: 'A', enabled: true, writeKeys: ['wk_a'] },
  { id: 'src_b', name: 'B', enabled: true, writeKeys: ['wk_b'] },
  { id: 'src_off', name: 'Retired', enabled: false, writeKeys: ['wk_retired'] },
  // Third page of two: found only by a client that follows pagination.next.
  { id: 'src_web', name: 'Web', enabled: true, writeKeys: [WRITE_KEY] },
];

const harnesses: ImportHarness[] = [];
const apis: PublicApiDouble[] = [];
let adminApi: PublicApiDouble;
let readOnlyApi: PublicApiDouble;

beforeAll(async () => {
  adminApi = await PublicApiDouble.start({ token: TOKEN, sources: SOURCES, likeSegment: { sourceAdmin: true } });
  readOnlyApi = await PublicApiDouble.start({ token: TOKEN, sources: SOURCES, likeSegment: { sourceAdmin: false } });
  apis.push(adminApi, readOnlyApi);
});

afterAll(async () => {
  for (const h of harnesses) await h.stop();
  for (const api of apis) await api.stop();
});

async function harness(env: NodeJS.ProcessEnv): Promise<ImportHarness> {
  const h = await startImportHarness({ double: { likeSegment: true }, extraEnv: env });
  harnesses.push(h);
  return h;
}

describe('with SEGMENT_API_TOKEN', () => {
  it('refuses before sending when the key belongs to no source, though Segment would answer 200', async () => {
    const h = await harness({ SEGMENT_WRITE_KEY: 'wk-typo', SEGMENT_API_TOKEN: TOKEN, SEGMENT_API_URL: adminApi.url });
    const status = await h.runImport({ file: h.writeInput('typo.ndjson', ndjsonEvents(20, 'typo')) });
    expect(status.state).toBe('failed');
    expect(String(status.error)).toMatch(/belongs to no source of the workspace \(4 sources checked\)/);
    expect(String(status.error)).not.toContain('wk-typo');
    expect(h.double.stats().requests).toBe(0);
  });

  it('refuses a key of a disabled source, naming the source', async () => {
    const h = await harness({ SEGMENT_WRITE_KEY: 'wk_retired', SEGMENT_API_TOKEN: TOKEN, SEGMENT_API_URL: adminApi.url });
    const status = await h.runImport({ file: h.writeInput('retired.ndjson', ndjsonEvents(20, 'retired')) });
    expect(status.state).toBe('failed');
    expect(String(status.error)).toMatch(/source "Retired" \(src_off\), which is disabled/);
    expect(h.double.stats().requests).toBe(0);
  });

  it('confirms a key of an enabled source found on a later page, and sends', async () => {
    const h = await harness({ SEGMENT_API_TOKEN: TOKEN, SEGMENT_API_URL: adminApi.url });
    const status = await h.runImport({ file: h.writeInput('right.ndjson', ndjsonEvents(20, 'right')) });
    expect(status.state).toBe('completed');
    expect(status.delivery).toEqual({ confirmed: true, sourceId: 'src_web', sourceName: 'Web' });
    expect(h.double.uniqueMessageIds().size).toBe(20);
  });

  it('says delivery is unconfirmed when the token cannot read write keys', async () => {
    const h = await harness({ SEGMENT_WRITE_KEY: 'wk-typo', SEGMENT_API_TOKEN: TOKEN, SEGMENT_API_URL: readOnlyApi.url });
    const status = await h.runImport({ file: h.writeInput('hidden.ndjson', ndjsonEvents(20, 'hidden')) });
    expect(status.state).toBe('completed');
    expect(status.delivery).toMatchObject({ confirmed: false, reason: expect.stringMatching(/Source Admin/) });
  });
});

describe('without a token', () => {
  it('completes against a "like Segment" API that dropped everything, and says delivery could not be confirmed', async () => {
    const h = await harness({ SEGMENT_WRITE_KEY: 'wk-unknown' });
    const status = await h.runImport({ file: h.writeInput('blind.ndjson', ndjsonEvents(20, 'blind')) });
    // Segment's 200 looks like success: every event was dropped.
    expect(status.state).toBe('completed');
    expect(h.double.stats().droppedUnknownKey).toBe(20);
    expect(status.delivery).toMatchObject({ confirmed: false, reason: expect.stringMatching(/no SEGMENT_API_TOKEN/) });
    expect(formatStatus(status, 'link')).toMatch(/delivery not confirmed: .*segflow verify/);
  });
});
