/**
 * The import workflow: plans chunks, keeps a bounded window of chunk activities in flight, counts, and hands
 * over to a fresh run (continue-as-new) before its history grows large. It never sees a row: activities read
 * their own byte range of the file and return counts.
 *
 * Why one file of ~480 lines: a workflow is one function whose signal, query and update handlers share its local
 * state (totals, the window in flight, pause and approval), so it stays one closure; what does not need that state
 * already lives apart (details rendering in import-details.ts, the approval gate in approval.ts, counting in
 * src/shared/import-stats.ts, contracts in src/contracts/import-job.ts).
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  ContinueAsNew,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  allHandlersFinished,
  log,
  patched,
} from '@temporalio/workflow';
import { SEGMENT_LIMITS } from '../shared/limits';
import { rateShare } from '../shared/pacer';
import { displayLocation } from '../shared/location';
import { addChunkToTotals } from '../shared/import-stats';
import { SEGFLOW_KIND, SEGFLOW_SOURCE, SEGFLOW_STATE } from '../contracts/search-attributes';
import {
  pauseSignal,
  rateShareQuery,
  resumeSignal,
  importStatusQuery,
  type CarriedImportState,
  type ChunkResult,
  type ImportActivities,
  type ImportJobInput,
  type ImportStatus,
  type ImportTotals,
  type InputRef,
  type ProcessChunkInput,
} from '../contracts/import-job';
import { importInputProblem } from '../contracts/job-input';
import type { JobState } from '../contracts/job-state';
import { causeChain, FailureType, IMPORT_NON_RETRYABLE, rootCause } from '../contracts/failures';
import { createApprovalGate } from './approval';
import { percentOf, renderImportDetails, renderImportPlan } from './import-details';
import { recordJobState } from './metrics';

/**
 * Attempts a chunk gets before the job fails. Every failed attempt counts (a 429, a 5xx, a lost worker), and a retried
 * chunk resumes after its last acknowledged batch, so 40 attempts with backoff capped at 60 s ride out a Segment outage
 * of roughly half an hour; past that the job fails with the last error and can be started again (same messageIds).
 */
export const CHUNK_MAX_ATTEMPTS = 40;

/**
 * Input scanned by one planning call at most: planning runs as an activity, so its duration and its result stay small
 * whatever --chunk-bytes and --concurrency say.
 */
export const MAX_PLAN_BYTES_PER_CALL = 64 * 1024 * 1024;

export function emptyTotals(): ImportTotals {
  return { rowsRead: 0, rowsRejected: 0, eventsSent: 0, eventsValid: 0, batchesSent: 0, bytesDone: 0, chunksDone: 0, typeCounts: {} };
}

