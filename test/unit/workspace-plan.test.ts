import { describe, expect, it } from 'vitest';
import { globMatches } from '../../src/core/glob';
import { parseJobSpecText, validateJobSpec, type JobSpec } from '../../src/core/job-spec';
import { buildWorkspacePlan } from '../../src/core/workspace-plan/planner';
import { jobMessageId, planHash, writeKeyFingerprint } from '../../src/core/workspace-plan/plan-ids';
import type { PlanItem } from '../../src/contracts/workspace-job';
import { pendingUpdate, recheckItem, type LiveSource } from '../../src/core/workspace-plan/recheck';
import {
  MAX_FULL_MARKDOWN_CHARS,
  MAX_SUMMARY_CHARS,
  renderApprovalMarkdown,
  renderPlanMarkdown,
  renderPlanSummaryMarkdown,
  renderPlanText,
  sendDigest,
  summarizePlan,
} from '../../src/core/workspace-plan/render';
import { previewNeeds, resolveTargets, targetedSourceIds } from '../../src/core/workspace-plan/targets';
import type { SourceState, WorkspaceState } from '../../src/core/workspace-plan/workspace-state';
import { markdownText, plainText } from '../../src/shared/safe-text';

function source(id: string, overrides: Partial<SourceState> = {}): SourceState {
  return {
    id,
    name: `Source ${id}`,
    slug: id.replace(/_/g, '-'),
    enabled: true,
    labels: [],
    writeKeyFingerprints: ['aaaaaaaaaaaa', 'bbbbbbbbbbbb'],
    settings: {},
    destinations: [],
    warehouses: [],
    apiCalls: { period: '2024-05-01', total: '1200', lastDay: '40' },
    ...overrides,
  };
}

function state(sources: SourceState[], extra: Partial<WorkspaceState> = {}): WorkspaceState {
  return { sources, missingSourceIds: [], labels: [{ key: 'env', value: 'prod' }], ...extra };
}

function spec(steps: unknown[], top: Record<string, unknown> = {}): JobSpec {
  const result = validateJobSpec({ ...top, steps });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.spec;
}

const plan = (steps: unknown[], st: WorkspaceState, top: Record<string, unknown> = {}) => buildWorkspacePlan(spec(steps, top), 'job-1', st, 'run-1');
const briefItems = (items: PlanItem[]) =>
  items.map((item) => ({ id: item.id, impact: item.impact, unchanged: item.unchanged, changes: item.changes }));

