/**
 * Determinism across releases: histories of real runs, recorded from released code and committed under
 * test/fixtures/histories/, replay against the current workflow bundle without a non-determinism error
 * (Temporal would otherwise wedge running jobs after a deploy). See docs/upgrades.md.
 *
 * `npm run fixtures:record` (SEGFLOW_RECORD_HISTORIES=1) re-runs every shape on a real worker and rewrites the
 * fixtures; without it, the committed fixtures are only replayed.
 */
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { followJob, getJobStatus, startImport, type SegflowClient } from '../../src/client';
import { parseJobSpecText } from '../../src/core/job-spec';
import { approvalRequestQuery, decideUpdate } from '../../src/contracts/approval';
import { checkInput, importInputProblem, workspaceJobInputSchema } from '../../src/contracts/job-input';
import { workspaceJob } from '../../src/workflows/workspace-job';
import { startImportHarness, type ImportHarness } from '../support/import-harness';
import { PublicApiDouble } from '../support/public-api-double';
import { getTestEnv, startTestWorker } from '../support/temporal';
import { ndjsonEvents, waitFor } from '../support/wait';
import { WorkerProcesses } from '../support/worker-process';

const root = resolve(__dirname, '../..');
const fixtureDir = join(root, 'test/fixtures/histories');
const recording = process.env.SEGFLOW_RECORD_HISTORIES === '1';

export interface FixtureEntry {
  file: string;
  workflowId: string;
  shape: string;
  /** The release a fixture was recorded from, when not the manifest's own (a shape only an older release could make). */
  recordedFrom?: string;
}
interface Manifest {
  recordedFrom: string;
  recordedAt: string;
  fixtures: FixtureEntry[];
}

function readManifest(): Manifest {
  return JSON.parse(readFileSync(join(fixtureDir, 'manifest.json'), 'utf8')) as Manifest;
}

function eventTypes(historyJson: { events: Array<{ eventType: string }> }): string[] {
  return historyJson.events.map((e) => e.eventType);
}

