/**
 * Signed approvals end to end: a real dev server, a real worker whose environment lists approvers, the CLI's
 * keygen / approve --key / audit, and the Public API double.
 */
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseJobSpecText } from '../../src/core/job-spec';
import { generateApproverKeys, loadPrivateKey, signStatement } from '../../src/core/approvers';
import { approvalRequestQuery, approveSignal, decideUpdate, type ApprovalRequestView } from '../../src/contracts/approval';
import { workspaceJob } from '../../src/workflows/workspace-job';
import { auditJob, followJob, getJobStatus, startImport } from '../../src/client';
import { signDecision } from '../../src/cli/approval-commands';
import { runWorkspaceCli } from '../support/workspace-cli';
import { startImportHarness } from '../support/import-harness';
import { PublicApiDouble } from '../support/public-api-double';
import { ndjsonEvents, waitFor } from '../support/wait';
import { getTestEnv, startTestWorker, uniqueTaskQueue } from '../support/temporal';

const TOKEN = 'sgp_signed_approvals_token_1';
const running: Array<() => Promise<void>> = [];
const savedEnv = { ...process.env };
afterEach(async () => {
  for (const stop of running.splice(0).reverse()) await stop();
  process.env = { ...savedEnv };
  process.exitCode = undefined;
});

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const awaiting = (handle: WorkflowHandle) =>
  eventually<ApprovalRequestView>('the approval request', async () => {
    const view = await handle.query(approvalRequestQuery);
    return view.state === 'awaiting' ? view : undefined;
  });

/** The real CLI (workspace and approval commands) in this process, on the test server, output captured. */
function runCli(taskQueue: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return runWorkspaceCli({ SEGFLOW_TASK_QUEUE: taskQueue }, ...args);
}

async function setup(workerEnv: NodeJS.ProcessEnv) {
  const api = await PublicApiDouble.start({
    token: TOKEN,
    sources: [
      { id: 'src_old', name: 'Old', enabled: false, writeKeys: ['wk_old_secret'] },
      { id: 'src_app', name: 'App', enabled: true, writeKeys: ['wk_app_secret'] },
    ],
  });
  const taskQueue = uniqueTaskQueue('signed');
  const env = { SEGMENT_API_URL: api.url, SEGMENT_API_TOKEN: TOKEN, ...workerEnv };
  const worker = await startTestWorker({ taskQueue, env });
  running.push(async () => {
    await worker.stop();
    await api.stop();
  });
  const client = (await getTestEnv()).client;
  const start = (yaml: string, jobId: string) =>
    client.workflow.start(workspaceJob, {
      taskQueue,
      workflowId: jobId,
      args: [{ jobId, spec: parseJobSpecText(yaml), approvalTimeoutMs: 120_000 }],
    });
  const cli = (...args: string[]) => runCli(taskQueue, ...args);
  return { api, start, cli };
}

