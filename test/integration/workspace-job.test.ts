/**
 * Workspace batch jobs end to end: a real Temporal dev server, a real worker, the Public API double and the
 * Tracking API double.
 */
import { WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runWorkspaceCli } from '../support/workspace-cli';
import { parseJobSpecText, type JobSpec } from '../../src/core/job-spec';
import { writeKeyFingerprint } from '../../src/core/workspace-plan/plan-ids';
import { approvalRequestQuery, approveSignal, decideUpdate, rejectSignal, type ApprovalRequestView } from '../../src/contracts/approval';
import { workspaceJobStatusQuery, type WorkspaceJobResult, type WorkspaceJobStatus } from '../../src/contracts/workspace-job';
import { workspaceJob } from '../../src/workflows/workspace-job';
import { PublicApiDouble, type PublicApiDoubleOptions } from '../support/public-api-double';
import { SegmentDouble } from '../support/segment-double';
import { getTestEnv, startTestWorker, uniqueTaskQueue, type RunningTestWorker } from '../support/temporal';
import { FailureType } from '../../src/contracts/failures';

const TOKEN = 'sgp_integration_token_7f3a9c2e5b1d';
const TRACKING_WRITE_KEY = 'wk-tracking-test-5551';

interface Harness {
  api: PublicApiDouble;
  tracking: SegmentDouble;
  taskQueue: string;
  env: NodeJS.ProcessEnv;
  worker: RunningTestWorker;
  start(spec: JobSpec | string, opts?: { approvalTimeoutMs?: number; jobId?: string }): Promise<WorkflowHandle<typeof workspaceJob>>;
}

const root = resolve(__dirname, '../..');
const running: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of running.splice(0).reverse()) await stop();
});

async function harness(seed: Omit<PublicApiDoubleOptions, 'token'>): Promise<Harness> {
  const testEnv = await getTestEnv();
  const api = await PublicApiDouble.start({ token: TOKEN, ...seed });
  const tracking = await SegmentDouble.start({ writeKeys: [TRACKING_WRITE_KEY] });
  const taskQueue = uniqueTaskQueue('workspace');
  const env: NodeJS.ProcessEnv = {
    SEGMENT_API_URL: api.url,
    SEGMENT_API_TOKEN: TOKEN,
    SEGMENT_TRACKING_URL: tracking.url,
    SEGMENT_WRITE_KEY: TRACKING_WRITE_KEY,
  };
  const h: Harness = {
    api,
    tracking,
    taskQueue,
    env,
    worker: await startTestWorker({ taskQueue, env }),
    async start(spec, opts = {}) {
      const parsed = typeof spec === 'string' ? parseJobSpecText(spec) : spec;
      const jobId = opts.jobId ?? `ws-test-${Math.random().toString(36).slice(2, 10)}`;
      return testEnv.client.workflow.start(workspaceJob, {
        taskQueue,
        workflowId: jobId,
        args: [{ jobId, spec: parsed, approvalTimeoutMs: opts.approvalTimeoutMs }],
      });
    },
  };
  running.push(async () => {
    await h.worker.stop();
    await api.stop();
    await tracking.stop();
  });
  return h;
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function awaitingApproval(handle: WorkflowHandle<typeof workspaceJob>): Promise<ApprovalRequestView> {
  return eventually('the approval request', async () => {
    const view = await handle.query(approvalRequestQuery);
    return view.state === 'awaiting' ? view : undefined;
  });
}

const statusOf = (handle: WorkflowHandle<typeof workspaceJob>) => handle.query(workspaceJobStatusQuery);
const outcomeMap = (result: WorkspaceJobResult) => Object.fromEntries(result.outcomes.map((o) => [o.itemId, o.status]));

/**
 * The history as text with every payload decoded: fetchHistory() returns payload bytes base64-encoded (or as byte
 * arrays), so searching the raw JSON for a secret would prove nothing.
 */
function historyText(history: unknown): string {
  return JSON.stringify(history, (key, value: unknown) => {
    if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
    if (key === 'data' && typeof value === 'string') return `${value} ${Buffer.from(value, 'base64').toString('utf8')}`;
    return value;
  });
}

async function failureOf(handle: WorkflowHandle<typeof workspaceJob>): Promise<{ message: string; result: WorkspaceJobResult }> {
  const error = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const cause = (error as WorkflowFailedError).cause as { message: string; type?: string; details?: unknown[] };
  expect(cause.type).toBe(FailureType.WorkspaceJobFailed);
  return { message: cause.message, result: cause.details![0] as WorkspaceJobResult };
}

function thisMonth(day: number): string {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), day)).toISOString();
}
const PERIOD = thisMonth(1).slice(0, 10);

