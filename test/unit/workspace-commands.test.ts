import { Command } from 'commander';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { workspaceJobId } from '../../src/client';
import { registerWorkspaceCommands } from '../../src/cli/workspace-commands';
import { confirmationProblem } from '../../src/cli/workspace/approve-flow';
import { parseDuration, parseLabelArg, parseSettingArg } from '../../src/cli/workspace/args';
import { buildCallFromFlags, parseMessagesFile, prepareMessages } from '../../src/cli/workspace/messages';
import { writeKeyFingerprint } from '../../src/core/workspace-plan/plan-ids';
import { PublicApiDouble } from '../support/public-api-double';
import { SegmentDouble } from '../support/segment-double';

describe('CLI helpers', () => {
  it.each([
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['24h', 86_400_000],
    ['2d', 172_800_000],
    ['5000', 5_000],
    ['1.5h', 5_400_000],
  ])('parseDuration(%s) = %i', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
  it.each(['soon', '10w', '-5m', '500'])('parseDuration(%s) is refused', (text) => {
    expect(() => parseDuration(text)).toThrow(/duration/);
  });

  it.each([
    ['env:prod', { key: 'env', value: 'prod' }],
    ['env=prod', { key: 'env', value: 'prod' }],
    ['url:http://x', { key: 'url', value: 'http://x' }],
  ])('parseLabelArg(%s)', (text, label) => {
    expect(parseLabelArg(text)).toEqual(label);
  });
  it('parseLabelArg refuses a bare word', () => expect(() => parseLabelArg('prod')).toThrow(/key:value/));

  it.each<[string, [string, unknown]]>([
    ['retention=30', ['retention', 30]],
    ['flag=true', ['flag', true]],
    ['obj={"a":1}', ['obj', { a: 1 }]],
    ['region=eu', ['region', 'eu']],
    ['empty=', ['empty', '']],
  ])('parseSettingArg(%s)', (text, expected) => {
    expect(parseSettingArg(text)).toEqual(expected);
  });

  it.each<[string[], string[], string | undefined]>([
    [[], [], undefined],
    [['delete-source:a'], ['delete-source:a'], undefined],
    [['delete-source:a', 'delete-source:b'], ['delete-source:a'], 'these destructive items are not confirmed: delete-source:b'],
    [['delete-source:a'], ['delete-source:a', 'delete-source:z'], 'these ids are not destructive items of this plan: delete-source:z'],
  ])('confirmationProblem(%j, %j)', (highImpact, confirmed, expected) => {
    expect(confirmationProblem(highImpact, confirmed)).toBe(expected);
  });

  it('builds a call from flags over --data, and validates it with the importer rules', () => {
    const raw = buildCallFromFlags('track', {
      data: '{"userId":"old","properties":{"a":1}}',
      userId: 'u1',
      event: 'Signed Up',
      properties: '{"plan":"pro"}',
    });
    expect(raw).toEqual({ type: 'track', userId: 'u1', event: 'Signed Up', properties: { plan: 'pro' } });
    const [message] = prepareMessages([raw]);
    expect(message).toMatchObject({ type: 'track', userId: 'u1', event: 'Signed Up' });
    expect(message!.messageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(() => prepareMessages([buildCallFromFlags('track', { userId: 'u1' })])).toThrow(/event/);
    expect(() => prepareMessages([buildCallFromFlags('alias', { userId: 'u1' })])).toThrow(/previousId/);
    expect(() => buildCallFromFlags('identify', { traits: '[1]' })).toThrow(/--traits must be a JSON object/);
  });

  it('checks the 32 KB per-event limit before sending, naming the message', () => {
    const big = { type: 'track', userId: 'u1', event: 'E', properties: { blob: 'x'.repeat(33_000) } };
    expect(() => prepareMessages([{ type: 'identify', userId: 'a' }, big])).toThrow(
      /message 2: the message is \d+ bytes; Segment refuses events over \d+ bytes \(32 KB\)/,
    );
  });

  it('gives the same input the same messageIds, so a re-run is deduplicated by Segment', () => {
    const raw = () => [
      buildCallFromFlags('track', { userId: 'u1', event: 'Signed Up' }),
      buildCallFromFlags('track', { userId: 'u1', event: 'Signed Up' }),
    ];
    const first = prepareMessages(raw(), new Date('2024-01-01T00:00:00Z'), 'web');
    const again = prepareMessages(raw(), new Date('2024-06-01T00:00:00Z'), 'web');
    expect(again.map((m) => m.messageId)).toEqual(first.map((m) => m.messageId));
    // Two identical messages in one request stay two events; another source gets other ids.
    expect(new Set(first.map((m) => m.messageId)).size).toBe(2);
    expect(prepareMessages(raw(), new Date(), 'app')[0]!.messageId).not.toBe(first[0]!.messageId);
    expect(prepareMessages([{ ...raw()[0], messageId: 'mine-1' }])[0]!.messageId).toBe('mine-1');
  });

  it('reads a batch file as a JSON array or NDJSON, and names the bad message', () => {
    expect(parseMessagesFile('[{"type":"identify","userId":"a"}]')).toHaveLength(1);
    expect(parseMessagesFile('{"type":"identify","userId":"a"}\n\n{"type":"track","userId":"a","event":"E"}\n')).toHaveLength(2);
    expect(() => prepareMessages(parseMessagesFile('{"type":"identify","userId":"a"}\n{"type":"track","userId":"a"}'))).toThrow(/message 2: event/);
    expect(() => parseMessagesFile('{"type":')).toThrow(/line 1 is not JSON/);
  });

  it('derives readable, unique job ids', () => {
    const now = new Date('2024-05-01T10:15:00Z');
    expect(workspaceJobId('Retire Old Web Sources!', now)).toMatch(/^workspace-retire-old-web-sources-20240501-101500-[0-9a-f]{4}$/);
    expect(workspaceJobId('x', now)).not.toBe(workspaceJobId('x', now));
  });
});

describe('CLI commands against the doubles', () => {
  const TOKEN = 'sgp_cli_token_value';
  let api: PublicApiDouble;
  let tracking: SegmentDouble;
  let output: string;
  let errors: string;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    api = await PublicApiDouble.start({
      token: TOKEN,
      sources: [
        { id: 'src_web', name: 'Web', slug: 'web', writeKeys: ['wk_web_1'], labels: [{ key: 'env', value: 'prod' }] },
        { id: 'src_app', name: 'App', slug: 'app', enabled: false },
      ],
      destinations: [{ id: 'dst_1', sourceId: 'src_web', name: 'Webhook', settings: { apiKey: 'third-party-secret' } }],
      warehouses: [{ id: 'wh_1', sourceIds: ['src_web'], name: 'pg', settings: { password: 'db-secret' } }],
      usage: [{ sourceId: 'src_web', apiCalls: 12, timestamp: '2024-05-01T00:00:00.000Z' }],
      deliveryMetrics: [{ destinationId: 'dst_1', sourceId: 'src_web', metrics: [{ metricName: 'successes', total: 7 }] }],
    });
    tracking = await SegmentDouble.start({ writeKeys: ['wk-cli'] });
  });
  afterAll(async () => {
    await api.stop();
    await tracking.stop();
  });
  afterEach(() => {
    vi.restoreAllMocks();
    process.env = { ...savedEnv };
    process.exitCode = undefined;
  });

  async function run(...args: string[]): Promise<number> {
    process.env.SEGMENT_API_URL = api.url;
    process.env.SEGMENT_API_TOKEN = TOKEN;
    process.env.SEGMENT_TRACKING_URL = tracking.url;
    process.env.SEGMENT_WRITE_KEY = 'wk-cli';
    output = '';
    errors = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      output += String(chunk);
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      errors += String(chunk);
      return true;
    });
    const program = new Command('segflow').option('--json').option('--verbose').exitOverride();
    registerWorkspaceCommands(program);
    process.exitCode = undefined;
    await program.parseAsync(['node', 'segflow', ...args]);
    const code = Number(process.exitCode ?? 0);
    vi.restoreAllMocks();
    return code;
  }

  it('source list: a human table, filters, and JSON', async () => {
    expect(await run('source', 'list')).toBe(0);
    expect(output).toMatch(/^ID\s+NAME\s+SLUG\s+ENABLED\s+LABELS\s+KEYS\s+TYPE\n/);
    expect(output).toMatch(/src_web\s+Web\s+web\s+yes\s+env:prod\s+1\s+Javascript/);
    expect(await run('source', 'list', '--label', 'env:prod')).toBe(0);
    expect(output).not.toContain('src_app');
    expect(await run('--json', 'source', 'list', '--name', 'ap*')).toBe(0);
    expect(JSON.parse(output)).toEqual([expect.objectContaining({ id: 'src_app', enabled: false })]);
  });

  it('source get: fingerprints by default, keys only when asked', async () => {
    expect(await run('source', 'get', 'src_web')).toBe(0);
    expect(output).toContain(`#0 ${writeKeyFingerprint('wk_web_1')}`);
    expect(output).not.toContain('wk_web_1');
    expect(await run('source', 'get', 'src_web', '--reveal-write-keys')).toBe(0);
    expect(output).toContain('wk_web_1');
  });

  it('source warehouses / destinations / schema-settings, destination get hide credentials', async () => {
    expect(await run('source', 'warehouses', 'src_web')).toBe(0);
    expect(output).toMatch(/wh_1\s+pg\s+Postgres\s+yes/);
    expect(await run('--json', 'source', 'destinations', 'src_web')).toBe(0);
    expect(JSON.parse(output)).toEqual([
      { id: 'dst_1', name: 'Webhook', enabled: true, sourceId: 'src_web', type: 'Webhooks', metadataId: 'meta-webhooks' },
    ]);
    expect(await run('source', 'schema-settings', 'src_web')).toBe(0);
    expect(output).toMatch(/track\s+allowUnplannedEvents\s+true/);
    expect(await run('destination', 'get', 'dst_1')).toBe(0);
    expect(output).toContain('sourceId: src_web');
    expect(output + errors).not.toMatch(/third-party-secret|db-secret/);
  });

  it('destination metrics and usage api-calls', async () => {
    expect(await run('destination', 'metrics', 'dst_1', '--source', 'src_web', '--granularity', 'HOUR')).toBe(0);
    expect(output).toMatch(/successes\s+7/);
    expect(await run('usage', 'api-calls', '--period', '2024-05-01')).toBe(0);
    expect(output).toMatch(/2024-05-01\s+src_web\s+12/);
    expect(await run('usage', 'api-calls', '--period', '2024-05-02')).toBe(2);
    expect(errors).toContain('first day of a month');
  });

  it('reports Public API errors in one line with exit code 1, and a missing token as a usage error', async () => {
    expect(await run('source', 'get', 'src_nope')).toBe(1);
    expect(errors).toContain('answered 404');
    process.env.SEGMENT_API_TOKEN = '';
    const program = new Command('segflow').option('--json').option('--verbose').exitOverride();
    registerWorkspaceCommands(program);
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    await program.parseAsync(['node', 'segflow', 'source', 'list']);
    expect(String(write.mock.calls[0]?.[0])).toContain('SEGMENT_API_TOKEN is not set');
    expect(process.exitCode).toBe(2);
  });

  it('send track and send batch post validated messages with messageIds', async () => {
    expect(await run('--json', 'send', 'track', '--user-id', 'u1', '--event', 'Signed Up', '--properties', '{"plan":"pro"}')).toBe(0);
    const sent = JSON.parse(output) as { sent: number; messageIds: string[] };
    expect(sent.sent).toBe(1);
    expect(tracking.messages.at(-1)!.message).toMatchObject({ type: 'track', userId: 'u1', event: 'Signed Up', messageId: sent.messageIds[0] });

    expect(await run('send', 'track', '--user-id', 'u1')).toBe(2);
    expect(errors).toContain('event');

    const dir = mkdtempSync(join(tmpdir(), 'segflow-send-'));
    const file = join(dir, 'batch.ndjson');
    writeFileSync(
      file,
      '{"type":"identify","userId":"u2","traits":{"plan":"pro"}}\n{"type":"alias","userId":"u2","previousId":"anon-9","messageId":"fixed-id"}\n',
    );
    const before = tracking.stats().accepted;
    expect(await run('send', 'batch', file)).toBe(0);
    expect(output).toMatch(/^Sent 2 message\(s\) to source "default": [0-9a-f-]{36}, fixed-id\n$/);
    expect(tracking.stats().accepted).toBe(before + 2);
    expect(tracking.messages.slice(-2).map((m) => m.message.type)).toEqual(['identify', 'alias']);
  });
});