export async function importJob(input: ImportJobInput): Promise<ImportStatus> {
  const info = workflowInfo();
  // Before anything else: anyone who can start a workflow chooses this input, CLI or not (README "Security model").
  // A run recorded before this check, whose input a newer rule refuses, replays as it ran (no marker, no failure).
  const problem = importInputProblem(input, info);
  if (problem !== undefined && patched('validate-job-input')) throw ApplicationFailure.nonRetryable(problem, FailureType.InvalidJobInput);
  const { jobId } = input;
  let options = input.options;
  const carried: CarriedImportState = input.carried ?? {
    phase: options.requireApproval || options.dryRun ? 'validate' : 'send',
    fileSize: 0,
    dataStart: { byte: 0, line: 1, record: 0 },
    cursor: null,
    nextChunkIndex: 0,
    pending: [],
    totals: emptyTotals(),
    paused: false,
    startedAt: new Date(info.startTime).toISOString(),
    runs: 0,
  };
  carried.runs += 1;
  const fresh = input.carried === undefined;
  let state: JobState = fresh ? 'planning' : carried.paused ? 'paused' : carried.phase === 'validate' ? 'validating' : 'running';
  let inFlight = 0;
  let error: string | undefined;
  let rejectReport: string | undefined;

  // Handlers first, before any await, so no signal or query is missed (docs/temporal-notes.md, "Message handlers").
  setHandler(pauseSignal, () => {
    carried.paused = true;
    if (state === 'running' || state === 'validating') setState('paused');
  });
  setHandler(resumeSignal, () => {
    carried.paused = false;
    if (state === 'paused') setState(carried.phase === 'validate' ? 'validating' : 'running');
  });
  setHandler(importStatusQuery, () => status());
  // Chunk activities ask for their share of the rate cap while they run (src/activities/chunk-pacing.ts).
  setHandler(rateShareQuery, () =>
    options.rateLimit && sendingInFlight > 0
      ? { perSecond: rateShare(options.rateLimit.perSecond, sendingInFlight), inFlight: sendingInFlight }
      : undefined,
  );
  // --require-approval: nothing is sent before a human approves the exact totals the validation pass found. An
  // approval given in an earlier run of this chain still stands (and still shows) after continue-as-new.
  const gate = createApprovalGate(carried.approval);

  const shortActivities = proxyActivities<ImportActivities>({
    startToCloseTimeout: '10 minutes',
    retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 20, nonRetryableErrorTypes: IMPORT_NON_RETRYABLE },
  });
  // Planning reads up to MAX_PLAN_BYTES_PER_CALL and heartbeats while it does.
  const planningActivities = proxyActivities<ImportActivities>({
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: options.heartbeatTimeoutMs,
    retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 20, nonRetryableErrorTypes: IMPORT_NON_RETRYABLE },
  });
  const chunkActivityOptions = {
    // A chunk is a few MB; hours only matter under a long 429 storm or a low rate cap (the client sizes chunks so
    // one fits well inside this at the job's rate). The heartbeat timeout is what notices a dead worker quickly.
    startToCloseTimeout: '6 hours',
    heartbeatTimeout: options.heartbeatTimeoutMs,
    // Wait for a cancelled chunk to stop and say what it sent: with TRY_CANCEL (the protocol's default) the workflow
    // would move on while the chunk may still be sending (docs/temporal-notes.md, "Stopping, retrying and waiting").
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '60s',
      maximumAttempts: CHUNK_MAX_ATTEMPTS,
      nonRetryableErrorTypes: IMPORT_NON_RETRYABLE,
    },
  } as const;
  const chunkActivities = proxyActivities<ImportActivities>(chunkActivityOptions);
  let sendingInFlight = 0;

  /** What activities read: the input, or a staged job's plain copy, whose path each activity derives from the job id. */
  function inputRef(): InputRef {
    return {
      file: options.file,
      format: options.format,
      ...(carried.staged ? { jobId, staged: true as const, ...(options.reportDir !== undefined ? { reportDir: options.reportDir } : {}) } : {}),
    };
  }

  function status(): ImportStatus {
    const totals = carried.totals;
    const validation = carried.validation;
    return {
      jobId,
      kind: 'import',
      state,
      dryRun: options.dryRun,
      source: options.source,
      file: displayLocation(options.file),
      rows: { read: totals.rowsRead, rejected: totals.rowsRejected, valid: totals.eventsValid },
      events: { sent: totals.eventsSent, wouldSend: options.dryRun ? totals.eventsValid : (validation?.eventsValid ?? 0) },
      batches: { sent: totals.batchesSent },
      chunks: { done: totals.chunksDone, inFlight, planned: carried.nextChunkIndex },
      // The header (or BOM) before the first chunk counts as done once the input is inspected.
      bytes: { done: totals.bytesDone + (totals.chunksDone > 0 ? carried.dataStart.byte : 0), total: carried.fileSize },
      typeCounts: totals.typeCounts,
      serverSetFields: { rows: totals.serverFieldRows ?? 0, fields: totals.serverFields ?? [] },
      sentByDay: totals.sentByDay ?? {},
      ...(totals.minTimestamp && totals.maxTimestamp ? { timeRange: { min: totals.minTimestamp, max: totals.maxTimestamp } } : {}),
      ...(rejectReport ? { rejectReport } : {}),
      startedAt: carried.startedAt,
      updatedAt: new Date().toISOString(),
      runs: carried.runs,
      ...(carried.approval ? { approval: carried.approval } : {}),
      ...(carried.delivery ? { delivery: carried.delivery } : {}),
      ...(error ? { error } : {}),
    };
  }

  function setState(next: JobState): void {
    recordJobState('import', state, next, options.source);
    state = next;
    if (options.searchAttributes) upsertSearchAttributes([{ key: SEGFLOW_STATE, value: next }]);
    refreshDetails();
  }

  function refreshDetails(): void {
    setCurrentDetails(renderImportDetails(status(), options));
  }

  if (fresh && options.searchAttributes) {
    upsertSearchAttributes([
      { key: SEGFLOW_KIND, value: 'import' },
      { key: SEGFLOW_SOURCE, value: options.source },
    ]);
  }

  try {
    if (fresh) {
      // A worker's SEGFLOW_REQUIRE_APPROVAL=imports puts every sending import through the approval gate, whoever started
      // it. Runs recorded before this policy existed (test/fixtures/histories) replay without asking.
      if (!options.dryRun && !options.requireApproval && patched('worker-approval-policy')) {
        const policy = await shortActivities.workerApprovalPolicy();
        if (policy.imports) {
          // In the options handed to continue-as-new, so every later run of the job keeps the gate.
          options = { ...options, requireApproval: true };
          carried.phase = 'validate';
        }
      }
      if (options.inputSet) {
        // .gz and many-file inputs are staged to one plain file first (docs/compressed-and-many-files.md).
        const staged = await chunkActivities.stageInput.executeWithOptions(
          {
            ...chunkActivityOptions,
            summary: `stage ${options.inputSet.kind === 'file' ? 'compressed input' : `files of the ${options.inputSet.kind}`}`,
          },
          [
            {
              jobId,
              reportDir: options.reportDir,
              kind: options.inputSet.kind,
              location: options.file,
              format: options.format,
              digest: options.inputSet.digest,
            },
          ],
        );
        carried.staged = { files: staged.files };
      }
      const inspected = await shortActivities.inspectInput({ ...inputRef(), ignoreColumns: options.ignoreColumns });
      carried.fileSize = inspected.fileSize;
      if (inspected.fileVersion !== undefined) carried.fileVersion = inspected.fileVersion;
      carried.csvColumns = inspected.csvColumns;
      carried.cursor = inspected.start;
      carried.dataStart = inspected.start;
      setState(carried.paused ? 'paused' : carried.phase === 'validate' ? 'validating' : 'running');
    } else {
      refreshDetails();
    }

    if (carried.phase === 'validate') {
      await runChunks('validate');
      if (options.dryRun) return await finish('completed');
      carried.validation = carried.totals;
      if (options.requireApproval && !carried.approval) {
        const decided = await awaitApproval();
        if (decided) return decided;
      }
      restartForSend();
    }
    // Segment answers 200 to an unknown write key and drops the data: check the key before the first event goes out.
    // Runs recorded before this check (test/fixtures/histories) replay without it.
    if (!options.dryRun && !carried.delivery && patched('confirm-write-key')) {
      carried.delivery = await shortActivities.confirmWriteKey({ source: options.source });
      refreshDetails();
    }
    await runChunks('send');
    return await finish('completed');
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(() => finish('cancelled'));
      throw err;
    }
    if (err instanceof ContinueAsNew || (err instanceof ApplicationFailure && err.type === FailureType.ImportFailed)) throw err;
    // Inspecting the input or hashing the plan failed: the job fails with its status and the whole cause chain.
    await CancellationScope.nonCancellable(() => finish('failed', err));
    throw asWorkflowFailure(err);
  }

  /** Returns the final status when the job ends here (rejected or expired), nothing when approved. */
  async function awaitApproval(): Promise<ImportStatus | undefined> {
    const validation = carried.totals;
    const plan = {
      kind: 'import',
      jobId,
      // Binds the hash (and any approval of it) to this run: a later run of the same job id, same file and same
      // totals, has another hash and needs its own approval.
      runId: workflowInfo().runId,
      file: displayLocation(options.file),
      fileBytes: carried.fileSize,
      format: options.format,
      source: options.source,
      rowsRead: validation.rowsRead,
      rowsRejected: validation.rowsRejected,
      eventsToSend: validation.eventsValid,
      typeCounts: validation.typeCounts,
      timeRange: validation.minTimestamp ? { min: validation.minTimestamp, max: validation.maxTimestamp } : null,
      // The content the totals came from: approving the hash approves these bytes, chunk by chunk.
      chunkDigests: carried.chunkDigests ?? {},
    };
    const planHash = await shortActivities.hashImportPlan(plan);
    setState('awaiting_approval');
    const decision = await gate.awaitDecision(
      {
        planHash,
        summary: `send ${validation.eventsValid} events to source ${options.source} (${validation.rowsRejected} rows rejected)`,
        highImpact: [],
        details: renderImportPlan(plan, planHash),
      },
      options.approvalTimeoutMs,
    );
    if (decision.outcome === 'approved') {
      carried.approval = { planHash, by: decision.by, ...(decision.comment ? { comment: decision.comment } : {}), at: decision.at };
      return undefined;
    }
    if (decision.outcome === 'rejected') {
      error = `rejected by ${decision.by}: ${decision.reason}`;
      return finish('rejected');
    }
    error = `no approval within ${Math.round(decision.timeoutMs / 1000)} s; nothing was sent`;
    return finish('expired');
  }

  function restartForSend(): void {
    carried.phase = 'send';
    carried.totals = emptyTotals();
    carried.nextChunkIndex = 0;
    carried.pending = [];
    carried.cursor = { ...carried.dataStart };
    setState(carried.paused ? 'paused' : 'running');
  }

  async function runChunks(mode: 'validate' | 'send'): Promise<void> {
    const running = new Map<number, Promise<void>>();
    let startedThisRun = 0;
    let chunkFailure: unknown;
    let planning: Promise<void> | undefined;
    // Every chunk runs in this scope, so a failing chunk (or too many rejects) can stop its siblings at once.
    const chunkScope = new CancellationScope();
    const fail = (err: unknown) => {
      if (chunkFailure !== undefined) return;
      chunkFailure = err;
      if (!isCancellation(err)) chunkScope.cancel();
    };
    const chunksPerPlan = Math.max(1, Math.min(Math.max(options.concurrency * 2, 8), Math.floor(MAX_PLAN_BYTES_PER_CALL / options.targetChunkBytes)));
    // Runs recorded before planning moved alongside the chunks (test/fixtures/histories) planned inline, before
    // starting chunks; they replay that way.
    const planAhead = patched('plan-ahead-while-chunks-run');

    for (;;) {
      const budgetLeft = startedThisRun < options.chunksPerRun && !workflowInfo().continueAsNewSuggested;
      const mayStart = !carried.paused && budgetLeft && chunkFailure === undefined && !CancellationScope.current().consideredCancelled;

      // Plan ahead while chunks run, one bounded call at a time, so the next chunks are ready when a slot frees up.
      const planningDue = planAhead ? carried.pending.length <= options.concurrency : carried.pending.length < options.concurrency;
      if (mayStart && planning === undefined && carried.cursor && planningDue) {
        const from = carried.cursor;
        planning = planningActivities
          .planChunks({
            ...inputRef(),
            from,
            firstIndex: carried.nextChunkIndex + carried.pending.length,
            maxChunks: chunksPerPlan,
            targetChunkBytes: options.targetChunkBytes,
            maxRecordsPerChunk: options.maxRecordsPerChunk,
            expectedFileSize: carried.fileSize,
            expectedFileVersion: carried.fileVersion,
          })
          .then(
            (planned) => {
              carried.pending.push(...planned.chunks);
              carried.cursor = planned.next;
            },
            (err) => fail(err),
          )
          .finally(() => {
            planning = undefined;
          });
        if (!planAhead) await planning;
        continue;
      }

      if (mayStart && carried.pending.length > 0 && running.size < options.concurrency) {
        const chunk = carried.pending.shift()!;
        carried.nextChunkIndex = chunk.index + 1;
        startedThisRun += 1;
        const sending = mode === 'send';
        if (sending) sendingInFlight += 1;
        const chunkInput: ProcessChunkInput = {
          ...inputRef(),
          jobId,
          csvColumns: carried.csvColumns,
          chunk,
          expectedFileSize: carried.fileSize,
          expectedFileVersion: carried.fileVersion,
          source: options.source,
          idNamespace: options.idNamespace,
          mode,
          allowMissingTimestamp: options.allowMissingTimestamp,
          maxEventsPerBatch: options.maxEventsPerBatch,
          maxBatchBytes: options.maxBatchBytes,
          maxEventBytes: SEGMENT_LIMITS.maxEventBytes,
          rateLimit: options.rateLimit
            ? { perSecond: rateShare(options.rateLimit.perSecond, sendingInFlight), unit: options.rateLimit.unit }
            : undefined,
          jobRate: options.rateLimit ? { perSecond: options.rateLimit.perSecond, concurrency: options.concurrency } : undefined,
          reportDir: options.reportDir,
          referenceTime: carried.startedAt,
          ...(options.ignoreColumns ? { ignoreColumns: options.ignoreColumns } : {}),
          ...(sending && carried.chunkDigests?.[chunk.index] !== undefined ? { expectedDigest: carried.chunkDigests[chunk.index] } : {}),
          ...(carried.staged ? { perFileIds: options.inputSet?.kind !== 'file' } : {}),
          // A worker that requires approval sends only chunks of an approved plan (src/activities/import-activities.ts).
          ...(sending && carried.approval ? { approvedPlanHash: carried.approval.planHash } : {}),
        };
        const summary = `${mode === 'send' ? 'send' : 'validate'} chunk ${chunk.index + 1} · lines ${chunk.firstLine}–${chunk.firstLine + chunk.lines - 1} · ${chunk.records} rows`;
        const promise = chunkScope
          .run(() => chunkActivities.processChunk.executeWithOptions({ ...chunkActivityOptions, summary }, [chunkInput]))
          .then(
            (result) => addChunkResult(result),
            (err) => {
              // A stopped chunk says what it sent before it stopped: count it, so totals stay true.
              const partial = stoppedChunkResult(err);
              if (partial) addChunkResult(partial);
              fail(err);
            },
          )
          .finally(() => {
            running.delete(chunk.index);
            if (sending) sendingInFlight -= 1;
            inFlight = running.size;
            refreshDetails();
          });
        running.set(chunk.index, promise);
        inFlight = running.size;
        continue;
      }

      if (running.size > 0 || planning !== undefined) {
        await Promise.race([...running.values(), ...(planning ? [planning] : [])]);
        const tooMany = tooManyRejects();
        if (tooMany) fail(ApplicationFailure.nonRetryable(tooMany, FailureType.TooManyRejects));
        continue;
      }

      // Nothing in flight from here on.
      if (chunkFailure !== undefined) {
        // The workflow itself was cancelled: its activities report that first; let the caller close as cancelled.
        if (isCancellation(chunkFailure) || CancellationScope.current().consideredCancelled) {
          throw chunkFailure instanceof CancelledFailure ? chunkFailure : new CancelledFailure('import cancelled');
        }
        await CancellationScope.nonCancellable(() => finish('failed', chunkFailure));
        throw asWorkflowFailure(chunkFailure);
      }
      if (carried.pending.length === 0 && carried.cursor === null) return;
      if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('import cancelled');
      if (carried.paused) {
        await condition(() => !carried.paused);
        continue;
      }
      if (mayStart) continue;
      // The run's budget is spent: hand the cursor and counters to a fresh run with an empty history.
      await condition(allHandlersFinished);
      log.info('continuing as new', { jobId, chunksDone: carried.totals.chunksDone });
      await continueAsNew<typeof importJob>({ jobId, options, carried });
    }
  }

  function addChunkResult(result: ChunkResult): void {
    if (result.digest !== undefined) (carried.chunkDigests ??= {})[result.index] = result.digest;
    addChunkToTotals(carried.totals, result);
  }

  function tooManyRejects(): string | undefined {
    const totals = carried.totals;
    if (options.maxRejects !== undefined && totals.rowsRejected > options.maxRejects) {
      return `Too many rejected rows: ${totals.rowsRejected} > --max-rejects ${options.maxRejects} after ${totals.rowsRead} rows; the input looks wrong (see the reject report). Rows already sent stay sent.`;
    }
    if (options.maxRejectRate !== undefined && totals.rowsRead >= 100 && totals.rowsRejected / totals.rowsRead > options.maxRejectRate) {
      const rate = ((totals.rowsRejected / totals.rowsRead) * 100).toFixed(1);
      return `Too many rejected rows: ${rate}% of ${totals.rowsRead} rows > --max-reject-rate ${percentOf(options.maxRejectRate)}%; the input looks wrong (see the reject report). Rows already sent stay sent.`;
    }
    return undefined;
  }

  async function finish(final: JobState, failure?: unknown): Promise<ImportStatus> {
    const report = await shortActivities.finalizeReport({
      jobId,
      reportDir: options.reportDir,
      format: options.format,
      ...(carried.csvColumns ? { csvColumns: carried.csvColumns } : {}),
      ...(carried.staged ? { staged: true as const, namedFiles: options.inputSet?.kind !== 'file' } : {}),
    });
    rejectReport = report.path;
    if (failure !== undefined) error = describeFailure(failure);
    setState(final);
    return status();
  }

  function asWorkflowFailure(failure: unknown): ApplicationFailure {
    // The innermost message says what happened; the cause keeps the whole chain (which chunk, which activity,
    // which failure type) for the UI and `temporal workflow describe`.
    return ApplicationFailure.create({
      message: describeFailure(failure),
      type: FailureType.ImportFailed,
      nonRetryable: true,
      details: [status()],
      cause: failure instanceof Error ? failure : undefined,
    });
  }
}

/** The partial result a stopped chunk activity put in its CancelledFailure's details, if any. */
function stoppedChunkResult(err: unknown): ChunkResult | undefined {
  const cancelled = causeChain(err).find((failure) => failure instanceof CancelledFailure) as CancelledFailure | undefined;
  if (cancelled === undefined) return undefined;
  const detail = cancelled.details?.[0] as ChunkResult | undefined;
  return detail && typeof detail === 'object' && detail.stopped ? detail : undefined;
}

function describeFailure(failure: unknown): string {
  // An activity failure wraps the ApplicationFailure that says what happened: report the innermost message.
  const root = rootCause(failure) as { message?: string } | undefined;
  return root?.message ?? String(failure);
}