describe('committed histories of earlier releases', () => {
  it('replay against the current workflow code', async () => {
    const manifest = readManifest();
    expect(manifest.fixtures.length).toBeGreaterThan(0);
    for (const entry of manifest.fixtures) {
      const json = JSON.parse(readFileSync(join(fixtureDir, entry.file), 'utf8'));
      // historyFromJSON is what the worker uses for JSON histories; it threw "type must be a Type" while two
      // copies of protobufjs sat under node_modules (docs/upgrades.md).
      const history = historyFromJSON(json);
      await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, entry.workflowId);
    }
  });

  /** A committed history of `shape` whose start input `edit` changed, as a run an earlier release started. */
  function editedStart(
    shape: string,
    edit: (input: { options: Record<string, unknown> } & Record<string, unknown>) => void,
  ): { json: unknown; workflowId: string; input: unknown } {
    const entry = readManifest().fixtures.find((f) => f.shape === shape)!;
    const json = JSON.parse(readFileSync(join(fixtureDir, entry.file), 'utf8'));
    const payload = json.events[0].workflowExecutionStartedEventAttributes.input.payloads[0];
    const input = JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8'));
    edit(input);
    payload.data = Buffer.from(JSON.stringify(input)).toString('base64');
    return { json, workflowId: entry.workflowId, input };
  }

  // A job started by an earlier release, with a setting a newer rule refuses, must keep running after an upgrade:
  // unpatched, the check would fail the replayed run where history scheduled an activity (non-determinism).
  it('replay as they ran when their input breaks a rule added since (the input check is patched in): an import', async () => {
    const { json, workflowId, input } = editedStart('import-resumed-after-crash', (start) => (start.options.chunksPerRun = 1_000_000));
    expect(importInputProblem(input, { workflowId })).toMatch(/chunksPerRun/);
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, historyFromJSON(json), workflowId);
  });

  it('replay as they ran when their input breaks a rule added since (the input check is patched in): a workspace job', async () => {
    const { json, workflowId, input } = editedStart('workspace-awaiting-approval', (start) => (start.jobId = 'fixture awaiting'));
    expect(checkInput(workspaceJobInputSchema, 'workspace job input', input)).toMatch(/jobId/);
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, historyFromJSON(json), workflowId);
  });

  it('cover every released workflow shape', () => {
    const manifest = readManifest();
    const shapes = new Set(manifest.fixtures.map((f) => f.shape));
    expect([...shapes].sort()).toEqual([
      'import-approval-pause-continue-as-new',
      'import-quorum-one-key-two-names',
      'import-resumed-after-crash',
      'workspace-awaiting-approval',
    ]);
    const all = (shape: string) =>
      manifest.fixtures.filter((f) => f.shape === shape).flatMap((f) => eventTypes(JSON.parse(readFileSync(join(fixtureDir, f.file), 'utf8'))));
    // The shape really is in the history, not just in the name.
    const approval = all('import-approval-pause-continue-as-new');
    expect(approval).toContain('EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW');
    expect(approval).toContain('EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED');
    expect(approval).toContain('EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED');
    const crash = manifest.fixtures.filter((f) => f.shape === 'import-resumed-after-crash');
    const crashHistories = crash.map(
      (f) =>
        JSON.parse(readFileSync(join(fixtureDir, f.file), 'utf8')) as {
          events: Array<{ activityTaskStartedEventAttributes?: { attempt?: number } }>;
        },
    );
    const retriedAttempts = crashHistories.flatMap((h) => h.events.filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1));
    expect(retriedAttempts.length).toBeGreaterThan(0);
    // Recorded by the release before keys were counted (6a106ad): two signed approvals by one key under two names met
    // a quorum of two, so replaying it reaches the quorum-counts-keys patch in src/workflows/approval.ts.
    const quorum = all('import-quorum-one-key-two-names');
    expect(quorum.filter((type) => type === 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED')).toHaveLength(2);
    expect(quorum).toContain('EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED');
    const workspace = all('workspace-awaiting-approval');
    expect(workspace).not.toContain('EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED');
  });
});