const WORKSPACE: Omit<PublicApiDoubleOptions, 'token'> = {
  sources: [
    { id: 'src_web', name: 'Web', enabled: true, writeKeys: ['wk_web_secret_1', 'wk_web_secret_2'], labels: [{ key: 'env', value: 'prod' }] },
    { id: 'src_old', name: 'Old', enabled: false, writeKeys: ['wk_old_secret'] },
    { id: 'src_app', name: 'App', enabled: true, writeKeys: ['wk_app_secret'], settings: { retention: 30 } },
  ],
  destinations: [{ id: 'dst_1', sourceId: 'src_web', name: 'Webhook' }],
  warehouses: [{ id: 'wh_1', sourceIds: ['src_web'], name: 'analytics-pg' }],
  labels: [{ key: 'env', value: 'prod' }],
  usage: [
    { sourceId: 'src_web', apiCalls: 100, timestamp: thisMonth(1) },
    { sourceId: 'src_web', apiCalls: 150, timestamp: thisMonth(2) },
  ],
  deliveryMetrics: [{ destinationId: 'dst_1', sourceId: 'src_web', metrics: [{ metricName: 'successes', total: 42 }] }],
};

const SECRETS = [TOKEN, TRACKING_WRITE_KEY, 'wk_web_secret_1', 'wk_web_secret_2', 'wk_old_secret', 'wk_app_secret'];

const EVERY_OPERATION = `
name: every operation
steps:
  - op: list-sources
  - op: get-source
    targets: [src_web]
  - op: list-warehouses
    targets: [src_web]
  - op: schema-settings
    targets: [src_web]
  - op: get-destination
    destinationId: dst_1
  - op: delivery-metrics
    destinationId: dst_1
    sourceId: src_web
    granularity: DAY
  - op: api-calls-usage
    period: "${PERIOD}"
  - op: add-labels
    targets: { labels: ["env:prod"] }
    labels: ["team:growth"]
    createMissingLabels: true
  - op: update-source
    targets: [src_app]
    set: { name: "App (renamed)", settings: { region: eu } }
  - op: create-write-key
    targets: [src_app]
  - op: remove-write-key
    targets: [src_web]
    writeKey: { index: 0 }
  - op: delete-source
    targets: [src_old]
  - op: send
    messages:
      - { type: identify, userId: u1, traits: { email: a@example.com } }
      - { type: track, userId: u1, event: Signed Up }
      - { type: page, userId: u1, name: Home }
      - { type: screen, userId: u1, name: Settings }
      - { type: group, userId: u1, groupId: g1 }
      - { type: alias, userId: u1, previousId: anon-1 }
`;

