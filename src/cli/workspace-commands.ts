/**
 * `segflow source|destination|usage|send|job|approve|reject`: the Segment workspace from the command line.
 *
 * Decisions (the README documents them):
 * - Reads (`source list|get|warehouses|destinations|schema-settings`, `destination get|metrics`, `usage api-calls`)
 *   call the Public API directly from this process, with SEGMENT_API_TOKEN / SEGMENT_API_URL of this shell.
 *   Human tables by default, `--json` for machines. Write keys are shown as fingerprints unless
 *   `source get --reveal-write-keys` (needed to deploy a rotated key).
 * - Workspace writes (`source add-labels|update|create-write-key|remove-write-key|delete`) never write directly:
 *   each starts a one-step workspace job, so it gets the same preview, plan hash, guard rails, approval and audit
 *   trail as a job file. The command prints the plan and how to approve; `--approve` chains into the approval
 *   prompt, `--wait` follows the job to its end.
 * - `send track|identify|page|screen|group|alias|batch` posts to the Tracking API directly (write key from this
 *   shell's SEGMENT_WRITE_KEY[_<SOURCE>]): it is data, not workspace configuration, and each message is checked by
 *   the importer's own rules first, and Segment's 32 KB per-event limit. A message without a messageId gets one
 *   derived from its content, its position and the source name (printed), so re-running the same command is
 *   deduplicated by Segment (its dedupe window is about 24 h); pass --message-id to send the same content twice.
 * - `approve` shows the plan and asks on a TTY. A plan with destructive items needs their ids: typed one by one at
 *   the prompt, or listed with `--confirm`; `--yes` alone never approves a destructive item. Without a TTY,
 *   `--yes` (and `--confirm` where needed) is required.
 */
import { Command, Option } from 'commander';
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { basename, extname } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { connectClient, followJob, hasSegflowSearchAttributes, UsageError, type SegflowClient } from '../client';
import { ConfigError, MissingSecretError, publicApiRoot, resolveApiToken, resolveWriteKey, SOURCE_NAME_PATTERN, trackingApiRoot, workflowUiLink } from '../config';
import { formatIssue, JobSpecError, parseJobSpecText, validateJobSpec, type JobSpec } from '../core/job-spec';
import { SEGMENT_LIMITS } from '../shared/limits';
import { validateMessage } from '../core/message-schema';
import { messageIdNamespace, uuidV5 } from '../core/message-id';
import { canonicalJson } from '../core/plan-hash';
import { CALL_TYPES, type SegmentMessage } from '../core/types';
import { destinationView, sourceView, warehouseView } from '../activities/workspace-activities';
import { PublicApiClient } from '../segment/public-api-client';
import { PublicApiError } from '../segment/public-api-errors';
import type { Granularity } from '../segment/public-api-shapes';
import { TrackingClient, TrackingFatalError, TrackingRetryableError } from '../segment/tracking-client';
import { approvalRequestQuery, decideUpdate, type ApprovalRequestView } from '../contracts/approval';
import { markdownText, plainText } from '../shared/safe-text';
import { registerApprovalCommands, signDecision } from './approval-commands';
import { globMatches, MAX_GLOB_CHARS } from '../core/glob';
import { renderPlanText } from '../core/workspace-plan/render';
import { workspaceJobStatusQuery, type WorkspaceJobStatus } from '../contracts/workspace-job';
import { DEFAULT_APPROVAL_TIMEOUT_MS } from '../contracts/defaults';
import { workspaceJob } from '../workflows/workspace-job';
import { action, EXIT, exitCodeForState, formatTable, globalOptions, printJson } from './common';

// ---------------------------------------------------------------------------------------------
// Pure helpers (exported for tests)
// ---------------------------------------------------------------------------------------------

/** `90s`, `30m`, `24h`, `2d`, or plain milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new UsageError(`Cannot read the duration "${text}"; use e.g. 90s, 30m, 24h, 2d.`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? 'ms']!;
  const ms = Math.round(Number(match[1]) * unit);
  if (ms < 1000) throw new UsageError(`The duration "${text}" is shorter than a second.`);
  return ms;
}

/** A label argument: `key:value` (Segment's notation) or `key=value`. */
export function parseLabelArg(text: string): { key: string; value: string } {
  const match = /^([^:=\s][^:=]*)[:=](.+)$/.exec(text);
  if (!match) throw new UsageError(`A label is written key:value, got "${text}".`);
  return { key: match[1]!.trim(), value: match[2]!.trim() };
}

/** `key=value`; the value is read as JSON when it parses (numbers, booleans, objects), else kept as text. */
export function parseSettingArg(text: string): [string, unknown] {
  const at = text.indexOf('=');
  if (at < 1) throw new UsageError(`A setting is written key=value, got "${text}".`);
  const raw = text.slice(at + 1);
  try {
    return [text.slice(0, at), JSON.parse(raw) as unknown];
  } catch {
    return [text.slice(0, at), raw];
  }
}

/** Why a set of confirmations does not cover a plan's destructive items, or undefined when it does. */
export function confirmationProblem(highImpact: string[], confirmed: string[]): string | undefined {
  const missing = highImpact.filter((id) => !confirmed.includes(id));
  if (missing.length) return `these destructive items are not confirmed: ${missing.join(' ')}`;
  const extra = confirmed.filter((id) => !highImpact.includes(id));
  if (extra.length) return `these ids are not destructive items of this plan: ${extra.join(' ')}`;
  return undefined;
}