describe('helpers', () => {
  it.each([
    ['web-*', 'web-legacy', true],
    ['web-*', 'Web-Legacy', true],
    ['web-*', 'api-web', false],
    ['web-?', 'web-1', true],
    ['web-?', 'web-12', false],
    ['a.b', 'axb', false],
    ['*', '', true],
    ['web*legacy*', 'web-old-legacy-2', true],
    ['*-legacy', 'web-legacy-legacy', true],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'acb', false],
    ['?*?', 'a', false],
    ['**********x', 'aaaaaaaaaaaaaaaaaaaaaaaa', false],
  ])('globMatches(%s, %s) = %s', (pattern, text, expected) => {
    expect(globMatches(pattern, text)).toBe(expected);
  });

  const pool = [
    source('src_a', { name: 'web-legacy', labels: [{ key: 'env', value: 'prod' }] }),
    source('src_b', { name: 'web-new', slug: 'web-new', labels: [{ key: 'env', value: 'dev' }] }),
    source('src_c', {
      name: null,
      slug: 'web-legacy-2',
      labels: [
        { key: 'env', value: 'prod' },
        { key: 'team', value: 'x' },
      ],
    }),
  ];
  it.each([
    ['ids keep file order, deduplicated', { sourceIds: ['src_c', 'src_a', 'src_c'] }, ['src_c', 'src_a']],
    ['label selector', { labels: [{ key: 'env', value: 'prod' }] }, ['src_a', 'src_c']],
    [
      'two labels must all match',
      {
        labels: [
          { key: 'env', value: 'prod' },
          { key: 'team', value: 'x' },
        ],
      },
      ['src_c'],
    ],
    ['name glob matches name or slug', { name: 'web-legacy*' }, ['src_a', 'src_c']],
    ['labels AND name', { labels: [{ key: 'env', value: 'prod' }], name: 'web-legacy' }, ['src_a']],
    ['no match', { name: 'nothing-*' }, []],
  ])('resolveTargets: %s', (_name, targets, expected) => {
    expect(resolveTargets(targets, pool)).toEqual(expected);
  });

  it('previewNeeds says what to fetch', () => {
    expect(
      previewNeeds(
        spec([
          { op: 'get-source', targets: ['a'] },
          { op: 'delete-source', targets: ['b'] },
        ]),
      ),
    ).toEqual({
      listAllSources: false,
      explicitSourceIds: ['a', 'b'],
      labels: false,
    });
    expect(previewNeeds(spec([{ op: 'add-labels', targets: { name: 'x*' }, labels: ['a:b'] }]))).toEqual({
      listAllSources: true,
      explicitSourceIds: [],
      labels: true,
    });
    expect(
      targetedSourceIds(
        spec([
          { op: 'get-source', targets: { name: 'web-new' } },
          { op: 'get-source', targets: ['src_a', 'gone'] },
        ]),
        pool,
      ),
    ).toEqual(['src_b', 'src_a']);
  });

  it('fingerprints and message ids are stable and do not reveal the input', () => {
    expect(writeKeyFingerprint('secret-key')).toMatch(/^[0-9a-f]{12}$/);
    expect(writeKeyFingerprint('secret-key')).toBe(writeKeyFingerprint('secret-key'));
    expect(writeKeyFingerprint('secret-key')).not.toBe(writeKeyFingerprint('secret-kez'));
    expect(jobMessageId('job-1', 1, 0)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(jobMessageId('job-1', 1, 0)).toBe(jobMessageId('job-1', 1, 0));
    expect(new Set([jobMessageId('job-1', 1, 0), jobMessageId('job-1', 1, 1), jobMessageId('job-1', 2, 0), jobMessageId('job-2', 1, 0)]).size).toBe(
      4,
    );
  });
});