describe('signed approvals', () => {
  it('with approvers configured: unsigned and wrongly signed decisions are refused with the reason; a signed one approves as the key name; audit re-verifies it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'segflow-keys-'));
    const setupCli = await setup({});
    const made = await setupCli.cli('--json', 'approver', 'keygen', '--name', 'alice', '--out', dir);
    expect(made.code).toBe(0);
    const alice = JSON.parse(made.out) as { privateKeyFile: string; approversLine: string; fingerprint: string };
    expect(statSync(alice.privateKeyFile).mode & 0o777).toBe(0o600);
    for (const stop of running.splice(0).reverse()) await stop();

    const { api, start, cli } = await setup({ SEGFLOW_APPROVERS: alice.approversLine });
    const handle = await start('steps:\n  - op: update-source\n    targets: [src_app]\n    set: { enabled: false }', 'signed-job-1');
    const request = await awaiting(handle);
    expect(request.runId).toBeTruthy();

    // 1. Unsigned, under any name: refused, recorded.
    const unsigned = await handle
      .executeUpdate(decideUpdate, { args: [{ decision: 'approve', planHash: request.planHash!, by: 'alice' }] })
      .catch((e: unknown) => e);
    expect(unsigned).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(((unsigned as WorkflowUpdateFailedError).cause as Error).message).toContain('the decision must be signed');

    // 2. Signed by a key that is not alice's, claiming to be alice: refused.
    const mallory = generateApproverKeys();
    const forged = {
      v: 1 as const,
      jobId: 'signed-job-1',
      runId: request.runId!,
      planHash: request.planHash!,
      decision: 'approve' as const,
      confirmHighImpact: [],
      at: new Date().toISOString(),
      approver: 'alice',
    };
    const { signature } = signStatement(forged, loadPrivateKey(mallory.privateKeyPem, 'mallory.pem'));
    await handle.signal(approveSignal, { planHash: request.planHash!, signed: { statement: forged, signature } });
    const afterForgery = await eventually('the refusal of the forged signal', async () => {
      const view = await handle.query(approvalRequestQuery);
      return view.refusedAttempts.length === 2 ? view : undefined;
    });
    expect(afterForgery.state).toBe('awaiting');
    expect(afterForgery.refusedAttempts.map((a) => a.reason)).toEqual([
      'approvers are configured: the decision must be signed (segflow approve --key <your key>.pem)',
      `the signature does not verify against the key of alice (${alice.fingerprint})`,
    ]);
    expect(api.auditLog()).toEqual([]);

    // 3. Signed with alice's key through the CLI: approved, and `by` is the key's name, not the --by text.
    const approved = await cli('approve', 'signed-job-1', '--yes', '--key', alice.privateKeyFile, '--by', 'someone-else', '--comment', 'OPS-7');
    expect(approved.code).toBe(0);
    const result = await handle.result();
    expect(result.state).toBe('completed');
    expect(result.approval).toMatchObject({ outcome: 'approved', by: 'alice', comment: 'OPS-7' });
    expect(api.source('src_app')!.enabled).toBe(false);

    // 4. The audit reads history, shows the plan and the attempts, and re-verifies the signature.
    process.env.SEGFLOW_APPROVERS = alice.approversLine;
    const audit = await cli('audit', 'signed-job-1');
    expect(audit.code).toBe(0);
    expect(audit.out).toContain(`Plan ${request.planHash}`);
    expect(audit.out).toContain('enabled: true → false');
    expect(audit.out).toMatch(/approve by alice via update.*unsigned/);
    expect(audit.out).toContain(`OK  alice key ${alice.fingerprint}`);
    expect(audit.out).toContain('signature valid: alice');
    // Against another trusted list, the same history does not verify.
    process.env.SEGFLOW_APPROVERS = `alice: ${mallory.publicKey}`;
    const distrust = await cli('audit', 'signed-job-1');
    expect(distrust.code).toBe(1);
    expect(distrust.out).toContain('BAD alice');
    expect(readFileSync(alice.privateKeyFile, 'utf8')).toContain('PRIVATE KEY');
  });

  it('a quorum of two different approvers for destructive plans', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'segflow-keys-'));
    const first = await setup({});
    const names = ['alice', 'bob'];
    const lines: string[] = [];
    for (const name of names)
      lines.push(
        (JSON.parse((await first.cli('--json', 'approver', 'keygen', '--name', name, '--out', dir)).out) as { approversLine: string }).approversLine,
      );
    for (const stop of running.splice(0).reverse()) await stop();

    const { api, start, cli } = await setup({ SEGFLOW_APPROVERS: lines.join('\n'), SEGFLOW_APPROVAL_QUORUM_HIGH: '2' });
    const handle = await start('steps:\n  - op: delete-source\n    targets: [src_old]', 'quorum-job-1');
    await awaiting(handle);
    const confirm = ['--confirm', 'delete-source:src_old'];
    expect((await cli('approve', 'quorum-job-1', '--yes', ...confirm, '--key', join(dir, 'alice.pem'))).code).toBe(0);
    let view = await handle.query(approvalRequestQuery);
    expect(view).toMatchObject({ state: 'awaiting', needed: 2, approvals: [{ approver: 'alice' }] });
    const again = await cli('approve', 'quorum-job-1', '--yes', ...confirm, '--key', join(dir, 'alice.pem'));
    expect(again.code).toBe(2);
    expect(again.err).toContain('alice has already approved this plan');
    expect(api.auditLog()).toEqual([]);
    expect((await cli('approve', 'quorum-job-1', '--yes', ...confirm, '--key', join(dir, 'bob.pem'))).code).toBe(0);
    const result = await handle.result();
    expect(result.approval).toMatchObject({ outcome: 'approved', by: 'alice, bob' });
    expect(api.source('src_old')).toBeUndefined();
    view = await handle.query(approvalRequestQuery);
    expect(view.state).toBe('approved');
  });

  it('an import behind --require-approval takes only signed approvals too, and its audit re-verifies them across continue-as-new', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'segflow-keys-'));
    const keys = generateApproverKeys();
    const keyFile = join(dir, 'carol.pem');
    writeFileSync(keyFile, keys.privateKeyPem);
    const h = await startImportHarness({ extraEnv: { SEGFLOW_APPROVERS: `carol: ${keys.publicKey}` } });
    running.push(() => h.stop());
    const file = h.writeInput('signed.ndjson', ndjsonEvents(300, 'signed'));
    const started = await startImport(h.sc, { file, requireApproval: true, approvalTimeoutMs: 60_000, targetChunkBytes: 10_000, chunksPerRun: 2 });
    await waitFor(async () => (await getJobStatus(h.sc, started.jobId)).state === 'awaiting_approval', 30_000, 'awaiting approval');
    const handle = h.sc.client.workflow.getHandle(started.jobId);
    const request = await handle.query(approvalRequestQuery);
    const unsigned = await handle
      .executeUpdate(decideUpdate, { args: [{ decision: 'approve', planHash: request.planHash!, by: 'carol' }] })
      .catch((e: unknown) => e);
    expect(unsigned).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(h.double.stats().requests).toBe(0);
    const signed = await signDecision(keyFile, {
      jobId: started.jobId,
      runId: request.runId!,
      planHash: request.planHash!,
      decision: 'approve',
      confirmHighImpact: [],
    });
    await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', planHash: request.planHash!, signed }] });
    const final = await followJob(h.sc, started.jobId, () => undefined, 200);
    expect(final.state).toBe('completed');
    expect(final.approval).toMatchObject({ by: 'carol' });
    expect(final.runs as number).toBeGreaterThan(1);

    const report = await auditJob(h.sc, handle, { SEGFLOW_APPROVERS: `carol: ${keys.publicKey}` });
    expect(report.runs.length).toBe(final.runs);
    expect(report.planHash).toBe(request.planHash);
    expect(report.decision).toMatchObject({ outcome: 'approved', by: 'carol', planHash: request.planHash });
    expect(report.proofs).toEqual([expect.objectContaining({ approver: 'carol', verified: true })]);
    expect(report.attempts.map((a) => [a.signed, a.verified])).toEqual([
      [false, null],
      [true, true],
    ]);
  });
  it('segflow audit exits 1 on a forged chain: a statement signed for another job is shown as not bound to this run, and an approval without a verified quorum fails the audit', async () => {
    // A worker without approvers (a rogue or misconfigured one; README "What Temporal access still allows") lets an
    // unsigned approval through; the auditor, who lists alice's key, must not take the history's word for it.
    const dir = mkdtempSync(join(tmpdir(), 'segflow-keys-'));
    const keys = generateApproverKeys();
    const keyFile = join(dir, 'alice.pem');
    writeFileSync(keyFile, keys.privateKeyPem);
    const h = await startImportHarness();
    running.push(() => h.stop());
    const file = h.writeInput('forged.ndjson', ndjsonEvents(20, 'forged'));
    const started = await startImport(h.sc, { file, requireApproval: true, approvalTimeoutMs: 60_000 });
    await waitFor(async () => (await getJobStatus(h.sc, started.jobId)).state === 'awaiting_approval', 30_000, 'awaiting approval');
    const handle = h.sc.client.workflow.getHandle(started.jobId);
    const request = await handle.query(approvalRequestQuery);

    // alice's genuine statement, as another job's history holds it, replayed here.
    const replayed = await signDecision(keyFile, {
      jobId: 'another-job-1',
      runId: 'another-run-1',
      planHash: 'c'.repeat(64),
      decision: 'approve',
      confirmHighImpact: [],
    });
    await handle.signal(approveSignal, { planHash: request.planHash!, signed: replayed });
    const refused = await eventually('the refusal of the replayed statement', async () => {
      const view = await handle.query(approvalRequestQuery);
      return view.refusedAttempts.length === 1 ? view : undefined;
    });
    expect(refused.state).toBe('awaiting');
    expect(refused.refusedAttempts[0]!.reason).toMatch(/the signature is for job another-job-1, not this one/);
    await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', planHash: request.planHash!, by: 'alice' }] });
    const final = await followJob(h.sc, started.jobId, () => undefined, 200);
    expect(final.state).toBe('completed');
    expect(h.double.stats().accepted).toBe(20);

    process.env.SEGFLOW_APPROVERS = `alice: ${keys.publicKey}`;
    const audit = await runCli(h.taskQueue, 'audit', started.jobId);
    expect(audit.code).toBe(1);
    expect(audit.out).toContain('audit:  NOT BOUND TO THIS RUN: signed for job another-job-1');
    expect(audit.out).not.toContain('signature valid');
    expect(audit.out).toContain('  quorum: 0 of 1 distinct keys verified');
    expect(audit.out).toContain(
      'AUDIT FAILED: The job proceeded on an approval by alice that lacks a verified quorum: 0 of 1 required keys signed a statement bound to this run.',
    );
    // Without a trusted list the audit cannot tell who approved, and says only what history shows.
    delete process.env.SEGFLOW_APPROVERS;
    expect((await runCli(h.taskQueue, 'audit', started.jobId)).code).toBe(0);
  });
});