describe('workspace jobs', () => {
  it('runs every catalogue operation after an approval by update, and keeps secrets out of history', async () => {
    const h = await harness(WORKSPACE);
    const handle = await h.start(EVERY_OPERATION);
    const request = await awaitingApproval(handle);
    const oldKey = writeKeyFingerprint('wk_web_secret_1');
    expect(request.highImpact).toEqual([`remove-write-key:src_web:${oldKey}`, 'delete-source:src_old']);
    expect(request.summary).toBe('2 destructive, 5 writes, 7 reads on 3 sources');
    expect(request.details).toContain('| src_web | Web | src_web | yes | env:prod | 2 (');
    expect(request.details).toContain('| Webhook | analytics-pg | 150 (last day 50) |');
    expect(h.api.auditLog()).toEqual([]);

    const status: WorkspaceJobStatus = await statusOf(handle);
    expect(status.state).toBe('awaiting_approval');
    expect(status.plan?.targets.map((t) => t.id).sort()).toEqual(['src_app', 'src_old', 'src_web']);

    const decided = await handle.executeUpdate(decideUpdate, {
      args: [{ decision: 'approve', planHash: request.planHash!, by: 'alice', comment: 'quarterly cleanup', confirmHighImpact: request.highImpact }],
    });
    expect(decided).toMatchObject({ state: 'approved', planHash: request.planHash, by: 'alice' });

    const result = await handle.result();
    expect(result.state).toBe('completed');
    expect(result.approval).toMatchObject({ outcome: 'approved', by: 'alice', comment: 'quarterly cleanup', via: 'update' });
    expect(outcomeMap(result)).toEqual({
      'list-sources:step1': 'read',
      'get-source:src_web': 'read',
      'list-warehouses:src_web': 'read',
      'schema-settings:src_web': 'read',
      'get-destination:dst_1': 'read',
      'delivery-metrics:dst_1:src_web': 'read',
      [`api-calls-usage:${PERIOD}`]: 'read',
      'create-label:team:growth': 'applied',
      'add-labels:src_web': 'applied',
      'update-source:src_app': 'applied',
      'create-write-key:src_app': 'applied',
      [`remove-write-key:src_web:${oldKey}`]: 'applied',
      'delete-source:src_old': 'applied',
      'send:default': 'applied',
    });
    const read = (id: string) => result.outcomes.find((o) => o.itemId === id)!.data as Record<string, unknown>;
    expect(read('list-sources:step1')).toMatchObject({ count: 3 });
    expect(read('get-source:src_web')).toMatchObject({ source: { id: 'src_web', writeKeyCount: 2 } });
    expect(read('list-warehouses:src_web')).toEqual({ warehouses: [{ id: 'wh_1', name: 'analytics-pg', enabled: true, type: 'Postgres' }] });
    expect(read('schema-settings:src_web')).toHaveProperty('track');
    expect(read('get-destination:dst_1')).toMatchObject({ id: 'dst_1', sourceId: 'src_web' });
    expect(read('delivery-metrics:dst_1:src_web')).toMatchObject({ metrics: [{ metricName: 'successes', total: 42 }] });
    expect(read(`api-calls-usage:${PERIOD}`)).toMatchObject({ period: PERIOD, entries: [{ apiCalls: '100' }, { apiCalls: '150' }] });

    expect(h.api.auditLog().map((e) => `${e.method} ${e.path}`)).toEqual([
      'POST /labels',
      'POST /sources/src_web/labels',
      'PATCH /sources/src_app',
      'POST /sources/src_app/writekey',
      'DELETE /sources/src_web/writekey/wk_web_secret_1',
      'DELETE /sources/src_old',
    ]);
    expect(h.api.auditLog()[2]!.body).toEqual({ name: 'App (renamed)', settings: { retention: 30, region: 'eu' } });
    expect(h.api.source('src_web')).toMatchObject({
      writeKeys: ['wk_web_secret_2'],
      labels: [
        { key: 'env', value: 'prod' },
        { key: 'team', value: 'growth' },
      ],
    });
    expect(h.api.source('src_app')!.writeKeys).toHaveLength(2);
    expect(h.api.source('src_old')).toBeUndefined();
    expect(h.tracking.stats().accepted).toBe(6);
    expect(h.tracking.messages.map((m) => m.message.type)).toEqual(['identify', 'track', 'page', 'screen', 'group', 'alias']);

    // Secrets: not in history (inputs, activity results, signals, failures), not in queries.
    const history = historyText(await handle.fetchHistory());
    expect(history).toContain('delete-source:src_old');
    const afterStatus = JSON.stringify(await statusOf(handle)) + JSON.stringify(await handle.query(approvalRequestQuery));
    for (const secret of SECRETS) {
      expect(history).not.toContain(secret);
      expect(afterStatus).not.toContain(secret);
    }
  });

  it('a forced delete stops when the source was re-enabled after approval was asked (force lifts the preview guard rails only)', async () => {
    const h = await harness(WORKSPACE);
    const handle = await h.start('steps:\n  - op: delete-source\n    targets: [src_old]\n    force: true');
    const request = await awaitingApproval(handle);
    expect(request.highImpact).toEqual(['delete-source:src_old']);
    // Approved as "(disabled, 0 destinations)"; someone re-enables the source meanwhile.
    h.api.source('src_old')!.enabled = true;
    await handle.executeUpdate(decideUpdate, {
      args: [{ decision: 'approve', planHash: request.planHash!, by: 'alice', confirmHighImpact: request.highImpact }],
    });
    const { message, result } = await failureOf(handle);
    expect(message).toContain(FailureType.PlanDrift);
    expect(message).toContain('src_old is enabled now; it was approved for deletion while disabled');
    expect(outcomeMap(result)).toEqual({ 'delete-source:src_old': 'failed' });
    expect(h.api.source('src_old')).toBeDefined();
    expect(h.api.auditLog()).toEqual([]);
  });

  it('an approval of one run never approves another run of the same job id, even with an unchanged workspace', async () => {
    const h = await harness(WORKSPACE);
    const spec = 'steps:\n  - op: update-source\n    targets: [src_app]\n    set: { enabled: false }';
    const first = await h.start(spec, { jobId: 'rerun-1' });
    const old = await awaitingApproval(first);
    await first.signal(rejectSignal, { by: 'bob', reason: 'not today' });
    await first.result();

    const second = await h.start(spec, { jobId: 'rerun-1' });
    const fresh = await awaitingApproval(second);
    expect(fresh.planHash).not.toBe(old.planHash);
    // The old approve command replayed against the new run: refused and recorded, nothing written.
    const replayed = await second
      .executeUpdate(decideUpdate, { args: [{ decision: 'approve', planHash: old.planHash!, by: 'alice' }] })
      .catch((e: unknown) => e);
    expect(replayed).toBeInstanceOf(WorkflowUpdateFailedError);
    expect((await second.query(approvalRequestQuery)).refusedAttempts).toHaveLength(1);
    await second.signal(rejectSignal, { by: 'bob', reason: 'done testing' });
    expect((await second.result()).state).toBe('rejected');
    expect(h.api.auditLog()).toEqual([]);
  });

  it('approves by signal; a 429 on a write is waited out and the write happens once', async () => {
    const h = await harness(WORKSPACE);
    h.api.injectFaults({ kind: 'rate-limit', msBeforeNext: 300, match: { method: 'PATCH', path: '/sources/src_app' } });
    const handle = await h.start('steps:\n  - op: update-source\n    targets: [src_app]\n    set: { enabled: false }');
    const request = await awaitingApproval(handle);
    expect(request.highImpact).toEqual([]);
    await handle.signal(approveSignal, { planHash: request.planHash!, by: 'bob' });
    const result = await handle.result();
    expect(result).toMatchObject({ state: 'completed', approval: { outcome: 'approved', by: 'bob', via: 'signal' } });
    expect(
      h.api
        .requestLog()
        .filter((r) => r.method === 'PATCH')
        .map((r) => r.status),
    ).toEqual([429, 200]);
    expect(h.api.auditLog().map((e) => `${e.method} ${e.path}`)).toEqual(['PATCH /sources/src_app']);
    expect(h.api.source('src_app')!.enabled).toBe(false);
  });

  it('reject ends the job with nothing changed', async () => {
    const h = await harness(WORKSPACE);
    const handle = await h.start('steps:\n  - op: delete-source\n    targets: [src_old]');
    await awaitingApproval(handle);
    await handle.signal(rejectSignal, { by: 'carol', reason: 'not this quarter' });
    const result = await handle.result();
    expect(result).toMatchObject({ state: 'rejected', approval: { outcome: 'rejected', by: 'carol', reason: 'not this quarter' } });
    expect(outcomeMap(result)).toEqual({ 'delete-source:src_old': 'not-run' });
    expect(h.api.auditLog()).toEqual([]);
    expect(h.api.source('src_old')).toBeDefined();
    expect((await statusOf(handle)).state).toBe('rejected');
  });

  it('refuses and records an approval for another hash, and a destructive step never runs without its confirmation; then expires', async () => {
    const h = await harness(WORKSPACE);
    const handle = await h.start('steps:\n  - op: delete-source\n    targets: [src_old]', { approvalTimeoutMs: 8_000 });
    const request = await awaitingApproval(handle);
    const wrongHash = 'f'.repeat(64);

    const byUpdate = await handle
      .executeUpdate(decideUpdate, { args: [{ decision: 'approve', planHash: wrongHash, by: 'mallory', confirmHighImpact: request.highImpact }] })
      .catch((e: unknown) => e);
    expect(byUpdate).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(((byUpdate as WorkflowUpdateFailedError).cause as Error).message).toContain('is not the plan awaiting approval');

    const reflex = await handle
      .executeUpdate(decideUpdate, { args: [{ decision: 'approve', planHash: request.planHash!, by: 'tired-dave' }] })
      .catch((e: unknown) => e);
    expect(((reflex as WorkflowUpdateFailedError).cause as Error).message).toContain('missing: delete-source:src_old');

    await handle.signal(approveSignal, { planHash: wrongHash, by: 'eve' });
    const malformed = await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', planHash: '', by: 'x' }] }).catch((e: unknown) => e);
    expect(malformed).toBeInstanceOf(WorkflowUpdateFailedError);

    const view = await eventually('three refused attempts', async () => {
      const v = await handle.query(approvalRequestQuery);
      return v.refusedAttempts.length === 3 ? v : undefined;
    });
    expect(view.state).toBe('awaiting');
    expect(view.refusedAttempts.map((a) => [a.via, a.by, a.planHash?.slice(0, 4)])).toEqual([
      ['update', 'mallory', 'ffff'],
      ['update', 'tired-dave', request.planHash!.slice(0, 4)],
      ['signal', 'eve', 'ffff'],
    ]);

    const result = await handle.result();
    expect(result.state).toBe('expired');
    expect(result.approval).toMatchObject({ outcome: 'expired', timeoutMs: 8_000 });
    expect(outcomeMap(result)).toEqual({ 'delete-source:src_old': 'not-run' });
    expect(h.api.auditLog()).toEqual([]);
    expect(h.api.source('src_old')).toBeDefined();
    const late = await handle
      .signal(approveSignal, { planHash: request.planHash!, by: 'late', confirmHighImpact: request.highImpact })
      .catch((e: unknown) => e);
    expect(late).toBeInstanceOf(Error);
  });

  it('resumes after a worker process is killed between two writes without applying any step twice', async () => {
    const h = await harness({
      sources: ['src_a', 'src_b', 'src_c'].map((id) => ({ id, name: id, writeKeys: [`wk_${id}`] })),
    });
    // A real crash: a separate worker process, SIGKILLed (stopping an in-process worker gracefully let its
    // activities finish and proved nothing about a dead worker).
    await h.worker.stop();
    const child = spawn(join(root, 'node_modules/.bin/tsx'), [join(root, 'src/cli.ts'), 'worker'], {
      cwd: root,
      detached: true,
      stdio: 'ignore',
      env: {
        ...process.env,
        ...h.env,
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        TEMPORAL_NAMESPACE: 'default',
        SEGFLOW_TASK_QUEUE: h.taskQueue,
        SEGFLOW_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
      },
    });
    const exited = new Promise<NodeJS.Signals | null>((done) => child.once('exit', (_code, signal) => done(signal)));
    running.push(async () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    });
    // The second write is applied by Segment, but its answer never arrives: the worker dies with it in flight.
    h.api.injectFaults({ kind: 'apply-then-hang', match: { method: 'PATCH', path: '/sources/src_b' } });
    const handle = await h.start(`
steps:
  - op: update-source
    targets: [src_a, src_b, src_c]
    set: { enabled: false }
`);
    const request = await awaitingApproval(handle);
    await handle.signal(approveSignal, { planHash: request.planHash!, by: 'alice' });
    await eventually('two applied writes', async () => (h.api.auditLog().length === 2 ? true : undefined));
    process.kill(-child.pid!, 'SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(h.api.auditLog().map((e) => e.path)).toEqual(['/sources/src_a', '/sources/src_b']);

    const restartedAt = Date.now();
    h.worker = await startTestWorker({ taskQueue: h.taskQueue, env: h.env });
    const result = await handle.result();
    // The apply activity heartbeats (10 s timeout): the dead worker's attempt is retried in seconds, not after its
    // 2-minute start-to-close timeout.
    expect(Date.now() - restartedAt).toBeLessThan(60_000);
    const history = await handle.fetchHistory();
    const attempts = (history.events ?? []).map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0);
    expect(Math.max(...attempts)).toBeGreaterThan(1);
    expect(result.state).toBe('completed');
    expect(outcomeMap(result)).toEqual({
      'update-source:src_a': 'applied',
      'update-source:src_b': 'already-applied',
      'update-source:src_c': 'applied',
    });
    expect(h.api.auditLog().map((e) => `${e.method} ${e.path}`)).toEqual(['PATCH /sources/src_a', 'PATCH /sources/src_b', 'PATCH /sources/src_c']);
  });

  it('resolves a label selector across pages of sources', async () => {
    const sources = Array.from({ length: 450 }, (_, i) => ({
      id: `src_${String(i).padStart(3, '0')}`,
      name: `source ${i}`,
      writeKeys: [`wk_${i}`],
      labels: i % 100 === 7 ? [{ key: 'tier', value: 'gold' }] : [],
    }));
    const h = await harness({
      sources,
      labels: [
        { key: 'tier', value: 'gold' },
        { key: 'audit', value: 'q3' },
      ],
    });
    const handle = await h.start('steps:\n  - op: add-labels\n    targets: { labels: ["tier:gold"] }\n    labels: ["audit:q3"]');
    const request = await awaitingApproval(handle);
    const listPages = h.api.requestLog().filter((r) => r.method === 'GET' && r.path === '/sources');
    expect(listPages).toHaveLength(3);
    const status = await statusOf(handle);
    expect(status.plan!.items.map((item) => item.id)).toEqual([
      'add-labels:src_007',
      'add-labels:src_107',
      'add-labels:src_207',
      'add-labels:src_307',
      'add-labels:src_407',
    ]);
    await handle.signal(approveSignal, { planHash: request.planHash!, by: 'alice' });
    expect((await handle.result()).state).toBe('completed');
    expect(h.api.auditLog().map((e) => e.path)).toEqual([
      '/sources/src_007/labels',
      '/sources/src_107/labels',
      '/sources/src_207/labels',
      '/sources/src_307/labels',
      '/sources/src_407/labels',
    ]);
  });

  it('fails before approval when a guard rail refuses the plan', async () => {
    const h = await harness(WORKSPACE);
    const handle = await h.start('steps:\n  - op: delete-source\n    targets: [src_web]');
    const { message, result } = await failureOf(handle);
    expect(message).toContain('delete-enabled');
    expect(message).toContain('delete-connected');
    expect(outcomeMap(result)).toEqual({});
    expect(h.api.auditLog()).toEqual([]);
    expect((await handle.query(approvalRequestQuery)).state).toBe('none');
  });

  it('api-calls-usage is per source by default (all, or the listed ones); the workspace total only with scope: workspace', async () => {
    const h = await harness({
      ...WORKSPACE,
      usage: [...WORKSPACE.usage!, { sourceId: 'src_app', apiCalls: 7, timestamp: thisMonth(1) }],
    });
    const handle = await h.start(
      `steps:\n  - op: api-calls-usage\n    period: "${PERIOD}"\n  - op: api-calls-usage\n    period: "${PERIOD}"\n    sourceIds: [src_app]\n  - op: api-calls-usage\n    period: "${PERIOD}"\n    scope: workspace`,
    );
    const result = await handle.result();
    const [all, one, workspace] = result.outcomes.map(
      (o) => o.data as { scope: string; bySource?: Record<string, { total: string }>; entries: Array<{ sourceId?: string }> },
    );
    expect(all).toMatchObject({ scope: 'sources', bySource: { src_web: { total: '150' }, src_app: { total: '7' } } });
    expect(one).toMatchObject({ scope: 'sources', bySource: { src_app: { total: '7' } } });
    expect(Object.keys(one!.bySource!)).toEqual(['src_app']);
    expect(workspace!.scope).toBe('workspace');
    expect(workspace!.entries.every((entry) => entry.sourceId === undefined)).toBe(true);
    expect(h.api.requestLog().filter((r) => r.path.startsWith('/usage/api-calls/daily')).length).toBe(1);
  });

  it('runs a read-only job without asking for approval', async () => {
    const h = await harness(WORKSPACE);
    const handle = await h.start('steps:\n  - op: get-source\n    targets: [src_app]\n  - op: list-warehouses\n    targets: [src_web]');
    const result = await handle.result();
    expect(result).toMatchObject({ state: 'completed' });
    expect(result.approval).toBeUndefined();
    expect(outcomeMap(result)).toEqual({ 'get-source:src_app': 'read', 'list-warehouses:src_web': 'read' });
  });

  it('stops at a failing step unless continueOnError, and reports every outcome', async () => {
    const seed = {
      sources: [
        { id: 'src_a', slug: 'a' },
        { id: 'src_b', slug: 'b' },
        { id: 'src_taken', slug: 'taken' },
      ],
    };
    // src_a's new slug is taken by a source the preview never looked at: the API answers 409 at execution.
    const job = (continueOnError: boolean) => `
continueOnError: ${continueOnError}
steps:
  - op: update-source
    targets: [src_a]
    set: { slug: taken }
  - op: update-source
    targets: [src_b]
    set: { name: B }
`;
    const h = await harness(seed);
    const stopping = await h.start(job(false));
    await approve(stopping);
    const { message, result } = await failureOf(stopping);
    expect(message).toContain('update-source:src_a failed: PublicApiRequestError');
    expect(outcomeMap(result)).toEqual({ 'update-source:src_a': 'failed', 'update-source:src_b': 'not-run' });
    expect((await statusOf(stopping)).state).toBe('failed');
    expect(h.api.auditLog()).toEqual([]);

    const continuing = await h.start(job(true));
    await approve(continuing);
    const completed = await continuing.result();
    expect(completed.state).toBe('completed');
    expect(outcomeMap(completed)).toEqual({ 'update-source:src_a': 'failed', 'update-source:src_b': 'applied' });
    expect(h.api.auditLog().map((e) => e.path)).toEqual(['/sources/src_b']);

    async function approve(wf: WorkflowHandle<typeof workspaceJob>) {
      const request = await awaitingApproval(wf);
      await wf.signal(approveSignal, { planHash: request.planHash!, by: 'alice' });
    }
  });

  it('fails clearly when the worker has no API token, without writing', async () => {
    const h = await harness(WORKSPACE);
    await h.worker.stop();
    const { SEGMENT_API_TOKEN: _token, ...withoutToken } = h.env;
    h.worker = await startTestWorker({ taskQueue: h.taskQueue, env: withoutToken });
    const handle = await h.start('steps:\n  - op: get-source\n    targets: [src_app]');
    const { message } = await failureOf(handle);
    expect(message).toContain(FailureType.MissingSecret);
    expect(message).toContain('SEGMENT_API_TOKEN');
    expect(h.api.requestLog()).toEqual([]);
  });
});