describe('buildWorkspacePlan: what changes, from what to what', () => {
  it('add-labels: adds only what is missing; a source that has them is unchanged', () => {
    const p = plan(
      [{ op: 'add-labels', targets: ['src_a', 'src_b'], labels: ['env:prod'] }],
      state([source('src_a'), source('src_b', { labels: [{ key: 'env', value: 'prod' }] })]),
    );
    expect(briefItems(p.items)).toEqual([
      { id: 'add-labels:src_a', impact: 'write', unchanged: false, changes: [{ field: 'labels', from: [], to: ['env:prod'] }] },
      { id: 'add-labels:src_b', impact: 'write', unchanged: true, changes: [] },
    ]);
    expect(p.summary).toMatchObject({ writes: 1, unchanged: 1, destructive: 0, targets: 2 });
    expect(p.requiresApproval).toBe(true);
  });

  it('add-labels: a label missing in the workspace is refused unless createMissingLabels, then created once', () => {
    const refused = plan([{ op: 'add-labels', targets: ['src_a'], labels: ['team:growth'] }], state([source('src_a')]));
    expect(refused.refusals).toEqual([expect.objectContaining({ step: 1, rule: 'missing-label', message: expect.stringContaining('team:growth') })]);

    const created = plan(
      [
        { op: 'add-labels', targets: ['src_a'], labels: ['team:growth'], createMissingLabels: true },
        { op: 'add-labels', targets: ['src_b'], labels: ['team:growth'], createMissingLabels: true },
      ],
      state([source('src_a'), source('src_b')]),
    );
    expect(created.refusals).toEqual([]);
    expect(created.items.map((item) => item.id)).toEqual(['create-label:team:growth', 'add-labels:src_a', 'add-labels:src_b']);
  });

  it('update-source: only fields that differ, settings merged key by key', () => {
    const p = plan(
      [{ op: 'update-source', targets: ['src_a'], set: { name: 'Source src_a', enabled: false, settings: { retention: 30, region: 'eu' } } }],
      state([source('src_a', { settings: { retention: 30, token: 'x' } })]),
    );
    const [item] = p.items;
    expect(item).toMatchObject({
      op: 'update-source',
      set: { enabled: false, settings: { region: 'eu' } },
      changes: [
        { field: 'enabled', from: true, to: false },
        { field: 'settings.region', from: null, to: 'eu' },
      ],
    });
  });

  it('update-source to the current values is unchanged and needs no approval', () => {
    const p = plan([{ op: 'update-source', targets: ['src_a'], set: { enabled: true } }], state([source('src_a')]));
    expect(p.items[0]).toMatchObject({ unchanged: true });
    expect(p.requiresApproval).toBe(false);
    expect(summarizePlan(p)).toBe('nothing to do on 1 source; 1 unchanged');
  });

  it('create-write-key then remove the old key: rotation in one job', () => {
    const p = plan(
      [
        { op: 'create-write-key', targets: ['src_a'] },
        { op: 'remove-write-key', targets: ['src_a'], writeKey: { index: 0 } },
      ],
      state([source('src_a', { writeKeyFingerprints: ['aaaaaaaaaaaa'] })]),
    );
    expect(p.refusals).toEqual([]);
    expect(briefItems(p.items)).toEqual([
      { id: 'create-write-key:src_a', impact: 'write', unchanged: false, changes: [{ field: 'writeKeys.count', from: 1, to: 2 }] },
      {
        id: 'remove-write-key:src_a:aaaaaaaaaaaa',
        impact: 'destructive',
        unchanged: false,
        changes: [
          { field: 'writeKey', from: 'aaaaaaaaaaaa', to: null },
          { field: 'writeKeys.count', from: 2, to: 1 },
        ],
      },
    ]);
    expect(p.highImpact).toEqual(['remove-write-key:src_a:aaaaaaaaaaaa']);
  });

  it('disable then delete in one job: the delete sees the disabled source', () => {
    const p = plan(
      [
        { op: 'update-source', targets: ['src_a'], set: { enabled: false } },
        { op: 'delete-source', targets: ['src_a'] },
      ],
      state([source('src_a')]),
    );
    expect(p.refusals).toEqual([]);
    expect(p.items.map((item) => [item.id, item.impact])).toEqual([
      ['update-source:src_a', 'write'],
      ['delete-source:src_a', 'destructive'],
    ]);
    expect(p.items[1]!.changes).toEqual([{ field: 'source', from: 'Source src_a (disabled, 0 destination(s), 0 warehouse(s))', to: null }]);
  });

  it('reads only: no approval needed', () => {
    const p = plan(
      [
        { op: 'list-sources' },
        { op: 'get-source', targets: ['src_a'] },
        { op: 'get-destination', destinationId: 'dst_1' },
        { op: 'delivery-metrics', destinationId: 'dst_1', sourceId: 'src_a' },
        { op: 'api-calls-usage', period: '2024-05-01' },
      ],
      state([source('src_a')]),
    );
    expect(p.items.every((item) => item.impact === 'read')).toBe(true);
    expect(p.requiresApproval).toBe(false);
    expect(p.highImpact).toEqual([]);
  });

  it('send: assigns deterministic messageIds and keeps given ones', () => {
    const p = plan(
      [
        {
          op: 'send',
          source: 'web',
          messages: [
            { type: 'track', userId: 'u', event: 'E' },
            { type: 'identify', userId: 'u', messageId: 'mine' },
          ],
        },
      ],
      state([]),
    );
    const [item] = p.items;
    if (item?.op !== 'send') throw new Error('expected a send item');
    expect(item.messages.map((m) => m.messageId)).toEqual([jobMessageId('job-1', 1, 0), 'mine']);
    expect(item).toMatchObject({
      impact: 'write',
      target: { kind: 'tracking', id: 'web' },
      changes: [{ field: 'events', from: null, to: '1 track, 1 identify' }],
    });
  });

  it('the same op on the same target twice gets distinct ids', () => {
    const p = plan(
      [
        { op: 'get-source', targets: ['src_a'] },
        { op: 'get-source', targets: ['src_a'] },
      ],
      state([source('src_a')]),
    );
    expect(p.items.map((item) => item.id)).toEqual(['get-source:src_a', 'get-source:src_a#step2']);
  });

  it('a selector that matches nothing is a warning, not an error', () => {
    const p = plan([{ op: 'update-source', targets: { name: 'zzz-*' }, set: { enabled: false } }], state([source('src_a')]));
    expect(p.items).toEqual([]);
    expect(p.warnings).toEqual(['step 1 ("update-source #1"): the selector matched no source']);
  });
});

