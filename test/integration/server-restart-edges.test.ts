/**
 * The Temporal server killed and restarted on the same database at the edges of a job's life (issue 14): while an
 * import's runs hand over to each other (continue-as-new every chunk), and while an import awaits approval (the
 * approval timer). The worker reconnects by itself; the chain of runs goes on, an approval given after the restart
 * starts the sending, and an approval timeout that ends across the restart expires the job with nothing sent.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { followJob, getJobStatus, startImport, type SegflowClient } from '../../src/client';
import { approvalRequestQuery, decideUpdate } from '../../src/contracts/approval';
import { startRestartableServer, type RestartableServer } from '../support/restartable-server';
import type { SegmentDouble } from '../support/segment-double';
import { waitFor } from '../support/wait';

let t: RestartableServer | undefined;
let double: SegmentDouble;
let sc: SegflowClient;

beforeAll(async () => {
  t = await startRestartableServer({ taskQueue: 'restart-edges', dirPrefix: 'segflow-restart-edges-' });
  ({ double, sc } = t);
}, 120_000);

afterAll(async () => {
  await t?.stop();
});

beforeEach(() => double.reset());

const restartServer = () => t!.restart();
const writeInput = (name: string, count: number) => t!.writeInput(name, count);

async function awaitingApproval(name: string, approvalTimeoutMs?: number) {
  const started = await startImport(sc, {
    file: writeInput(name, 1500),
    requireApproval: true,
    targetChunkBytes: 20_000,
    heartbeatTimeoutMs: 5000,
    ...(approvalTimeoutMs ? { approvalTimeoutMs } : {}),
  });
  await waitFor(async () => (await getJobStatus(sc, started.jobId)).state === 'awaiting_approval', 120_000, 'awaiting approval');
  return { started, handle: sc.client.workflow.getHandle(started.jobId) };
}

describe('server restart', () => {
  it('during continue-as-new: the chain of runs goes on and every event is delivered', async () => {
    const total = 3000;
    const started = await startImport(sc, {
      file: writeInput('can-restart', total),
      // One chunk per run: the runs hand over every few hundred events.
      targetChunkBytes: 10_000,
      chunksPerRun: 1,
      concurrency: 1,
      maxEventsPerBatch: 50,
      heartbeatTimeoutMs: 5000,
      rateLimit: { perSecond: 400, unit: 'events' },
    });
    // Kill it just after a handover: a new run has begun since the last look.
    let runs = 0;
    await waitFor(
      async () => {
        runs = (await getJobStatus(sc, started.jobId)).runs as number;
        return runs >= 2;
      },
      120_000,
      'a continue-as-new',
    );
    await waitFor(async () => ((await getJobStatus(sc, started.jobId)).runs as number) > runs, 60_000, 'the next continue-as-new');
    const handle = sc.client.workflow.getHandle(started.jobId);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    const runsAtKill = (await getJobStatus(sc, started.jobId)).runs as number;
    const deliveredAtKill = double.uniqueMessageIds().size;
    await restartServer();
    expect(deliveredAtKill).toBeLessThan(total);

    const final = await followJob(sc, started.jobId, () => undefined, 500);
    expect(final.state).toBe('completed');
    expect(final.runs as number).toBeGreaterThan(runsAtKill);
    expect(final.events).toMatchObject({ sent: total });
    expect(double.uniqueMessageIds().size).toBe(total);
    console.log(`server-restart-edges: ${double.duplicateCount()} event(s) re-sent across a restart during continue-as-new`);
  }, 300_000);

  it('during the approval wait: an approval given after the restart starts the sending', async () => {
    const { started, handle } = await awaitingApproval('approve-after-restart');
    const { planHash } = await handle.query(approvalRequestQuery);
    await restartServer();
    expect(double.stats().requests).toBe(0);
    // The client reconnects by itself; the gate still awaits the same plan.
    await waitFor(async () => (await handle.query(approvalRequestQuery)).state === 'awaiting', 120_000, 'gate awaiting after restart');
    expect((await handle.query(approvalRequestQuery)).planHash).toBe(planHash);
    const decided = await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', planHash: planHash!, by: 'alice' }] });
    expect(decided).toMatchObject({ state: 'approved', planHash, by: 'alice' });
    const final = await followJob(sc, started.jobId, () => undefined, 500);
    expect(final.state).toBe('completed');
    expect(final.approval).toMatchObject({ by: 'alice', planHash });
    expect(double.uniqueMessageIds().size).toBe(1500);
  }, 300_000);

  it('during the approval wait: a timeout that ends across the restart expires the job, nothing sent', async () => {
    const { started, handle } = await awaitingApproval('expire-across-restart', 20_000);
    await restartServer();
    const final = await followJob(sc, started.jobId, () => undefined, 500);
    expect(final.state).toBe('expired');
    expect((await handle.query(approvalRequestQuery)).decision).toMatchObject({ outcome: 'expired', timeoutMs: 20_000 });
    expect(double.stats().requests).toBe(0);
  }, 300_000);
});