describe('workspace jobs from the CLI', () => {
  const savedEnv = { ...process.env };
  afterEach(() => {
    process.env = { ...savedEnv };
    process.exitCode = undefined;
  });

  function cli(h: Harness, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
    return runWorkspaceCli({ ...h.env, SEGFLOW_TASK_QUEUE: h.taskQueue }, ...args);
  }

  it('job run shows the plan; approve needs the destructive ids even with --yes; then the job runs', async () => {
    const h = await harness(WORKSPACE);
    const dir = mkdtempSync(join(tmpdir(), 'segflow-job-'));
    const file = join(dir, 'cleanup.yaml');
    writeFileSync(
      file,
      'name: cleanup\nsteps:\n  - op: add-labels\n    targets: [src_app]\n    labels: ["env:prod"]\n  - op: delete-source\n    targets: [src_old]\n',
    );

    const started = await cli(h, 'job', 'run', file, '--id', 'cli-cleanup-1');
    expect(started.code).toBe(0);
    expect(started.out).toContain('Job cli-cleanup-1 awaits approval');
    expect(started.out).toContain('impact: DESTRUCTIVE');
    expect(started.out).toContain('Approve: segflow approve cli-cleanup-1 --confirm delete-source:src_old');

    const reflex = await cli(h, 'approve', 'cli-cleanup-1', '--yes');
    expect(reflex.code).toBe(2);
    expect(reflex.err).toContain('--confirm delete-source:src_old (--yes alone is not enough)');
    const wrongId = await cli(h, 'approve', 'cli-cleanup-1', '--yes', '--confirm', 'delete-source:src_web');
    expect(wrongId.code).toBe(2);
    expect(h.api.auditLog()).toEqual([]);

    const approved = await cli(
      h,
      '--json',
      'approve',
      'cli-cleanup-1',
      '--yes',
      '--confirm',
      'delete-source:src_old',
      '--by',
      'ops-oncall',
      '--comment',
      'OPS-42',
      '--wait',
    );
    expect(approved.code).toBe(0);
    const final = JSON.parse(approved.out) as WorkspaceJobResult;
    expect(final).toMatchObject({ state: 'completed', approval: { by: 'ops-oncall', comment: 'OPS-42' } });
    expect(h.api.auditLog().map((e) => `${e.method} ${e.path}`)).toEqual(['POST /sources/src_app/labels', 'DELETE /sources/src_old']);

    const status = await cli(h, 'job', 'status', 'cli-cleanup-1');
    expect(status.out).toMatch(/delete-source:src_old\s+destructive\s+applied/);
  });

  it('a write command is a one-step job: --approve runs it, reject ends another with nothing changed', async () => {
    const h = await harness(WORKSPACE);
    const disabled = await cli(h, 'source', 'update', 'src_app', '--disable', '--approve', '--yes', '--id', 'cli-disable-1');
    expect(disabled.code).toBe(0);
    expect(disabled.out).toMatch(/update-source:src_app\s+write\s+applied/);
    expect(h.api.source('src_app')!.enabled).toBe(false);

    const pending = await cli(h, 'source', 'delete', 'src_old', '--id', 'cli-delete-1');
    expect(pending.code).toBe(0);
    const rejected = await cli(h, 'reject', 'cli-delete-1', '--reason', 'wrong source', '--by', 'lead');
    expect(rejected.code).toBe(0);
    expect(rejected.out).toContain('nothing was changed');
    const result = await (await getTestEnv()).client.workflow.getHandle('cli-delete-1').result();
    expect(result).toMatchObject({ state: 'rejected', approval: { by: 'lead', reason: 'wrong source' } });
    expect(h.api.source('src_old')).toBeDefined();

    const refused = await cli(h, 'source', 'delete', 'src_web', '--id', 'cli-delete-2');
    expect(refused.code).toBe(1);
    expect(refused.out).toContain('delete-enabled');
    expect(h.api.auditLog().map((e) => e.path)).toEqual(['/sources/src_app']);
  });
});