describe('buildWorkspacePlan: guard rails', () => {
  const connected = source('src_c', {
    enabled: false,
    destinations: [{ id: 'dst_1', name: 'Webhook', enabled: true }],
    warehouses: [{ id: 'wh_1', name: null, enabled: true }],
  });
  const cases: Array<[string, unknown[], SourceState[], string[] | 'ok']> = [
    ['unknown source', [{ op: 'get-source', targets: ['src_x'] }], [], ['unknown-source']],
    [
      'source deleted by an earlier step',
      [
        { op: 'delete-source', targets: ['src_d'], force: true },
        { op: 'get-source', targets: ['src_d'] },
      ],
      [source('src_d')],
      ['unknown-source'],
    ],
    [
      'last write key of an enabled source',
      [{ op: 'remove-write-key', targets: ['src_a'], writeKey: { index: 0 } }],
      [source('src_a', { writeKeyFingerprints: ['aaaaaaaaaaaa'] })],
      ['last-write-key'],
    ],
    [
      'last write key with force',
      [{ op: 'remove-write-key', targets: ['src_a'], writeKey: { index: 0 }, force: true }],
      [source('src_a', { writeKeyFingerprints: ['aaaaaaaaaaaa'] })],
      'ok',
    ],
    // A later step (or a person) can enable it again: it would have no key.
    [
      'last write key of a disabled source',
      [{ op: 'remove-write-key', targets: ['src_a'], writeKey: { index: 0 } }],
      [source('src_a', { enabled: false, writeKeyFingerprints: ['aaaaaaaaaaaa'] })],
      ['last-write-key'],
    ],
    [
      'last write key of a disabled source, forced',
      [{ op: 'remove-write-key', targets: ['src_a'], writeKey: { index: 0 }, force: true }],
      [source('src_a', { enabled: false, writeKeyFingerprints: ['aaaaaaaaaaaa'] })],
      'ok',
    ],
    ['fingerprint prefix matches', [{ op: 'remove-write-key', targets: ['src_a'], writeKey: { fingerprint: 'bbbbbbbb' } }], [source('src_a')], 'ok'],
    [
      'unknown fingerprint',
      [{ op: 'remove-write-key', targets: ['src_a'], writeKey: { fingerprint: 'cccccccc' } }],
      [source('src_a')],
      ['unknown-write-key'],
    ],
    ['index out of range', [{ op: 'remove-write-key', targets: ['src_a'], writeKey: { index: 5 } }], [source('src_a')], ['unknown-write-key']],
    [
      'token sees no keys',
      [{ op: 'remove-write-key', targets: ['src_a'], writeKey: { index: 0 } }],
      [source('src_a', { writeKeyFingerprints: [] })],
      ['unknown-write-key'],
    ],
    [
      'key created by the same job',
      [
        { op: 'create-write-key', targets: ['src_a'] },
        { op: 'remove-write-key', targets: ['src_a'], writeKey: { index: 2 } },
      ],
      [source('src_a')],
      ['new-write-key'],
    ],
    ['delete an enabled source', [{ op: 'delete-source', targets: ['src_a'] }], [source('src_a')], ['delete-enabled']],
    ['delete a connected source', [{ op: 'delete-source', targets: ['src_c'] }], [connected], ['delete-connected']],
    [
      'delete enabled and connected',
      [{ op: 'delete-source', targets: ['src_c'] }],
      [{ ...connected, enabled: true }],
      ['delete-enabled', 'delete-connected'],
    ],
    ['delete with force', [{ op: 'delete-source', targets: ['src_c'], force: true }], [{ ...connected, enabled: true }], 'ok'],
    [
      'destructive step by selector',
      [{ op: 'delete-source', targets: { name: 'src*' } }],
      [source('src_a', { enabled: false })],
      ['destructive-selector'],
    ],
    [
      'destructive step by selector with force',
      [{ op: 'delete-source', targets: { name: 'Source*' }, force: true }],
      [source('src_a', { enabled: false })],
      'ok',
    ],
  ];
  it.each(cases)('%s', (_name, steps, sources, expected) => {
    const p = plan(steps, state(sources));
    if (expected === 'ok') {
      expect(p.refusals).toEqual([]);
      expect(p.highImpact.length).toBeGreaterThan(0);
    } else {
      expect(p.refusals.map((refusal) => refusal.rule)).toEqual(expected);
    }
  });

  it('refusals name the step and the source', () => {
    const p = plan([{ op: 'delete-source', name: 'drop it', targets: ['src_a'] }], state([source('src_a')]));
    expect(p.refusals).toEqual([
      { step: 1, stepName: 'drop it', target: 'src_a', rule: 'delete-enabled', message: expect.stringContaining('src_a is enabled') },
    ]);
  });
});