export interface CallFlags {
  userId?: string;
  anonymousId?: string;
  event?: string;
  name?: string;
  category?: string;
  groupId?: string;
  previousId?: string;
  properties?: string;
  traits?: string;
  context?: string;
  integrations?: string;
  timestamp?: string;
  messageId?: string;
  data?: string;
}

function parseJsonFlag(flag: string, text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(`${flag} must be a JSON object, e.g. '{"plan":"pro"}'.`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`${flag} must be a JSON object.`);
  return value as Record<string, unknown>;
}

/** A single tracking call from flags (and `--data` JSON underneath them), before validation. */
export function buildCallFromFlags(type: string, flags: CallFlags): Record<string, unknown> {
  const message: Record<string, unknown> = { ...parseJsonFlag('--data', flags.data), type };
  const plain: Array<[keyof CallFlags, string]> = [
    ['userId', 'userId'],
    ['anonymousId', 'anonymousId'],
    ['event', 'event'],
    ['name', 'name'],
    ['category', 'category'],
    ['groupId', 'groupId'],
    ['previousId', 'previousId'],
    ['timestamp', 'timestamp'],
    ['messageId', 'messageId'],
  ];
  for (const [flag, field] of plain) if (flags[flag] !== undefined) message[field] = flags[flag];
  for (const field of ['properties', 'traits', 'context', 'integrations'] as const) {
    const value = parseJsonFlag(`--${field}`, flags[field]);
    if (value !== undefined) message[field] = value;
  }
  return message;
}

/**
 * Validates with the importer's rules and Segment's per-event size limit, and assigns a deterministic messageId
 * (UUIDv5 of the source name, the position and the message's canonical JSON); throws UsageError naming the
 * message and field.
 */
export function prepareMessages(raw: unknown[], now = new Date(), sourceName = 'default'): SegmentMessage[] {
  if (raw.length === 0) throw new UsageError('Nothing to send.');
  if (raw.length > SEGMENT_LIMITS.maxEventsPerBatch) {
    throw new UsageError(`${raw.length} messages is more than one request may carry (${SEGMENT_LIMITS.maxEventsPerBatch}); use \`segflow import\`.`);
  }
  const messages = raw.map((item, index) => {
    const result = validateMessage(item, { allowMissingTimestamp: true, now });
    const where = raw.length > 1 ? `message ${index + 1}: ` : '';
    if (!result.ok) throw new UsageError(`${where}${result.field}: ${result.reason}`);
    const messageId = result.message.messageId ?? uuidV5(`${sourceName}\n${index}\n${canonicalJson(result.message)}`, messageIdNamespace('segflow-send'));
    const message = { ...result.message, messageId } as SegmentMessage;
    const eventBytes = Buffer.byteLength(JSON.stringify(message));
    if (eventBytes > SEGMENT_LIMITS.maxEventBytes) {
      throw new UsageError(`${where}the message is ${eventBytes} bytes; Segment refuses events over ${SEGMENT_LIMITS.maxEventBytes} bytes (32 KB).`);
    }
    return message;
  });
  const bytes = Buffer.byteLength(JSON.stringify(messages));
  if (bytes > SEGMENT_LIMITS.maxBatchBytes) throw new UsageError(`${bytes} bytes is more than one request may carry; use \`segflow import\`.`);
  return messages;
}

/** JSON array, a single JSON object, or NDJSON. */
export function parseMessagesFile(text: string): unknown[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    const value = JSON.parse(trimmed) as unknown;
    if (!Array.isArray(value)) throw new UsageError('Expected a JSON array of messages.');
    return value;
  }
  const lines = trimmed.split(/\r?\n/).filter((line) => line.trim() !== '');
  return lines.map((line, index) => {
    try {
      return JSON.parse(line) as unknown;
    } catch {
      throw new UsageError(`line ${index + 1} is not JSON.`);
    }
  });
}

export function defaultJobId(base: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const clean = base.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'job';
  return `workspace-${clean}-${stamp}-${randomUUID().slice(0, 4)}`;
}

// ---------------------------------------------------------------------------------------------
// Plumbing
// ---------------------------------------------------------------------------------------------

const out = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
const note = (text: string) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);