describe.runIf(recording)('recording fresh histories (npm run fixtures:record)', () => {
  let h: ImportHarness;
  const recorded: FixtureEntry[] = [];
  const workers = new WorkerProcesses();

  beforeAll(async () => {
    h = await startImportHarness();
    mkdirSync(fixtureDir, { recursive: true });
  });

  let inProcessWorkerStopped = false;
  afterAll(async () => {
    workers.killAll();
    if (!inProcessWorkerStopped) await h?.worker.stop();
    await h?.double.stop();
    if (recorded.length === 0) return;
    let commit = 'unknown';
    try {
      commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    } catch {
      // not a git checkout
    }
    // Shapes recorded now replace their old fixtures; the others stay (a run of one shape with -t).
    let kept: FixtureEntry[] = [];
    try {
      const shapes = new Set(recorded.map((f) => f.shape));
      kept = readManifest().fixtures.filter((f) => !shapes.has(f.shape));
    } catch {
      // no manifest yet
    }
    const fixtures = [...kept, ...recorded].sort((a, b) => a.file.localeCompare(b.file));
    const manifest: Manifest = { recordedFrom: commit, recordedAt: new Date().toISOString(), fixtures };
    writeFileSync(join(fixtureDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  });

  async function saveChain(sc: SegflowClient, workflowId: string, shape: string): Promise<void> {
    const runs: string[] = [];
    for await (const info of sc.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(info.runId);
    runs.reverse(); // oldest first
    for (const [i, runId] of runs.entries()) {
      const history = await sc.client.workflow.getHandle(workflowId, runId).fetchHistory();
      await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, workflowId);
      const file = `${shape}.run${i + 1}.json`;
      writeFileSync(join(fixtureDir, file), historyToJSON(history) + '\n');
      recorded.push({ file, workflowId, shape });
    }
  }

  it('an import that paused, waited for approval and continued as new', async () => {
    const file = h.writeInput('replay.ndjson', ndjsonEvents(1500, 'replay') + '{"type":"track"}\n');
    const started = await startImport(h.sc, {
      file,
      jobId: 'fixture-approval',
      requireApproval: true,
      targetChunkBytes: 10_000,
      chunksPerRun: 4,
      concurrency: 2,
    });
    const handle = h.sc.client.workflow.getHandle(started.jobId);
    await waitFor(async () => (await getJobStatus(h.sc, started.jobId)).state === 'awaiting_approval');
    const { planHash } = await handle.query(approvalRequestQuery);
    await handle.signal('pause', {});
    await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', planHash: planHash!, by: 'replay-test' }] });
    await waitFor(async () => (await getJobStatus(h.sc, started.jobId)).state === 'paused');
    await handle.signal('resume', {});
    const final = await followJob(h.sc, started.jobId, () => undefined, 200);
    expect(final.state).toBe('completed');
    expect(final.runs as number).toBeGreaterThan(1);
    await saveChain(h.sc, started.jobId, 'import-approval-pause-continue-as-new');
  });

  it('an import resumed after its worker process was killed', async () => {
    // This shape needs a worker process to kill: the in-process one takes no work from here on.
    await h.worker.stop();
    inProcessWorkerStopped = true;
    const startWorkerProcess = () => workers.start({ workerEnv: h.workerEnv, taskQueue: h.taskQueue });
    const total = 6000;
    const file = h.writeInput('crash.ndjson', ndjsonEvents(total, 'crash'));
    const first = startWorkerProcess();
    const started = await startImport(h.sc, {
      file,
      jobId: 'fixture-crash',
      concurrency: 2,
      targetChunkBytes: 200_000,
      maxEventsPerBatch: 100,
      heartbeatTimeoutMs: 3000,
      rateLimit: { perSecond: 1000, unit: 'events' },
    });
    await waitFor(() => h.double.uniqueMessageIds().size > 1000, 60_000, 'first events delivered');
    first.kill();
    await first.exit;
    expect(h.double.uniqueMessageIds().size).toBeLessThan(total);
    const atKill = h.double.uniqueMessageIds().size;
    startWorkerProcess();
    const final = await followJob(h.sc, started.jobId, () => undefined, 500);
    expect(final.state).toBe('completed');
    expect(final.events).toMatchObject({ sent: total });
    expect(atKill).toBeLessThan(total);
    console.log(`crash fixture: ${atKill} of ${total} delivered when the worker was killed`);
    await saveChain(h.sc, started.jobId, 'import-resumed-after-crash');
    workers.killAll();
  });

  it('a workspace job awaiting approval', async () => {
    const env = await getTestEnv();
    const token = 'sgp_fixture_token_0000';
    const api = await PublicApiDouble.start({ token, sources: [{ id: 'src_web', name: 'Web', enabled: true, writeKeys: ['wk_fixture'] }] });
    const taskQueue = h.taskQueue;
    const worker = await startTestWorker({ taskQueue, env: { SEGMENT_API_URL: api.url, SEGMENT_API_TOKEN: token } });
    try {
      const spec = parseJobSpecText(
        'name: rename web\nsteps:\n  - op: list-sources\n  - op: update-source\n    targets: [src_web]\n    set: { name: "Web (renamed)" }\n',
      );
      const handle = await env.client.workflow.start(workspaceJob, {
        taskQueue,
        workflowId: 'workspace-fixture-awaiting',
        args: [{ jobId: 'workspace-fixture-awaiting', spec }],
      });
      await waitFor(async () => (await handle.query(approvalRequestQuery)).state === 'awaiting', 60_000, 'approval request');
      const sc: SegflowClient = { client: env.client, settings: h.sc.settings, close: async () => undefined };
      await saveChain(sc, handle.workflowId, 'workspace-awaiting-approval');
      await handle.terminate('fixture recorded');
    } finally {
      await worker.stop();
      await api.stop();
    }
  });
});