describe('planHash', () => {
  const st = state([source('src_a'), source('src_b')]);
  const steps = [{ op: 'update-source', targets: ['src_a', 'src_b'], set: { enabled: false } }];

  it('is the same for the same plan, whatever the key order', () => {
    const a = plan(steps, st);
    const reverseKeys = (value: unknown): unknown =>
      Array.isArray(value)
        ? value.map(reverseKeys)
        : value !== null && typeof value === 'object'
          ? Object.fromEntries(
              Object.entries(value)
                .reverse()
                .map(([k, v]) => [k, reverseKeys(v)]),
            )
          : value;
    const reordered = reverseKeys(a) as typeof a;
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(a));
    expect(planHash(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(planHash(plan(steps, st))).toBe(planHash(a));
    expect(planHash(reordered)).toBe(planHash(a));
  });

  it.each([
    ['another job id', () => buildWorkspacePlan(spec(steps), 'job-2', st, 'run-1')],
    ['another target state', () => plan(steps, state([source('src_a', { name: 'renamed' }), source('src_b')]))],
    ['another API-call volume', () => plan(steps, state([source('src_a', { apiCalls: null }), source('src_b')]))],
    ['another step', () => plan([{ ...steps[0], set: { enabled: false, name: 'x' } }], st)],
  ])('changes with %s', (_name, other) => {
    expect(planHash(other())).not.toBe(planHash(plan(steps, st)));
  });
});

describe('recheckItem: idempotency and drift right before a write', () => {
  const base = plan(
    [
      { op: 'add-labels', targets: ['src_a'], labels: ['env:prod'] },
      { op: 'update-source', targets: ['src_a'], set: { name: 'New', enabled: false } },
      { op: 'create-write-key', targets: ['src_a'] },
    ],
    state([source('src_a', { name: 'Old' })]),
  );
  const [addLabels, update, createKey] = base.items as [PlanItem, PlanItem, PlanItem];
  const removeKey = plan([{ op: 'remove-write-key', targets: ['src_a'], writeKey: { fingerprint: 'aaaaaaaaaaaa' } }], state([source('src_a')]))
    .items[0]!;
  const removeLastForced = plan(
    [{ op: 'remove-write-key', targets: ['src_a'], writeKey: { index: 0 }, force: true }],
    state([source('src_a', { writeKeyFingerprints: ['aaaaaaaaaaaa'] })]),
  ).items[0]!;
  const deletePlan = plan([{ op: 'delete-source', targets: ['src_d'] }], state([source('src_d', { enabled: false })]));
  const deleteForced = plan([{ op: 'delete-source', targets: ['src_d'], force: true }], state([source('src_d', { enabled: false })]));
  const deleteForcedLive = plan(
    [{ op: 'delete-source', targets: ['src_e'], force: true }],
    state([source('src_e', { destinations: [{ id: 'd', name: null, enabled: true }] })]),
  );
  const live = (overrides: Partial<LiveSource> = {}): LiveSource => ({ ...source('src_a', { name: 'Old' }), ...overrides });

  const cases: Array<[string, PlanItem, LiveSource | null, string]> = [
    ['add-labels, label missing', addLabels, live(), 'apply'],
    ['add-labels, label present', addLabels, live({ labels: [{ key: 'env', value: 'prod' }] }), 'already-applied'],
    ['add-labels, source gone', addLabels, null, 'drift'],
    ['update, still as previewed', update, live(), 'apply'],
    ['update, already applied', update, live({ name: 'New', enabled: false }), 'already-applied'],
    ['update, half applied', update, live({ name: 'New' }), 'apply'],
    ['update, changed by someone else', update, live({ name: 'Other' }), 'drift'],
    ['create key, count as previewed', createKey, live(), 'apply'],
    [
      'create key, one more key exists',
      createKey,
      live({ writeKeyFingerprints: ['aaaaaaaaaaaa', 'bbbbbbbbbbbb', 'cccccccccccc'] }),
      'already-applied',
    ],
    ['create key, keys removed meanwhile', createKey, live({ writeKeyFingerprints: ['aaaaaaaaaaaa'] }), 'drift'],
    ['remove key, key present', removeKey, live(), 'apply'],
    ['remove key, key gone', removeKey, live({ writeKeyFingerprints: ['bbbbbbbbbbbb'] }), 'already-applied'],
    ['remove key, gone and another key too', removeKey, live({ writeKeyFingerprints: [] }), 'drift'],
    // Approved as "2 keys → 1": another key removed meanwhile is drift, not a fresh decision.
    ['remove key, another key removed meanwhile', removeKey, live({ writeKeyFingerprints: ['aaaaaaaaaaaa'] }), 'drift'],
    ['remove key, a key added meanwhile', removeKey, live({ writeKeyFingerprints: ['aaaaaaaaaaaa', 'bbbbbbbbbbbb', 'cccccccccccc'] }), 'drift'],
    ['remove last key with force, as approved', removeLastForced, live({ writeKeyFingerprints: ['aaaaaaaaaaaa'] }), 'apply'],
    ['delete, source present', deletePlan.items[0]!, { ...source('src_d', { enabled: false }) }, 'apply'],
    ['delete, source gone', deletePlan.items[0]!, null, 'already-applied'],
    ['delete, enabled again', deletePlan.items[0]!, { ...source('src_d') }, 'drift'],
    [
      'delete, connected meanwhile',
      deletePlan.items[0]!,
      { ...source('src_d', { enabled: false, destinations: [{ id: 'd', name: null, enabled: true }] }) },
      'drift',
    ],
    // force lifts the preview's guard rails only: the approved "(disabled, 0 destinations)" must still hold.
    ['delete with force, enabled again', deleteForced.items[0]!, { ...source('src_d') }, 'drift'],
    [
      'delete with force, reconnected',
      deleteForced.items[0]!,
      { ...source('src_d', { enabled: false, warehouses: [{ id: 'w', name: null, enabled: true }] }) },
      'drift',
    ],
    [
      'delete with force of an enabled, connected source, as approved',
      deleteForcedLive.items[0]!,
      { ...source('src_e', { destinations: [{ id: 'd', name: null, enabled: true }] }) },
      'apply',
    ],
    ['delete with force of an enabled source, disconnected meanwhile', deleteForcedLive.items[0]!, { ...source('src_e') }, 'drift'],
  ];
  it.each(cases.map(([name, item, liveSource, expected]) => [`${name} -> ${expected}`, item, liveSource, expected] as const))(
    '%s',
    (_name, item, liveSource, expected) => {
      expect(recheckItem(item, liveSource).kind).toBe(expected);
    },
  );

  it('create-label checks the workspace labels', () => {
    const p = plan([{ op: 'add-labels', targets: ['src_a'], labels: ['team:x'], createMissingLabels: true }], state([source('src_a')]));
    const createLabel = p.items[0]!;
    expect(recheckItem(createLabel, null, [])).toEqual({ kind: 'apply' });
    expect(recheckItem(createLabel, null, [{ key: 'team', value: 'x' }]).kind).toBe('already-applied');
  });

  it('pendingUpdate sends only what is still missing', () => {
    if (update.op !== 'update-source') throw new Error('unreachable');
    expect(pendingUpdate(update, live({ name: 'New' })).patch).toEqual({ enabled: false });
    const withSettings = plan(
      [{ op: 'update-source', targets: ['src_a'], set: { settings: { a: 1, b: 2 } } }],
      state([source('src_a', { settings: { a: 0 } })]),
    ).items[0]!;
    if (withSettings.op !== 'update-source') throw new Error('unreachable');
    expect(pendingUpdate(withSettings, live({ settings: { a: 1 } })).patch).toEqual({ settings: { b: 2 } });
  });
});

describe('renderPlanMarkdown', () => {
  it('shows hash, every item, the high-impact ids and the targets, without write keys', () => {
    const p = buildWorkspacePlan(
      parseJobSpecText(`
name: cleanup | tidy
steps:
  - op: update-source
    targets: [src_a]
    set: { enabled: false }
  - op: delete-source
    targets: [src_a]
`),
      'job-1',
      state([source('src_a', { labels: [{ key: 'env', value: 'prod' }] })]),
      'run-1',
    );
    const hash = planHash(p);
    const text = renderPlanMarkdown(p, hash);
    expect(text).toContain(`### Plan ${hash} — cleanup \\| tidy`);
    expect(text).toContain('| update-source:src_a | 1\\. update-source #1 | src_a (Source src_a) | write | enabled: true → false |');
    expect(text).toContain('| **DESTRUCTIVE** |');
    expect(text).toContain('**High impact: the approval must list every one of these ids:** delete-source:src_a');
    expect(text).toContain('| src_a | Source src_a | src-a | yes | env:prod | 2 (aaaaaaaaaaaa, bbbbbbbbbbbb) | — | — | 1200 (last day 40) |');
  });
});

describe('the approval view is hostile-text safe and never cut', () => {
  const ESC = '\u001b';
  // A step name that, in a terminal, moves the cursor up and overwrites the row that shows enabled: true → false.
  const sneaky = `rename${ESC}[1A${ESC}[2K\r| update-source:src_a | harmless | write | nothing |`;
  const hostile = () =>
    buildWorkspacePlan(
      spec([{ op: 'update-source', name: sneaky, targets: ['src_a'], set: { enabled: false } }]),
      'job-1',
      state([
        source('src_a', {
          name: 'web\n| delete-source:src_x | 9. fake | src_x | **DESTRUCTIVE** | gone |\n## Approved',
          labels: [{ key: `team${ESC}]8;;http://evil${ESC}\\`, value: 'x' }],
        }),
      ]),
      'run-1',
    );

  it('a terminal escape in a step name reaches neither the terminal view nor the UI', () => {
    const p = hostile();
    for (const text of [renderPlanText(p, planHash(p)), renderPlanMarkdown(p, planHash(p)), renderPlanSummaryMarkdown(p, planHash(p))]) {
      expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
      expect(text).toMatch(/\\u001b\\?\[1A/);
    }
    expect(renderPlanText(p, planHash(p))).toContain('enabled: true → false');
  });

  it('a newline or a "|" in a workspace name cannot add a table row or a heading to the UI view', () => {
    const p = hostile();
    const text = renderPlanMarkdown(p, planHash(p));
    const rows = text.split('\n').filter((line) => line.startsWith('|'));
    // header + separator + one item; header + separator + one target: nothing else starts a row.
    expect(rows).toHaveLength(6);
    expect(text.split('\n').filter((line) => line.startsWith('#'))).toHaveLength(1);
    expect(text).not.toMatch(/(^|[^\\])\*\*DESTRUCTIVE/m);
    expect(text).toContain('\\u000a\\| delete-source:src_x');
  });

  it('bidi controls are shown, not obeyed', () => {
    expect(plainText('a\u202eb\u2066c')).toBe('a\\u202eb\\u2066c');
    expect(markdownText('[click](http://x) <b>&#124;</b> `c`')).toBe('\\[click\\](http://x) \\<b\\>\\&#124;\\</b\\> \\`c\\`');
  });

  const many = (n: number) =>
    Array.from({ length: n }, (_, i) =>
      source(`src_${String(i).padStart(3, '0')}`, { enabled: false, name: `legacy source number ${i} with a long name` }),
    );

  it('a plan too long for the UI shows a complete summary there: counts per step, every destructive item, the hash', () => {
    const sources = many(120);
    const p = buildWorkspacePlan(
      spec([
        { op: 'add-labels', name: 'mark', targets: sources.map((s) => s.id), labels: ['env:prod'] },
        { op: 'delete-source', name: 'drop some', targets: sources.slice(0, 30).map((s) => s.id) },
      ]),
      'job-1',
      state(sources),
      'run-1',
    );
    expect(p.refusals).toEqual([]);
    const hash = planHash(p);
    expect(renderPlanMarkdown(p, hash).length).toBeGreaterThan(MAX_FULL_MARKDOWN_CHARS);
    const ui = renderApprovalMarkdown(p, hash);
    expect(ui.length).toBeLessThanOrEqual(MAX_SUMMARY_CHARS + 200);
    expect(ui).toContain(hash);
    expect(ui).toContain('| 1\\. mark | add-labels | 0 | 120 | 0 | 0 |');
    expect(ui).toContain('| 2\\. drop some | delete-source | 0 | 0 | 30 | 0 |');
    for (const id of p.highImpact) expect(ui).toContain(`- ${id}:`);
    expect(ui).toContain('segflow approve');
    // The terminal view is never cut.
    const full = renderPlanText(p, hash);
    for (const item of p.items) expect(full).toContain(item.id);
  });

  it('a plan whose complete summary cannot fit the UI is refused before approval', () => {
    const sources = many(200);
    const p = buildWorkspacePlan(spec([{ op: 'delete-source', targets: sources.map((s) => s.id) }]), 'job-1', state(sources), 'run-1');
    expect(p.refusals.map((r) => r.rule)).toEqual(['plan-too-large']);
  });

  it('force is shown wherever it lifts a guard rail', () => {
    const p = buildWorkspacePlan(
      spec([
        { op: 'delete-source', targets: ['src_a'], force: true },
        { op: 'remove-write-key', targets: ['src_b'], writeKey: { index: 0 }, force: true },
      ]),
      'job-1',
      state([
        source('src_a', { destinations: [{ id: 'd1', name: null, enabled: true }] }),
        source('src_b', { writeKeyFingerprints: ['aaaaaaaaaaaa'] }),
      ]),
      'run-1',
    );
    expect(p.items.map((item) => item.forced)).toEqual([['delete-enabled', 'delete-connected'], ['last-write-key']]);
    const hash = planHash(p);
    expect(renderPlanText(p, hash)).toContain('FORCE lifts delete-enabled, delete-connected');
    expect(renderPlanMarkdown(p, hash)).toContain('FORCE lifts last-write-key');
    expect(renderPlanSummaryMarkdown(p, hash)).toContain('lifts delete-enabled, delete-connected');
    // A force that lifts nothing is not advertised.
    const quiet = buildWorkspacePlan(
      spec([{ op: 'delete-source', targets: ['src_a'], force: true }]),
      'job-1',
      state([source('src_a', { enabled: false })]),
      'run-1',
    );
    expect(quiet.items[0]!.forced).toBeUndefined();
  });

  it('send items show their messages (the UI: a digest and the first ones; the terminal: all of them)', () => {
    const messages = Array.from({ length: 5 }, (_, i) => ({ type: 'track', userId: `u${i}`, event: i === 4 ? 'Last One' : 'Order Completed' }));
    const p = buildWorkspacePlan(spec([{ op: 'send', messages }]), 'job-1', state([]), 'run-1');
    const item = p.items[0]!;
    if (item.op !== 'send') throw new Error('unreachable');
    const hash = planHash(p);
    const ui = renderPlanMarkdown(p, hash);
    expect(ui).toContain(`digest ${sendDigest(item)}`);
    expect(ui).toContain('u0');
    expect(ui).toContain('2 more');
    expect(ui).not.toContain('Last One');
    expect(renderPlanText(p, hash)).toContain('Last One');
  });
});

describe('plans are bound to the run that asked', () => {
  it('the same job, workspace and spec in another run hashes differently', () => {
    const steps = [{ op: 'update-source', targets: ['src_a'], set: { enabled: false } }];
    const a = buildWorkspacePlan(spec(steps), 'job-1', state([source('src_a')]), 'run-1');
    const b = buildWorkspacePlan(spec(steps), 'job-1', state([source('src_a')]), 'run-2');
    expect(planHash(a)).not.toBe(planHash(b));
  });
});

// Many stars against a long name: test/unit/linear-time.test.ts, in a child process with a deadline.
describe('globMatches pattern length', () => {
  it('a pattern over the length limit is refused', () => {
    expect(() => globMatches('a'.repeat(201), 'a')).toThrow(/at most 200/);
  });
});