function publicApi(): PublicApiClient {
  try {
    return new PublicApiClient({ baseUrl: publicApiRoot(process.env), token: resolveApiToken(process.env) });
  } catch (error) {
    if (error instanceof MissingSecretError) throw new UsageError('SEGMENT_API_TOKEN is not set in this shell (direct reads use the Public API token of the shell; jobs use the worker\'s).');
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
}

/** Public API failures are expected outcomes of a read: one clear line and exit code 1, no stack. */
function apiAction<A extends unknown[]>(fn: (...args: A) => Promise<number | void>) {
  return action(async (...args: A) => {
    try {
      return await fn(...args);
    } catch (error) {
      if (!(error instanceof PublicApiError)) throw error;
      note(`segflow: ${error.message}`);
      return EXIT.failed;
    }
  });
}

const isJson = (command: Command) => Boolean(globalOptions(command).json);
const yesNo = (value: boolean) => (value ? 'yes' : 'no');
const defaultBy = () => process.env.SEGFLOW_USER || process.env.USER || safeUsername();
function safeUsername(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

async function withClient<T>(fn: (sc: SegflowClient) => Promise<T>): Promise<T> {
  const sc = await connectClient();
  try {
    return await fn(sc);
  } finally {
    await sc.close();
  }
}

/** The workflow id as typed, or with the `workspace-` prefix jobs get by default. */
async function resolveJob(sc: SegflowClient, id: string): Promise<WorkflowHandle> {
  for (const candidate of [id, `workspace-${id}`]) {
    const handle = sc.client.workflow.getHandle(candidate);
    try {
      await handle.describe();
      return handle;
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
  }
  throw new UsageError(`No segflow job with id ${id}; list jobs with \`segflow list\`.`);
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new UsageError(`Timed out waiting for ${what}; is a segflow worker running on this task queue?`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Jobs, approval
// ---------------------------------------------------------------------------------------------

interface JobFlowOptions {
  wait?: boolean;
  approve?: boolean;
  by?: string;
  comment?: string;
  yes?: boolean;
  confirm?: string[];
  id?: string;
  approvalTimeout?: number;
  /** Private key file: sign the decision (required when the workers list approvers). */
  key?: string;
  /** Approver name for the signature; default: the key file's base name. */
  approver?: string;
}

async function startJob(sc: SegflowClient, spec: JobSpec, jobId: string, approvalTimeoutMs?: number): Promise<WorkflowHandle<typeof workspaceJob>> {
  const searchAttributes = await hasSegflowSearchAttributes(sc);
  return sc.client.workflow.start(workspaceJob, {
    taskQueue: sc.settings.taskQueue,
    workflowId: jobId,
    args: [{ jobId, spec, approvalTimeoutMs: approvalTimeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS, searchAttributes }],
    staticSummary: `workspace job${spec.name ? `: ${plainText(spec.name, 200)}` : ''} (${spec.steps.length} step${spec.steps.length > 1 ? 's' : ''})`.slice(0, 300),
    // At most 100 steps of at most ~250 characters each: well under the UI's limit, never cut.
    staticDetails: spec.steps.map((step, index) => `${index + 1}\. ${step.op} — ${markdownText(step.name, 120)}`).join('\n'),
  });
}

export function formatWorkspaceStatus(status: WorkspaceJobStatus): string {
  // Names, reasons and errors may quote hostile text from a job file or the workspace: sanitised like the plan.
  const t = (value: unknown) => plainText(value);
  const lines = [`Job ${t(status.jobId)}: ${status.state}${status.summary ? ` — ${t(status.summary)}` : ''}`];
  if (status.planHash) lines.push(`Plan hash ${t(status.planHash)}`);
  if (status.approval) {
    const a = status.approval;
    lines.push(a.outcome === 'approved' ? `Approved by ${t(a.by)} at ${a.at}` : a.outcome === 'rejected' ? `Rejected by ${t(a.by)}: ${t(a.reason)}` : `Approval expired at ${a.at}`);
  }
  if (status.error) lines.push(`Error: ${t(status.error)}`);
  const rows = status.steps.flatMap((step) =>
    step.items.length
      ? step.items.map((item) => [String(step.step), item.itemId, item.impact, item.status, (item.message ?? '').slice(0, 80)])
      : [[String(step.step), `(${step.op}: no items)`, '', '', '']],
  );
  if (rows.length) lines.push('', formatTable(rows, ['STEP', 'ITEM', 'IMPACT', 'STATUS', 'MESSAGE']).trimEnd());
  return lines.join('\n') + '\n';
}

/** After a job starts: show its plan (or why it was refused), then approve and/or follow it if asked. */
async function afterStart(sc: SegflowClient, handle: WorkflowHandle<typeof workspaceJob>, opts: JobFlowOptions, json: boolean): Promise<number> {
  const jobId = handle.workflowId;
  const link = workflowUiLink(sc.settings, jobId);
  const status = await waitFor('the preview', async () => {
    const s = await handle.query(workspaceJobStatusQuery);
    return s.plan || s.state !== 'running' ? s : undefined;
  });
  if (status.state === 'awaiting_approval') {
    if (opts.approve) return approveFlow(sc, handle, opts, json, opts.wait ?? true);
    if (json) printJson({ jobId, link, state: status.state, planHash: status.planHash, summary: status.summary, highImpact: status.plan?.highImpact ?? [] });
    else {
      const request = await handle.query(approvalRequestQuery);
      out(`Job ${plainText(jobId)} awaits approval\n${plainText(link)}\n`);
      showLong(await approvalView(handle, request));
      const confirm = request.highImpact.length ? ` --confirm ${request.highImpact.map((id) => plainText(id)).join(' ')}` : '';
      out(`\nApprove: segflow approve ${plainText(jobId)}${confirm}\nReject:  segflow reject ${plainText(jobId)} --reason "..."`);
    }
    if (!opts.wait) return EXIT.ok;
  }
  return follow(sc, jobId, json);
}

async function follow(sc: SegflowClient, jobId: string, json: boolean): Promise<number> {
  let last = '';
  const final = await followJob(sc, jobId, (s) => {
    if (!json && s.state !== last) note(`${jobId}: ${s.state}`);
    last = s.state;
  });
  if (json) printJson(final);
  else out(formatWorkspaceStatus(final as unknown as WorkspaceJobStatus));
  return exitCodeForState(final.state);
}

/**
 * The whole plan awaiting approval, for a terminal. A workspace job's plan is rendered from the structured plan
 * (never from the UI's markdown, which may be a summary), and only when it is the plan the request names. An
 * import's plan is a few fixed lines; they are shown sanitised line by line.
 */
export async function approvalView(handle: WorkflowHandle, request: ApprovalRequestView): Promise<string> {
  const status = (await handle.query(workspaceJobStatusQuery).catch(() => undefined)) as WorkspaceJobStatus | undefined;
  if (status?.kind === 'workspace') {
    if (!status.plan || status.planHash !== request.planHash) throw new UsageError('The plan changed while it was being read; run the command again.');
    return renderPlanText(status.plan, status.planHash);
  }
  return [`Plan ${request.planHash ?? '—'}`, plainText(request.summary ?? ''), '', ...(request.details ?? '').split('\n').map((line) => plainText(line))].join('\n');
}

/** Long text through the user's pager when it would scroll off a terminal, so nothing is missed; else printed. */
function showLong(text: string): void {
  const rows = process.stdout.rows ?? 0;
  const pager = process.env.SEGFLOW_PAGER ?? process.env.PAGER ?? 'less -FX';
  if (process.stdout.isTTY && rows > 0 && text.split('\n').length > rows - 2 && pager && pager !== 'cat') {
    const shown = spawnSync(pager, { input: `${text}\n`, stdio: ['pipe', 'inherit', 'inherit'], shell: true });
    if (!shown.error && shown.status === 0) return;
  }
  out(text);
}

/** Shows what awaits approval and sends `decide` with the hash of exactly what was shown. */
async function approveFlow(sc: SegflowClient, handle: WorkflowHandle, opts: JobFlowOptions, json: boolean, followAfter = false): Promise<number> {
  const request: ApprovalRequestView = await handle.query(approvalRequestQuery);
  if (request.state !== 'awaiting' || !request.planHash) throw new UsageError(`Job ${handle.workflowId} has nothing awaiting approval (state: ${request.state}).`);
  if (!json) showLong(await approvalView(handle, request));

  let confirmed = opts.confirm ?? [];
  const interactive = Boolean(process.stdin.isTTY) && !opts.yes;
  if (request.highImpact.length) {
    if (opts.confirm === undefined) {
      if (!interactive) {
        throw new UsageError(`This plan has destructive items; approve them by id: --confirm ${request.highImpact.join(' ')} (--yes alone is not enough).`);
      }
      note(`${request.highImpact.length} destructive item(s). Type each id to confirm it (anything else aborts):`);
      confirmed = [];
      for (const id of request.highImpact) {
        const typed = await ask(`  ${id}\n  > `);
        if (typed !== id) {
          note('Not confirmed: nothing approved.');
          return EXIT.failed;
        }
        confirmed.push(typed);
      }
    }
    const problem = confirmationProblem(request.highImpact, confirmed);
    if (problem) throw new UsageError(`Not approved: ${problem}.`);
  }
  if (!opts.yes) {
    if (!process.stdin.isTTY) throw new UsageError('Not a terminal: pass --yes to approve without a prompt.');
    const answer = await ask(`Approve plan ${request.planHash.slice(0, 12)} (${request.summary})? Type "yes": `);
    if (answer !== 'yes') {
      note('Nothing approved.');
      return EXIT.failed;
    }
  }
  const signed = opts.key
    ? await signDecision(
        opts.key,
        { jobId: handle.workflowId, runId: request.runId ?? '', planHash: request.planHash, decision: 'approve', confirmHighImpact: confirmed, ...(opts.comment ? { comment: opts.comment } : {}) },
        opts.approver,
      )
    : undefined;
  try {
    const decided = await handle.executeUpdate(decideUpdate, {
      args: [{ decision: 'approve', planHash: request.planHash, ...(signed ? { signed } : { by: opts.by ?? defaultBy() }), comment: opts.comment, confirmHighImpact: confirmed }],
    });
    if (json && !followAfter) printJson(decided);
    else if (decided.state === 'awaiting') {
      note(`Approval of plan ${decided.planHash.slice(0, 12)} by ${plainText(decided.by)} recorded: ${decided.approvals?.length ?? 1} of ${decided.needed ?? '?'} approvers; the plan runs once enough different approvers have signed.`);
    } else note(`Approved plan ${decided.planHash.slice(0, 12)} as ${plainText(decided.by)}.`);
  } catch (error) {
    if (error instanceof WorkflowUpdateFailedError) throw new UsageError(`Approval refused: ${(error.cause as Error | undefined)?.message ?? error.message}`);
    throw error;
  }
  return followAfter ? follow(sc, handle.workflowId, json) : EXIT.ok;
}

/** Each workspace write from the CLI is a one-step job: same preview, guard rails and approval as a job file. */
async function runOneStepJob(step: Record<string, unknown>, opts: JobFlowOptions, command: Command): Promise<number> {
  const result = validateJobSpec({ name: `${String(step.op)} (segflow ${command.parent?.name() ?? ''} ${command.name()})`.trim(), steps: [step] });
  if (!result.ok) throw new UsageError(result.issues.map((issue) => formatIssue(issue)).join('; '));
  return withClient(async (sc) => {
    const ids = (step.targets as string[] | undefined)?.join('-') ?? '';
    const handle = await startJob(sc, result.spec, opts.id ?? defaultJobId(`${String(step.op)}-${ids}`), opts.approvalTimeout);
    if (!isJson(command)) note(`Started job ${handle.workflowId}`);
    return afterStart(sc, handle, opts, isJson(command));
  });
}

function addJobFlowOptions(command: Command): Command {
  return command
    .option('--approve', 'approve right away (shows the plan and asks; destructive items need their ids)')
    .option('--wait', 'follow the job until it ends')
    .option('--by <name>', 'who approves (with --approve)', defaultBy())
    .option('--comment <text>', 'approval comment (with --approve)')
    .option('--yes', 'approve without the yes/no prompt (destructive items still need --confirm)')
    .option('--confirm <ids...>', 'ids of the destructive items you approve')
    .option('--key <file>', 'sign the approval with this private key (with --approve)')
    .option('--approver <name>', 'approver name of the key (default: the key file name)')
    .option('--id <jobId>', 'job id (default: derived from the operation and the time)')
    .option('--approval-timeout <duration>', 'how long the job waits for approval (e.g. 30m, 24h)', parseDuration);
}

// ---------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------

export function registerWorkspaceCommands(program: Command): void {
  registerSourceCommands(program);
  registerDestinationCommands(program);
  registerUsageCommands(program);
  registerSendCommands(program);
  registerJobCommands(program);
  registerApprovalCommands(program, resolveJob, withClient);
}

function registerSourceCommands(program: Command): void {
  const source = program.command('source').description('Sources of the Segment workspace (Public API; writes run as approved jobs)');

  source
    .command('list')
    .description('List every source (follows pagination to the end)')
    .option('--label <key:value...>', 'only sources carrying all these labels')
    .option('--name <glob>', 'only sources whose name or slug matches (e.g. "web-*")')
    .action(apiAction(async (opts: { label?: string[]; name?: string }, command: Command) => {
      const wanted = (opts.label ?? []).map(parseLabelArg);
      const glob = opts.name;
      if (glob !== undefined && glob.length > MAX_GLOB_CHARS) throw new UsageError(`--name is a pattern of at most ${MAX_GLOB_CHARS} characters.`);
      const sources = (await publicApi().listSources())
        .filter((s) => wanted.every((w) => s.labels.some((l) => l.key === w.key && l.value === w.value)))
        .filter((s) => glob === undefined || globMatches(glob, s.name ?? '') || globMatches(glob, s.slug))
        .map(sourceView);
      if (isJson(command)) printJson(sources);
      else out(formatTable(sources.map((s) => [s.id, s.name ?? '', s.slug, yesNo(s.enabled), s.labels.join(', '), String(s.writeKeyCount), s.type]), ['ID', 'NAME', 'SLUG', 'ENABLED', 'LABELS', 'KEYS', 'TYPE']));
    }));

  source
    .command('get')
    .description('Show one source; write keys as fingerprints (what job files use to name them)')
    .argument('<sourceId>')
    .option('--reveal-write-keys', 'print the write keys themselves (to deploy a rotated key); never paste them into job files')
    .action(apiAction(async (sourceId: string, opts: { revealWriteKeys?: boolean }, command: Command) => {
      const { source: raw, trackingPlanId } = await publicApi().getSource(sourceId);
      const view = { ...sourceView(raw), trackingPlanId, ...(opts.revealWriteKeys ? { writeKeys: raw.writeKeys } : {}) };
      if (isJson(command)) return printJson(view);
      const keys = view.writeKeyFingerprints.map((fp, index) => `#${index} ${fp}${opts.revealWriteKeys ? `  ${raw.writeKeys[index]}` : ''}`);
      out(
        [
          `id:        ${view.id}`,
          `name:      ${view.name ?? ''}`,
          `slug:      ${view.slug}`,
          `type:      ${view.type}`,
          `enabled:   ${yesNo(view.enabled)}`,
          `labels:    ${view.labels.join(', ') || '—'}`,
          `plan:      ${trackingPlanId ?? '—'}`,
          `writeKeys: ${keys.length ? keys.join('\n           ') : '— (none visible: the token may lack source-admin permission)'}`,
        ].join('\n'),
      );
    }));

  source
    .command('warehouses')
    .description('Warehouses connected to a source')
    .argument('<sourceId>')
    .action(apiAction(async (sourceId: string, _opts: unknown, command: Command) => {
      const warehouses = (await publicApi().listConnectedWarehouses(sourceId)).map(warehouseView);
      if (isJson(command)) printJson(warehouses);
      else out(warehouses.length ? formatTable(warehouses.map((w) => [w.id, w.name ?? '', w.type, yesNo(w.enabled)]), ['ID', 'NAME', 'TYPE', 'ENABLED']) : 'No connected warehouses.');
    }));

  source
    .command('destinations')
    .description('Destinations connected to a source')
    .argument('<sourceId>')
    .action(apiAction(async (sourceId: string, _opts: unknown, command: Command) => {
      const destinations = (await publicApi().listConnectedDestinations(sourceId)).map(destinationView);
      if (isJson(command)) printJson(destinations);
      else out(destinations.length ? formatTable(destinations.map((d) => [d.id, d.name ?? '', d.type, yesNo(d.enabled)]), ['ID', 'NAME', 'TYPE', 'ENABLED']) : 'No connected destinations.');
    }));

  source
    .command('schema-settings')
    .description('Protocols schema settings of a source')
    .argument('<sourceId>')
    .action(apiAction(async (sourceId: string, _opts: unknown, command: Command) => {
      const { settings } = await publicApi().getSchemaSettings(sourceId);
      if (isJson(command)) return printJson(settings);
      const rows: string[][] = [];
      for (const [group, value] of Object.entries(settings)) {
        if (value !== null && typeof value === 'object') for (const [key, v] of Object.entries(value)) rows.push([group, key, String(v)]);
        else rows.push([group, '', String(value)]);
      }
      out(formatTable(rows, ['CALL', 'SETTING', 'VALUE']));
    }));

  addJobFlowOptions(
    source
      .command('add-labels')
      .description('Add labels to a source (as an approved one-step job)')
      .argument('<sourceId>')
      .argument('<labels...>', 'key:value labels')
      .option('--create-missing', 'create labels the workspace does not have yet'),
  ).action(action(async (sourceId: string, labels: string[], opts: JobFlowOptions & { createMissing?: boolean }, command: Command) =>
    runOneStepJob({ op: 'add-labels', targets: [sourceId], labels: labels.map(parseLabelArg), createMissingLabels: Boolean(opts.createMissing) }, opts, command),
  ));

  addJobFlowOptions(
    source
      .command('update')
      .description('Change name, enabled, slug or settings of a source (as an approved one-step job)')
      .argument('<sourceId>')
      .option('--name <name>')
      .option('--enable', 'enable the source')
      .option('--disable', 'disable the source (it stops receiving data)')
      .option('--slug <slug>')
      .option('--setting <key=value...>', 'settings to change (value parsed as JSON when possible), merged into the current ones'),
  ).action(action(async (sourceId: string, opts: JobFlowOptions & { name?: string; enable?: boolean; disable?: boolean; slug?: string; setting?: string[] }, command: Command) => {
    if (opts.enable && opts.disable) throw new UsageError('Use either --enable or --disable.');
    const set: Record<string, unknown> = {};
    if (opts.name !== undefined) set.name = opts.name;
    if (opts.enable) set.enabled = true;
    if (opts.disable) set.enabled = false;
    if (opts.slug !== undefined) set.slug = opts.slug;
    if (opts.setting?.length) set.settings = Object.fromEntries(opts.setting.map(parseSettingArg));
    if (Object.keys(set).length === 0) throw new UsageError('Nothing to change: pass --name, --enable/--disable, --slug or --setting.');
    return runOneStepJob({ op: 'update-source', targets: [sourceId], set }, opts, command);
  }));

  addJobFlowOptions(
    source.command('create-write-key').description('Create a new write key for a source, e.g. to rotate keys (as an approved one-step job)').argument('<sourceId>'),
  ).action(action(async (sourceId: string, opts: JobFlowOptions, command: Command) => runOneStepJob({ op: 'create-write-key', targets: [sourceId] }, opts, command)));

  addJobFlowOptions(
    source
      .command('remove-write-key')
      .description('Remove a write key, named by fingerprint or #index from `source get` (destructive; approved one-step job)')
      .argument('<sourceId>')
      .argument('<key>', 'fingerprint (or a prefix of 8+ characters) or #index')
      .option('--force', 'allow removing the last write key of an enabled source'),
  ).action(action(async (sourceId: string, key: string, opts: JobFlowOptions & { force?: boolean }, command: Command) => {
    const writeKey = /^#\d+$/.test(key) ? { index: Number(key.slice(1)) } : { fingerprint: key.toLowerCase() };
    return runOneStepJob({ op: 'remove-write-key', targets: [sourceId], writeKey, force: Boolean(opts.force) }, opts, command);
  }));

  addJobFlowOptions(
    source
      .command('delete')
      .description('Delete a source (destructive, irreversible; approved one-step job)')
      .argument('<sourceId>')
      .option('--force', 'allow deleting a source that is enabled or still connected to destinations/warehouses'),
  ).action(action(async (sourceId: string, opts: JobFlowOptions & { force?: boolean }, command: Command) =>
    runOneStepJob({ op: 'delete-source', targets: [sourceId], force: Boolean(opts.force) }, opts, command),
  ));
}

function registerDestinationCommands(program: Command): void {
  const destination = program.command('destination').description('Destinations of the Segment workspace (Public API, read-only)');

  destination
    .command('get')
    .description('Show one destination (settings are not shown: they hold third-party credentials)')
    .argument('<destinationId>')
    .action(apiAction(async (destinationId: string, _opts: unknown, command: Command) => {
      const view = destinationView(await publicApi().getDestination(destinationId));
      if (isJson(command)) return printJson(view);
      out([`id:       ${view.id}`, `name:     ${view.name ?? ''}`, `type:     ${view.type} (${view.metadataId})`, `enabled:  ${yesNo(view.enabled)}`, `sourceId: ${view.sourceId}`].join('\n'));
    }));

  destination
    .command('metrics')
    .description('Delivery metrics summary of a destination for one source (windows: MINUTE ≤ 4 h within 48 h, HOUR ≤ 7 d, DAY ≤ 14 d)')
    .argument('<destinationId>')
    .requiredOption('--source <sourceId>', 'the source whose deliveries to count (required by Segment)')
    .option('--start <iso>', 'window start (ISO-8601)')
    .option('--end <iso>', 'window end (ISO-8601, default now)')
    .addOption(new Option('--granularity <g>', 'bucket size').choices(['MINUTE', 'HOUR', 'DAY']))
    .action(apiAction(async (destinationId: string, opts: { source: string; start?: string; end?: string; granularity?: Granularity }, command: Command) => {
      const summary = await publicApi().getDeliveryMetrics(destinationId, { sourceId: opts.source, startTime: opts.start, endTime: opts.end, granularity: opts.granularity });
      if (isJson(command)) return printJson(summary);
      out(summary.metrics.length ? formatTable(summary.metrics.map((m) => [m.metricName, String(m.total)]), ['METRIC', 'TOTAL']) : 'No metrics in this window.');
    }));
}

function registerUsageCommands(program: Command): void {
  const usage = program.command('usage').description('Workspace usage (Public API, read-only)');
  usage
    .command('api-calls')
    .description('Daily API calls per source (cumulative within the usage month, as Segment reports them)')
    .requiredOption('--period <yyyy-mm-01>', 'the usage month, as its first day')
    .option('--source <sourceId>', 'only this source')
    .option('--workspace', 'whole-workspace totals instead of per source')
    .action(apiAction(async (opts: { period: string; source?: string; workspace?: boolean }, command: Command) => {
      if (!/^\d{4}-(0[1-9]|1[0-2])-01$/.test(opts.period)) throw new UsageError(`--period is the first day of a month, e.g. 2024-05-01; got "${opts.period}".`);
      const api = publicApi();
      if (opts.workspace) {
        const entries = await api.getDailyWorkspaceApiCalls(opts.period);
        if (isJson(command)) return printJson(entries);
        return void out(formatTable(entries.map((e) => [e.timestamp.slice(0, 10), e.apiCalls]), ['DAY', 'API CALLS (CUMULATIVE)']));
      }
      const entries = (await api.getDailySourceApiCalls(opts.period)).filter((e) => !opts.source || e.sourceId === opts.source);
      if (isJson(command)) return printJson(entries);
      out(entries.length ? formatTable(entries.map((e) => [e.timestamp.slice(0, 10), e.sourceId, e.apiCalls]), ['DAY', 'SOURCE', 'API CALLS (CUMULATIVE)']) : 'No usage in this period.');
    }));
}

function registerSendCommands(program: Command): void {
  const send = program.command('send').description('Send a few events to the Tracking API, checked with the importer\'s rules (use `segflow import` for volume)');

  const post = async (messages: SegmentMessage[], sourceName: string, command: Command): Promise<number> => {
    if (!SOURCE_NAME_PATTERN.test(sourceName)) throw new UsageError(`Invalid --source "${sourceName}".`);
    let writeKey: string;
    try {
      writeKey = resolveWriteKey(sourceName, process.env);
    } catch (error) {
      if (error instanceof MissingSecretError) throw new UsageError(`${error.variable} is not set in this shell: it holds the write key of source "${sourceName}".`);
      throw error;
    }
    let apiRoot: string;
    try {
      apiRoot = trackingApiRoot(process.env);
    } catch (error) {
      if (error instanceof ConfigError) throw new UsageError(error.message);
      throw error;
    }
    const client = new TrackingClient({ apiRoot, writeKey });
    // The one sender (src/segment/tracking-client.ts). Same messageIds on every attempt: Segment drops the
    // duplicates if an earlier attempt got through.
    const refused: string[] = [];
    try {
      await client.send(
        messages.map((message) => ({ serialized: JSON.stringify(message), messageId: message.messageId })),
        { retries: 3, onRefused: (event, reason) => void refused.push(`${event.messageId}: ${reason}`) },
      );
    } catch (error) {
      if (error instanceof TrackingRetryableError || error instanceof TrackingFatalError) throw new UsageError(`Not sent: ${error.reason}`);
      throw error;
    }
    if (refused.length > 0) throw new UsageError(`Not sent: ${refused.join('; ')}`);
    if (isJson(command)) printJson({ sent: messages.length, messageIds: messages.map((m) => m.messageId) });
    else out(`Sent ${messages.length} message(s) to source "${sourceName}": ${messages.map((m) => m.messageId).join(', ')}`);
    return EXIT.ok;
  };

  for (const type of CALL_TYPES) {
    send
      .command(type)
      .description(`Send one ${type} call`)
      .option('--source <name>', 'source name; its write key comes from SEGMENT_WRITE_KEY[_<NAME>]', 'default')
      .option('--user-id <id>')
      .option('--anonymous-id <id>')
      .option('--event <name>', 'track: event name')
      .option('--name <name>', 'page/screen name')
      .option('--category <category>', 'page category')
      .option('--group-id <id>', 'group: the group')
      .option('--previous-id <id>', 'alias: the old id')
      .option('--properties <json>')
      .option('--traits <json>')
      .option('--context <json>')
      .option('--integrations <json>')
      .option('--timestamp <iso>', 'when it happened (default: now, set by Segment)')
      .option('--message-id <id>', 'dedupe key (default: a new UUID, printed)')
      .option('--data <json>', 'the whole message as JSON; flags override its fields')
      .action(action(async (opts: CallFlags & { source: string }, command: Command) => post(prepareMessages([buildCallFromFlags(type, opts)], new Date(), opts.source), opts.source, command)));
  }

  send
    .command('batch')
    .description('Send a small set of messages (JSON array or NDJSON, each with its type) in one request')
    .argument('<file>', 'file with the messages, or - for stdin')
    .option('--source <name>', 'source name; its write key comes from SEGMENT_WRITE_KEY[_<NAME>]', 'default')
    .action(action(async (file: string, opts: { source: string }, command: Command) => {
      const text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
      return post(prepareMessages(parseMessagesFile(text), new Date(), opts.source), opts.source, command);
    }));
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function registerJobCommands(program: Command): void {
  const job = program.command('job').description('Workspace batch jobs: preview, human approval, then execution');

  addJobFlowOptions(
    job
      .command('run')
      .description('Validate a job file (YAML or JSON) and start it; it previews, then waits for approval before any write')
      .argument('<file>'),
  )
    .addHelpText('after', '\nExamples:\n  segflow job run cleanup.yaml\n  segflow job run cleanup.yaml --wait\n  segflow job run rotate.yaml --approve --confirm remove-write-key:src_1:ab12cd34ef56')
    .action(action(async (file: string, opts: JobFlowOptions, command: Command) => {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch {
        throw new UsageError(`Cannot read job file ${file}.`);
      }
      let spec: JobSpec;
      try {
        spec = parseJobSpecText(text, file);
      } catch (error) {
        if (error instanceof JobSpecError) throw new UsageError(error.message);
        throw error;
      }
      return withClient(async (sc) => {
        const handle = await startJob(sc, spec, opts.id ?? defaultJobId(spec.name ?? basename(file, extname(file))), opts.approvalTimeout);
        if (!isJson(command)) note(`Started job ${handle.workflowId}\n${workflowUiLink(sc.settings, handle.workflowId)}`);
        return afterStart(sc, handle, opts, isJson(command));
      });
    }));

  job
    .command('status')
    .description('Plan, approval and per-item outcomes of a workspace job')
    .argument('<jobId>')
    .action(action(async (jobId: string, _opts: unknown, command: Command) =>
      withClient(async (sc) => {
        const handle = await resolveJob(sc, jobId);
        const status = await handle.query(workspaceJobStatusQuery);
        if (isJson(command)) printJson(status);
        else out(formatWorkspaceStatus(status));
        return EXIT.ok;
      }),
    ));

  program
    .command('approve')
    .description('Show the plan a job waits on and approve it (workspace jobs and imports with --require-approval)')
    .argument('<jobId>')
    .option('--by <name>', 'who approves', defaultBy())
    .option('--comment <text>', 'why, for the audit trail')
    .option('--yes', 'no yes/no prompt (destructive items still need --confirm)')
    .option('--confirm <ids...>', 'ids of every destructive item of the plan')
    .option('--key <file>', 'sign the approval with this private key (segflow approver keygen); required when the workers list approvers')
    .option('--approver <name>', 'the approver name the key is listed under (default: the key file name, alice.pem -> alice)')
    .option('--wait', 'follow the job until it ends')
    .addHelpText('after', '\nExamples:\n  segflow approve workspace-cleanup-20240501-101500-ab12\n  segflow approve <id> --yes --confirm delete-source:src_1 --comment "ticket OPS-42"\n  segflow approve <id> --key ~/.segflow/alice.pem')
    .action(action(async (jobId: string, opts: JobFlowOptions, command: Command) =>
      withClient(async (sc) => approveFlow(sc, await resolveJob(sc, jobId), opts, isJson(command), Boolean(opts.wait))),
    ));

  program
    .command('reject')
    .description('Reject the plan a job waits on; the job ends with nothing changed')
    .argument('<jobId>')
    .requiredOption('--reason <text>', 'why (kept in the job history)')
    .option('--by <name>', 'who rejects', defaultBy())
    .option('--key <file>', 'sign the rejection with this private key; required when the workers list approvers')
    .option('--approver <name>', 'the approver name the key is listed under (default: the key file name)')
    .action(action(async (jobId: string, opts: { reason: string; by: string; key?: string; approver?: string }, command: Command) =>
      withClient(async (sc) => {
        const handle = await resolveJob(sc, jobId);
        let signed;
        if (opts.key) {
          const request = await handle.query(approvalRequestQuery);
          if (request.state !== 'awaiting' || !request.planHash) throw new UsageError(`Job ${handle.workflowId} has nothing awaiting approval (state: ${request.state}).`);
          signed = await signDecision(opts.key, { jobId: handle.workflowId, runId: request.runId ?? '', planHash: request.planHash, decision: 'reject', confirmHighImpact: [], reason: opts.reason }, opts.approver);
        }
        try {
          const decided = await handle.executeUpdate(decideUpdate, { args: [{ decision: 'reject', reason: opts.reason, ...(signed ? { signed } : { by: opts.by }) }] });
          if (isJson(command)) printJson(decided);
          else out(`Rejected ${handle.workflowId} as ${plainText(decided.by)}: nothing was changed.`);
        } catch (error) {
          if (error instanceof WorkflowUpdateFailedError) throw new UsageError(`Reject refused: ${(error.cause as Error | undefined)?.message ?? error.message}`);
          throw error;
        }
        return EXIT.ok;
      }),
    ));
}
