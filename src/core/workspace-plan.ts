/**
 * From a job spec and the workspace state fetched by the preview, the exact plan a human approves: per step and
 * per target, what changes from what to what, and how risky it is. Pure: no I/O, no clock.
 *
 * Steps are planned in order against a *simulated* state, so a later step sees the effect of an earlier one
 * (disable in step 1, delete in step 2; add a label twice and the second is "unchanged").
 *
 * Write keys are secrets: the plan (which goes into Temporal history) only ever holds their fingerprints.
 *
 * Guard rails. A refusal stops the job before approval is even asked for; nothing is written. `force: true` on the
 * step lifts the rules marked (force):
 *   - unknown-source            a named source does not exist (404), or was deleted by an earlier step
 *   - missing-label             add-labels names a label the workspace lacks and createMissingLabels is not set
 *   - unknown-write-key         remove-write-key matches no key (wrong fingerprint/index, or the token cannot see keys)
 *   - new-write-key             remove-write-key points at a key this same job creates
 *   - last-write-key    (force) removing the only write key of an enabled source would stop its data
 *   - delete-enabled    (force) deleting a source that is still enabled (disable it in an earlier step)
 *   - delete-connected  (force) deleting a source that still has connected destinations or warehouses
 *   - destructive-selector (force) a destructive step must name its sources by id, not by label or name pattern
 * The activities re-check last-write-key, delete-enabled and delete-connected against live state right before
 * writing (`recheckItem`), since the workspace can change while the approval waits.
 */
import { globMatches } from './glob';
import type { JobLabel, JobSpec, JobStep, JobTargets, StepOf } from './job-spec';
import { messageIdNamespace, uuidV5 } from './message-id';
import { canonicalJson, sha256Hex } from './plan-hash';
import type { SegmentMessage } from './types';
import type { ValidatedMessage } from './message-schema';
import { markdownText, plainText } from '../shared/safe-text';

export type Impact = 'read' | 'write' | 'destructive';

/** A source as the preview saw it. Write keys appear only as fingerprints. Settings are kept out of the plan. */
export interface SourceSnapshot {
  id: string;
  name: string | null;
  slug: string;
  enabled: boolean;
  labels: JobLabel[];
  writeKeyFingerprints: string[];
  destinations: Array<{ id: string; name: string | null; enabled: boolean }>;
  warehouses: Array<{ id: string; name: string | null; enabled: boolean }>;
  /** API calls in the current usage month so far (Segment counts cumulatively per day); null if unavailable. */
  apiCalls: { period: string; total: string; lastDay: string | null } | null;
}

/** What the planner needs about a source. Details are only required for sources a step targets. */
export interface SourceState extends Omit<SourceSnapshot, 'destinations' | 'warehouses' | 'apiCalls'> {
  settings: Record<string, unknown>;
  destinations?: SourceSnapshot['destinations'];
  warehouses?: SourceSnapshot['warehouses'];
  apiCalls?: SourceSnapshot['apiCalls'];
}

export interface WorkspaceState {
  /** Every source the preview fetched: the full list when a selector needed it, else the named ones. */
  sources: SourceState[];
  /** Named sources that do not exist. */
  missingSourceIds: string[];
  /** Workspace labels; null when no step needed them. */
  labels: JobLabel[] | null;
}

export interface PlanChange {
  field: string;
  from: unknown;
  to: unknown;
}

export type PlanTarget =
  | { kind: 'source'; id: string; name: string | null }
  | { kind: 'destination'; id: string }
  | { kind: 'workspace'; id: string }
  | { kind: 'tracking'; id: string };

export type PlanAction =
  | { op: 'list-sources' }
  | { op: 'get-source'; sourceId: string }
  | { op: 'list-warehouses'; sourceId: string }
  | { op: 'schema-settings'; sourceId: string }
  | { op: 'get-destination'; destinationId: string }
  | { op: 'delivery-metrics'; destinationId: string; sourceId: string; startTime?: string; endTime?: string; granularity?: 'MINUTE' | 'HOUR' | 'DAY' }
  /** `sourceId` only in plans from before `scope` existed (read as sourceIds: [sourceId]). */
  | { op: 'api-calls-usage'; period: string; scope?: 'sources' | 'workspace'; sourceIds?: string[]; sourceId?: string }
  | { op: 'create-label'; label: JobLabel }
  | { op: 'add-labels'; sourceId: string; labels: JobLabel[] }
  | { op: 'update-source'; sourceId: string; set: { name?: string; enabled?: boolean; slug?: string; settings?: Record<string, unknown> } }
  | { op: 'create-write-key'; sourceId: string; keyCountBefore: number }
  /** `keysBefore`: the source's key fingerprints as approved, right before this removal (new keys as placeholders). */
  | { op: 'remove-write-key'; sourceId: string; fingerprint: string; force: boolean; keysBefore: string[] }
  /** `approved`: the state the approver saw the source in, re-checked before the delete even under force. */
  | { op: 'delete-source'; sourceId: string; force: boolean; approved: { enabled: boolean; destinationIds: string[]; warehouseIds: string[] } }
  | { op: 'send'; source: string; messages: SegmentMessage[] };

export type PlanOp = PlanAction['op'];

export type PlanItem = PlanAction & {
  /** Unique in the plan; destructive items are confirmed by this id (`delete-source:src_1`). */
  id: string;
  /** 1-based step number. */
  step: number;
  stepName: string;
  impact: Impact;
  /** The desired state already holds at preview time: the item is reported, never executed. */
  unchanged: boolean;
  continueOnError: boolean;
  target: PlanTarget;
  changes: PlanChange[];
  /** Guard rails the step's `force: true` lifted for this item (shown to the approver wherever it applies). */
  forced?: GuardRule[];
};

export type GuardRule =
  | 'unknown-source'
  | 'missing-label'
  | 'unknown-write-key'
  | 'new-write-key'
  | 'last-write-key'
  | 'delete-enabled'
  | 'delete-connected'
  | 'destructive-selector'
  | 'plan-too-large';

export interface PlanRefusal {
  step: number;
  stepName: string;
  target?: string;
  rule: GuardRule;
  message: string;
}

export interface PlanSummary {
  steps: number;
  items: number;
  reads: number;
  writes: number;
  destructive: number;
  unchanged: number;
  targets: number;
}

export interface WorkspacePlan {
  jobId: string;
  /**
   * The workflow run that asked for approval. It is part of the hashed plan, so an approval of one run can never
   * approve another run of the same job id, even with an unchanged workspace.
   */
  runId: string;
  jobName: string | null;
  items: PlanItem[];
  /** Every targeted source as the preview saw it. */
  targets: SourceSnapshot[];
  refusals: PlanRefusal[];
  warnings: string[];
  summary: PlanSummary;
  /** Ids of the destructive items that will run: an approval must list every one of them. */
  highImpact: string[];
  /** True when at least one item writes. */
  requiresApproval: boolean;
}

export type OutcomeStatus = 'applied' | 'already-applied' | 'unchanged' | 'read' | 'failed' | 'not-run';

/** What happened to one plan item (the job result lists one per item). */
export interface ItemOutcome {
  itemId: string;
  step: number;
  op: PlanOp;
  target: string;
  status: OutcomeStatus;
  message?: string;
  /** Read results, kept small (they go into history). */
  data?: unknown;
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/** How write keys are shown everywhere: 12 hex characters of a sha256, enough to tell a source's keys apart. */
export function writeKeyFingerprint(writeKey: string): string {
  return sha256Hex(`segflow-write-key\0${writeKey}`).slice(0, 12);
}

export function planHash(plan: WorkspacePlan): string {
  return sha256Hex(canonicalJson(plan));
}

export const formatLabel = (label: JobLabel): string => `${label.key}:${label.value}`;
const sameLabel = (a: JobLabel, b: JobLabel) => a.key === b.key && a.value === b.value;
const sameValue = (a: unknown, b: unknown) => canonicalJson(a ?? null) === canonicalJson(b ?? null);

/** Source ids a step's targets name, in a stable order; explicit ids keep the file's order. */
export function resolveTargets(targets: JobTargets, sources: ReadonlyArray<Pick<SourceState, 'id' | 'name' | 'slug' | 'labels'>>): string[] {
  if (targets.sourceIds) return [...new Set(targets.sourceIds)];
  return sources
    .filter((source) => (targets.labels ?? []).every((wanted) => source.labels.some((have) => sameLabel(have, wanted))))
    .filter((source) => targets.name === undefined || globMatches(targets.name, source.name ?? '') || globMatches(targets.name, source.slug))
    .map((source) => source.id)
    .sort();
}

function stepTargets(step: JobStep): JobTargets | undefined {
  return 'targets' in step ? step.targets : undefined;
}

/** What the preview must fetch before planning (so the activity does not guess). */
export function previewNeeds(spec: JobSpec): { listAllSources: boolean; explicitSourceIds: string[]; labels: boolean } {
  let listAllSources = false;
  const explicit = new Set<string>();
  for (const step of spec.steps) {
    const targets = stepTargets(step);
    if (targets?.sourceIds) targets.sourceIds.forEach((id) => explicit.add(id));
    else if (targets) listAllSources = true;
    if (step.op === 'list-sources') listAllSources = true;
  }
  return { listAllSources, explicitSourceIds: [...explicit], labels: spec.steps.some((step) => step.op === 'add-labels') };
}

/** Every source id some step targets, once resolved against the fetched sources. */
export function targetedSourceIds(spec: JobSpec, sources: ReadonlyArray<Pick<SourceState, 'id' | 'name' | 'slug' | 'labels'>>): string[] {
  const ids = new Set<string>();
  for (const step of spec.steps) {
    const targets = stepTargets(step);
    if (targets) resolveTargets(targets, sources).forEach((id) => ids.add(id));
  }
  const known = new Set(sources.map((source) => source.id));
  return [...ids].filter((id) => known.has(id));
}

/**
 * Deterministic messageId of a job's message: a UUIDv5 under a namespace of its own, so an activity retried after a
 * crash re-sends the same ids and Segment drops the duplicates (dedupe window ≥ 24 h, docs/segment-tracking-api.md,
 * "Deduplication").
 */
export function jobMessageId(jobId: string, step: number, index: number): string {
  return uuidV5(`${jobId}\n${step}\n${index}`, messageIdNamespace('workspace-job'));
}

const IMPACT_OF: Record<PlanOp, Impact> = {
  'list-sources': 'read',
  'get-source': 'read',
  'list-warehouses': 'read',
  'schema-settings': 'read',
  'get-destination': 'read',
  'delivery-metrics': 'read',
  'api-calls-usage': 'read',
  'create-label': 'write',
  'add-labels': 'write',
  'update-source': 'write',
  'create-write-key': 'write',
  send: 'write',
  'remove-write-key': 'destructive',
  'delete-source': 'destructive',
};

// ---------------------------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------------------------

/** Placeholder for keys a job creates: their real fingerprint is unknown until they exist. */
const NEW_KEY = '(new key)';

interface SimulatedSource extends SourceState {
  deletedAtStep?: number;
}

class Planner {
  readonly items: PlanItem[] = [];
  readonly refusals: PlanRefusal[] = [];
  readonly warnings: string[] = [];
  private readonly sim = new Map<string, SimulatedSource>();
  private readonly missing: Set<string>;
  private readonly workspaceLabels: JobLabel[] | null;
  private readonly usedIds = new Set<string>();

  constructor(
    private readonly spec: JobSpec,
    private readonly jobId: string,
    private readonly state: WorkspaceState,
  ) {
    for (const source of state.sources) this.sim.set(source.id, structuredClone(source));
    this.missing = new Set(state.missingSourceIds);
    this.workspaceLabels = state.labels ? state.labels.map((label) => ({ ...label })) : null;
  }

  run(): void {
    this.spec.steps.forEach((step, index) => this.planStep(step, index + 1));
  }

  private planStep(step: JobStep, stepNo: number): void {
    const continueOnError = step.continueOnError ?? this.spec.continueOnError;
    const base = { step: stepNo, stepName: step.name, continueOnError };
    const add = (action: PlanAction, target: PlanTarget, changes: PlanChange[], unchanged: boolean, idKey: string, forced: GuardRule[] = []) => {
      const lifted = [...stepForced, ...forced];
      this.items.push({
        ...action,
        ...base,
        id: this.uniqueId(`${action.op}:${idKey}`, stepNo),
        impact: IMPACT_OF[action.op],
        unchanged,
        target,
        changes,
        ...(lifted.length ? { forced: lifted } : {}),
      });
    };
    const stepForced: GuardRule[] = [];
    const refuse = (rule: GuardRule, message: string, target?: string) => this.refusals.push({ step: stepNo, stepName: step.name, target, rule, message });

    switch (step.op) {
      case 'list-sources':
        return add({ op: 'list-sources' }, { kind: 'workspace', id: 'workspace' }, [], false, `step${stepNo}`);
      case 'get-destination':
        return add({ op: 'get-destination', destinationId: step.destinationId }, { kind: 'destination', id: step.destinationId }, [], false, step.destinationId);
      case 'delivery-metrics': {
        const { op, destinationId, sourceId, startTime, endTime, granularity } = step;
        return add({ op, destinationId, sourceId, startTime, endTime, granularity }, { kind: 'destination', id: destinationId }, [], false, `${destinationId}:${sourceId}`);
      }
      case 'api-calls-usage': {
        const sourceIds = step.sourceIds ?? (step.sourceId ? [step.sourceId] : undefined);
        const one = sourceIds?.length === 1 ? sourceIds[0]! : undefined;
        return add(
          { op: 'api-calls-usage', period: step.period, scope: step.scope, ...(sourceIds ? { sourceIds } : {}) },
          one ? { kind: 'source', id: one, name: this.sim.get(one)?.name ?? null } : { kind: 'workspace', id: step.scope === 'workspace' ? 'workspace' : 'sources' },
          [],
          false,
          one ?? (step.scope === 'workspace' ? `workspace:${step.period}` : step.period),
        );
      }
      case 'send':
        return this.planSend(step, stepNo, add);
      default:
        break;
    }

    const targets = step.targets;
    const isDestructive = step.op === 'remove-write-key' || step.op === 'delete-source';
    if (isDestructive && !targets.sourceIds) {
      if (!step.force) {
        refuse('destructive-selector', `${step.op} must name its sources by id (targets.sourceIds), not by a selector; set force: true to allow it`);
        return;
      }
      stepForced.push('destructive-selector');
    }
    const ids = resolveTargets(targets, [...this.sim.values()].filter((source) => source.deletedAtStep === undefined));
    if (!targets.sourceIds && ids.length === 0) this.warnings.push(`step ${stepNo} ("${step.name}"): the selector matched no source`);
    if (step.op === 'add-labels') this.planMissingLabels(step, add, refuse);

    for (const id of ids) {
      const source = this.sim.get(id);
      if (!source || this.missing.has(id)) {
        refuse('unknown-source', `source ${id} does not exist`, id);
        continue;
      }
      if (source.deletedAtStep !== undefined) {
        refuse('unknown-source', `source ${id} is deleted by step ${source.deletedAtStep}`, id);
        continue;
      }
      const target: PlanTarget = { kind: 'source', id, name: source.name };
      switch (step.op) {
        case 'get-source':
        case 'list-warehouses':
        case 'schema-settings':
          add({ op: step.op, sourceId: id }, target, [], false, id);
          break;
        case 'add-labels':
          this.planAddLabels(step, source, target, add);
          break;
        case 'update-source':
          this.planUpdate(step, source, target, add);
          break;
        case 'create-write-key': {
          const before = source.writeKeyFingerprints.length;
          add({ op: 'create-write-key', sourceId: id, keyCountBefore: before }, target, [{ field: 'writeKeys.count', from: before, to: before + 1 }], false, id);
          source.writeKeyFingerprints.push(NEW_KEY);
          break;
        }
        case 'remove-write-key':
          this.planRemoveKey(step, source, target, add, refuse);
          break;
        case 'delete-source':
          this.planDelete(step, stepNo, source, target, add, refuse);
          break;
      }
    }
  }

  private planSend(step: StepOf<'send'>, stepNo: number, add: AddItem): void {
    const messages: SegmentMessage[] = step.messages.map((message: ValidatedMessage, index) => ({
      ...message,
      messageId: message.messageId ?? jobMessageId(this.jobId, stepNo, index),
    }));
    const counts = new Map<string, number>();
    for (const message of messages) counts.set(message.type, (counts.get(message.type) ?? 0) + 1);
    const described = [...counts].map(([type, n]) => `${n} ${type}`).join(', ');
    add({ op: 'send', source: step.source, messages }, { kind: 'tracking', id: step.source }, [{ field: 'events', from: null, to: described }], false, `${step.source}`);
  }

  private planMissingLabels(step: StepOf<'add-labels'>, add: AddItem, refuse: Refuse): void {
    if (!this.workspaceLabels) throw new Error('planner: workspace labels were not fetched');
    for (const label of step.labels) {
      if (this.workspaceLabels.some((have) => sameLabel(have, label))) continue;
      if (!step.createMissingLabels) {
        refuse('missing-label', `label ${formatLabel(label)} does not exist in the workspace; create it or set createMissingLabels: true`);
        continue;
      }
      add({ op: 'create-label', label }, { kind: 'workspace', id: 'labels' }, [{ field: 'workspace.labels', from: null, to: formatLabel(label) }], false, formatLabel(label));
      this.workspaceLabels.push({ ...label });
    }
  }

  private planAddLabels(step: StepOf<'add-labels'>, source: SimulatedSource, target: PlanTarget, add: AddItem): void {
    const toAdd = step.labels.filter((label) => !source.labels.some((have) => sameLabel(have, label)));
    const before = source.labels.map(formatLabel);
    source.labels.push(...toAdd.map((label) => ({ ...label })));
    const changes = toAdd.length ? [{ field: 'labels', from: before, to: source.labels.map(formatLabel) }] : [];
    add({ op: 'add-labels', sourceId: source.id, labels: toAdd.length ? toAdd : step.labels }, target, changes, toAdd.length === 0, source.id);
  }

  private planUpdate(step: StepOf<'update-source'>, source: SimulatedSource, target: PlanTarget, add: AddItem): void {
    const changes: PlanChange[] = [];
    const set: Extract<PlanAction, { op: 'update-source' }>['set'] = {};
    if (step.set.name !== undefined && step.set.name !== source.name) {
      changes.push({ field: 'name', from: source.name, to: step.set.name });
      set.name = step.set.name;
      source.name = step.set.name;
    }
    if (step.set.enabled !== undefined && step.set.enabled !== source.enabled) {
      changes.push({ field: 'enabled', from: source.enabled, to: step.set.enabled });
      set.enabled = step.set.enabled;
      source.enabled = step.set.enabled;
    }
    if (step.set.slug !== undefined && step.set.slug !== source.slug) {
      changes.push({ field: 'slug', from: source.slug, to: step.set.slug });
      set.slug = step.set.slug;
      source.slug = step.set.slug;
    }
    for (const [key, value] of Object.entries(step.set.settings ?? {})) {
      if (sameValue(source.settings[key], value)) continue;
      changes.push({ field: `settings.${key}`, from: source.settings[key] ?? null, to: value });
      set.settings = { ...set.settings, [key]: value };
      source.settings = { ...source.settings, [key]: value };
    }
    add({ op: 'update-source', sourceId: source.id, set }, target, changes, changes.length === 0, source.id);
  }

  private planRemoveKey(step: StepOf<'remove-write-key'>, source: SimulatedSource, target: PlanTarget, add: AddItem, refuse: Refuse): void {
    const keys = source.writeKeyFingerprints;
    let index: number;
    if ('fingerprint' in step.writeKey) {
      const wanted = step.writeKey.fingerprint;
      index = keys.findIndex((fingerprint) => fingerprint.startsWith(wanted));
    } else {
      index = step.writeKey.index < keys.length ? step.writeKey.index : -1;
    }
    const fingerprint = keys[index];
    if (fingerprint === undefined) {
      const seen = keys.filter((key) => key !== NEW_KEY);
      refuse(
        'unknown-write-key',
        `source ${source.id} has no write key matching ${JSON.stringify(step.writeKey)}` +
          (seen.length ? ` (its keys: ${seen.join(', ')})` : ' (the token sees no write keys: it may lack the source-admin permission)'),
        source.id,
      );
      return;
    }
    if (fingerprint === NEW_KEY) {
      refuse('new-write-key', `write key #${index} of ${source.id} is created by this same job; remove it in a later job`, source.id);
      return;
    }
    // Enabled or not: a later step (or a person) can enable the source again, and it would have no key.
    const last = keys.length === 1;
    if (last && !step.force) {
      refuse('last-write-key', `${fingerprint} is the only write key of ${source.id}: senders would stop working (also once it is enabled again); add a key first or set force: true`, source.id);
      return;
    }
    add(
      { op: 'remove-write-key', sourceId: source.id, fingerprint, force: step.force, keysBefore: [...keys] },
      target,
      [
        { field: 'writeKey', from: fingerprint, to: null },
        { field: 'writeKeys.count', from: keys.length, to: keys.length - 1 },
      ],
      false,
      `${source.id}:${fingerprint}`,
      last ? ['last-write-key'] : [],
    );
    keys.splice(index, 1);
  }

  private planDelete(step: StepOf<'delete-source'>, stepNo: number, source: SimulatedSource, target: PlanTarget, add: AddItem, refuse: Refuse): void {
    const destinations = source.destinations ?? [];
    const warehouses = source.warehouses ?? [];
    const lifted: GuardRule[] = [];
    if (source.enabled) lifted.push('delete-enabled');
    if (destinations.length || warehouses.length) lifted.push('delete-connected');
    if (!step.force) {
      let refused = false;
      if (source.enabled) {
        refuse('delete-enabled', `${source.id} is enabled; disable it first (update-source set.enabled: false in an earlier step) or set force: true`, source.id);
        refused = true;
      }
      if (destinations.length || warehouses.length) {
        refuse(
          'delete-connected',
          `${source.id} still has ${destinations.length} connected destination(s) and ${warehouses.length} warehouse(s); disconnect them or set force: true`,
          source.id,
        );
        refused = true;
      }
      if (refused) return;
    }
    const described = `${source.name ?? source.slug} (${source.enabled ? 'enabled' : 'disabled'}, ${destinations.length} destination(s), ${warehouses.length} warehouse(s))`;
    const approved = { enabled: source.enabled, destinationIds: destinations.map((d) => d.id).sort(), warehouseIds: warehouses.map((w) => w.id).sort() };
    add({ op: 'delete-source', sourceId: source.id, force: step.force, approved }, target, [{ field: 'source', from: described, to: null }], false, source.id, lifted);
    source.deletedAtStep = stepNo;
  }

  private uniqueId(candidate: string, stepNo: number): string {
    let id = candidate;
    if (this.usedIds.has(id)) id = `${candidate}#step${stepNo}`;
    for (let n = 2; this.usedIds.has(id); n++) id = `${candidate}#step${stepNo}.${n}`;
    this.usedIds.add(id);
    return id;
  }

  snapshots(): SourceSnapshot[] {
    const targeted = new Set(this.items.flatMap((item) => (item.target.kind === 'source' ? [item.target.id] : [])));
    return this.state.sources
      .filter((source) => targeted.has(source.id))
      .map((source) => ({
        id: source.id,
        name: source.name,
        slug: source.slug,
        enabled: source.enabled,
        labels: source.labels,
        writeKeyFingerprints: source.writeKeyFingerprints,
        destinations: source.destinations ?? [],
        warehouses: source.warehouses ?? [],
        apiCalls: source.apiCalls ?? null,
      }));
  }
}

type AddItem = (action: PlanAction, target: PlanTarget, changes: PlanChange[], unchanged: boolean, idKey: string, forced?: GuardRule[]) => void;
type Refuse = (rule: GuardRule, message: string, target?: string) => void;

export function buildWorkspacePlan(spec: JobSpec, jobId: string, state: WorkspaceState, runId: string): WorkspacePlan {
  const planner = new Planner(spec, jobId, state);
  planner.run();
  const items = planner.items;
  const active = items.filter((item) => !item.unchanged);
  const targets = planner.snapshots();
  const plan: WorkspacePlan = {
    jobId,
    runId,
    jobName: spec.name ?? null,
    items,
    targets,
    refusals: planner.refusals,
    warnings: planner.warnings,
    summary: {
      steps: spec.steps.length,
      items: items.length,
      reads: active.filter((item) => item.impact === 'read').length,
      writes: active.filter((item) => item.impact === 'write').length,
      destructive: active.filter((item) => item.impact === 'destructive').length,
      unchanged: items.length - active.length,
      targets: targets.length,
    },
    highImpact: active.filter((item) => item.impact === 'destructive').map((item) => item.id),
    requiresApproval: active.some((item) => item.impact !== 'read'),
  };
  // Approval is never given on a cut view: a plan whose complete summary cannot fit the UI is refused (split it).
  const summaryChars = renderPlanSummaryMarkdown(plan, '0'.repeat(64)).length;
  if (summaryChars > MAX_SUMMARY_CHARS) {
    plan.refusals.push({
      step: 0,
      stepName: '(whole job)',
      rule: 'plan-too-large',
      message: `the plan's summary (${summaryChars} characters) does not fit the approval view (${MAX_SUMMARY_CHARS}); split the job into smaller jobs`,
    });
  }
  return plan;
}

export function summarizePlan(plan: WorkspacePlan): string {
  const { summary } = plan;
  const parts = [
    summary.destructive ? `${summary.destructive} destructive` : undefined,
    summary.writes ? `${summary.writes} write${summary.writes > 1 ? 's' : ''}` : undefined,
    summary.reads ? `${summary.reads} read${summary.reads > 1 ? 's' : ''}` : undefined,
  ].filter(Boolean);
  const head = parts.length ? parts.join(', ') : 'nothing to do';
  const tail = [
    `${summary.targets} source${summary.targets === 1 ? '' : 's'}`,
    summary.unchanged ? `${summary.unchanged} unchanged` : undefined,
    plan.refusals.length ? `${plan.refusals.length} refused by guard rails` : undefined,
  ].filter(Boolean);
  return `${head} on ${tail.join('; ')}`;
}

// ---------------------------------------------------------------------------------------------
// Re-check right before a write (activities): idempotency after a crash, and drift since approval
// ---------------------------------------------------------------------------------------------

export type Recheck =
  | { kind: 'apply' }
  | { kind: 'already-applied'; message: string }
  /** A guard rail that held at preview no longer holds. */
  | { kind: 'refuse'; rule: GuardRule; message: string }
  /** The live state is neither the approved "from" nor the "to": someone else changed it. */
  | { kind: 'drift'; message: string };

/** Live state of the item's source (null when it is gone), with details when the item is a delete. */
export type LiveSource = Pick<SourceState, 'id' | 'enabled' | 'labels' | 'writeKeyFingerprints' | 'settings' | 'name' | 'slug' | 'destinations' | 'warehouses'>;

const UPDATE_FIELDS = ['name', 'enabled', 'slug'] as const;

/** For update-source: the fields still to write, once those already at their target are dropped. */
export function pendingUpdate(item: Extract<PlanItem, { op: 'update-source' }>, live: LiveSource): { recheck: Recheck; patch: Extract<PlanAction, { op: 'update-source' }>['set'] } {
  const patch: Extract<PlanAction, { op: 'update-source' }>['set'] = {};
  for (const change of item.changes) {
    const settingKey = change.field.startsWith('settings.') ? change.field.slice('settings.'.length) : undefined;
    const current = settingKey !== undefined ? live.settings[settingKey] : live[change.field as (typeof UPDATE_FIELDS)[number]];
    if (sameValue(current, change.to)) continue;
    if (!sameValue(current, change.from)) {
      return {
        recheck: { kind: 'drift', message: `${item.sourceId} ${change.field} is now ${JSON.stringify(current ?? null)}, the approved plan expected ${JSON.stringify(change.from)}` },
        patch: {},
      };
    }
    if (settingKey !== undefined) patch.settings = { ...patch.settings, [settingKey]: change.to };
    else Object.assign(patch, { [change.field]: change.to });
  }
  if (Object.keys(patch).length === 0) return { recheck: { kind: 'already-applied', message: 'source already has the new values' }, patch };
  return { recheck: { kind: 'apply' }, patch };
}

export function recheckItem(item: PlanItem, live: LiveSource | null, workspaceLabels?: JobLabel[]): Recheck {
  const gone = (id: string): Recheck => ({ kind: 'drift', message: `source ${id} no longer exists` });
  switch (item.op) {
    case 'create-label':
      if (!workspaceLabels) throw new Error('recheckItem: create-label needs the workspace labels');
      return workspaceLabels.some((have) => sameLabel(have, item.label))
        ? { kind: 'already-applied', message: `label ${formatLabel(item.label)} exists` }
        : { kind: 'apply' };
    case 'add-labels': {
      if (!live) return gone(item.sourceId);
      const missing = item.labels.filter((label) => !live.labels.some((have) => sameLabel(have, label)));
      return missing.length ? { kind: 'apply' } : { kind: 'already-applied', message: 'labels already on the source' };
    }
    case 'update-source':
      return live ? pendingUpdate(item, live).recheck : gone(item.sourceId);
    case 'create-write-key': {
      if (!live) return gone(item.sourceId);
      const count = live.writeKeyFingerprints.length;
      if (count === item.keyCountBefore) return { kind: 'apply' };
      if (count === item.keyCountBefore + 1) return { kind: 'already-applied', message: `source has ${count} write keys, one more than before` };
      return { kind: 'drift', message: `${item.sourceId} has ${count} write keys, the approved plan expected ${item.keyCountBefore}` };
    }
    case 'remove-write-key': {
      if (!live) return gone(item.sourceId);
      const keys = live.writeKeyFingerprints;
      const expected = item.keysBefore.length;
      if (!keys.includes(item.fingerprint)) {
        // Gone with exactly one key fewer than approved: our own earlier attempt removed it. Anything else is drift.
        if (keys.length === expected - 1) return { kind: 'already-applied', message: `write key ${item.fingerprint} is not on the source` };
        return { kind: 'drift', message: `write key ${item.fingerprint} is gone and ${item.sourceId} has ${keys.length} write key(s); the approved plan expected ${expected} before the removal` };
      }
      // Force lifts the preview's guard rail only: the approved "N keys → N-1" must still hold.
      const missing = item.keysBefore.filter((fingerprint) => fingerprint !== NEW_KEY && !keys.includes(fingerprint));
      if (keys.length !== expected || missing.length) {
        return { kind: 'drift', message: `${item.sourceId} has ${keys.length} write key(s)${missing.length ? ` (${missing.join(', ')} removed meanwhile)` : ''}; the approved plan expected ${expected} → ${expected - 1}` };
      }
      if (keys.length === 1 && !item.force) {
        return { kind: 'refuse', rule: 'last-write-key', message: `${item.fingerprint} is now the only write key of ${item.sourceId}` };
      }
      return { kind: 'apply' };
    }
    case 'delete-source': {
      if (!live) return { kind: 'already-applied', message: `source ${item.sourceId} no longer exists` };
      // Always against what was approved, force or not: force lifted the preview's guard rails, nothing more.
      const approved = item.approved;
      const destinationIds = (live.destinations ?? []).map((d) => d.id).sort();
      const warehouseIds = (live.warehouses ?? []).map((w) => w.id).sort();
      if (live.enabled !== approved.enabled) {
        return { kind: 'drift', message: `${item.sourceId} is ${live.enabled ? 'enabled' : 'disabled'} now; it was approved for deletion while ${approved.enabled ? 'enabled' : 'disabled'}` };
      }
      if (!sameValue(destinationIds, approved.destinationIds) || !sameValue(warehouseIds, approved.warehouseIds)) {
        return {
          kind: 'drift',
          message: `${item.sourceId} now has ${destinationIds.length} destination(s) and ${warehouseIds.length} warehouse(s); it was approved with ${approved.destinationIds.length} and ${approved.warehouseIds.length}`,
        };
      }
      if (!item.force && live.enabled) return { kind: 'refuse', rule: 'delete-enabled', message: `${item.sourceId} is enabled again` };
      const connected = destinationIds.length + warehouseIds.length;
      if (!item.force && connected > 0) return { kind: 'refuse', rule: 'delete-connected', message: `${item.sourceId} now has ${connected} connection(s)` };
      return { kind: 'apply' };
    }
    default:
      return { kind: 'apply' };
  }
}

// ---------------------------------------------------------------------------------------------
// What the approver sees: the full plan (CLI, and the UI when it fits) and a complete summary (UI otherwise).
// Every piece of text from a job file or the workspace goes through the one sanitiser (src/shared/safe-text.ts).
// ---------------------------------------------------------------------------------------------

/** Upper bound of the UI summary; the planner refuses a plan whose summary is longer (see buildWorkspacePlan). */
export const MAX_SUMMARY_CHARS = 12_000;
/** The full markdown table is shown in the UI up to this size, else the complete summary is. */
export const MAX_FULL_MARKDOWN_CHARS = 15_000;
/** Messages of a `send` item shown in the UI next to their digest; the CLI shows them all. */
const SEND_PREVIEW_MESSAGES = 3;

const md = (value: unknown, max?: number): string => markdownText(value === null || value === undefined ? '—' : value, max);

function showValue(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((entry) => (typeof entry === 'string' ? entry : JSON.stringify(entry))).join(', ')}]`;
  if (value === null || value === undefined) return '—';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function describeChange(change: PlanChange): string {
  if (change.from === null && change.to !== null) return `${change.field}: + ${showValue(change.to)}`;
  if (change.to === null) return `${change.field}: − ${showValue(change.from)}`;
  return `${change.field}: ${showValue(change.from)} → ${showValue(change.to)}`;
}

/** What an item does, as unsanitised text (callers sanitise for their medium). */
export function describeItem(item: PlanItem): string {
  if (item.unchanged) return 'already as asked: nothing to do';
  const parts = item.changes.map(describeChange);
  if (item.op === 'send') parts.push(`${item.messages.length} message(s), digest ${sendDigest(item)}`);
  if (item.op === 'delete-source') parts.push(`approved while ${item.approved.enabled ? 'enabled' : 'disabled'}`);
  return parts.length ? parts.join('; ') : 'read';
}

/** sha256 (12 hex) of a send item's messages: two approvers comparing digests know they saw the same messages. */
export function sendDigest(item: Extract<PlanItem, { op: 'send' }>): string {
  return sha256Hex(canonicalJson(item.messages)).slice(0, 12);
}

const forceNote = (item: PlanItem) => (item.forced?.length ? `FORCE lifts ${item.forced.join(', ')}` : '');
const impactText = (item: PlanItem) => (item.unchanged ? 'none' : item.impact === 'destructive' ? 'DESTRUCTIVE' : item.impact);
const targetText = (item: PlanItem) => (item.target.kind === 'source' && item.target.name ? `${item.target.id} (${item.target.name})` : item.target.id);

function stepCounts(plan: WorkspacePlan): Array<{ step: number; name: string; op: string; counts: Record<Impact | 'unchanged', number>; forced: string[] }> {
  const rows = new Map<number, { step: number; name: string; op: string; counts: Record<Impact | 'unchanged', number>; forced: Set<string> }>();
  for (const item of plan.items) {
    const row = rows.get(item.step) ?? { step: item.step, name: item.stepName, op: item.op, counts: { read: 0, write: 0, destructive: 0, unchanged: 0 }, forced: new Set<string>() };
    row.counts[item.unchanged ? 'unchanged' : item.impact] += 1;
    item.forced?.forEach((rule) => row.forced.add(rule));
    rows.set(item.step, row);
  }
  return [...rows.values()].sort((a, b) => a.step - b.step).map((row) => ({ ...row, forced: [...row.forced] }));
}

function sendPreviewLines(item: Extract<PlanItem, { op: 'send' }>, shown: number, render: (text: string) => string): string[] {
  const lines = item.messages.slice(0, shown).map((message, index) => `  ${index + 1}. ${render(JSON.stringify(message))}`);
  if (item.messages.length > shown) lines.push(`  … ${item.messages.length - shown} more (digest ${sendDigest(item)}; \`segflow approve\` shows every message)`);
  return lines;
}

function refusalAndWarningLines(plan: WorkspacePlan): string[] {
  const lines: string[] = [];
  if (plan.refusals.length) {
    lines.push('', '**Refused by guard rails (nothing will run):**');
    for (const refusal of plan.refusals) lines.push(`- step ${refusal.step} (${md(refusal.stepName, 200)}), ${refusal.rule}: ${md(refusal.message, 500)}`);
  }
  if (plan.warnings.length) lines.push('', '**Warnings:**', ...plan.warnings.map((warning) => `- ${md(warning, 500)}`));
  return lines;
}

/** The whole plan as markdown: a row per item, every send's first messages, the targets as the preview saw them. */
export function renderPlanMarkdown(plan: WorkspacePlan, hash: string): string {
  const lines: string[] = [];
  lines.push(`### Plan ${hash}${plan.jobName ? ` — ${md(plan.jobName)}` : ''}`);
  lines.push('', md(summarizePlan(plan)), '');
  lines.push('| item | step | target | impact | change |', '|---|---|---|---|---|');
  for (const item of plan.items) {
    const impact = item.unchanged ? 'none' : item.impact === 'destructive' ? '**DESTRUCTIVE**' : item.impact;
    const force = item.forced?.length ? ` **${md(forceNote(item))}**` : '';
    lines.push(`| ${md(item.id)} | ${item.step}\\. ${md(item.stepName)} | ${md(targetText(item))} | ${impact}${force} | ${md(describeItem(item))} |`);
  }
  for (const item of plan.items) {
    if (item.op !== 'send' || item.unchanged) continue;
    lines.push('', `Messages of ${md(item.id)} (digest ${sendDigest(item)}):`, ...sendPreviewLines(item, SEND_PREVIEW_MESSAGES, (text) => md(text, 300)));
  }
  lines.push(...refusalAndWarningLines(plan));
  if (plan.highImpact.length) {
    lines.push('', '**High impact: the approval must list every one of these ids:** ' + plan.highImpact.map((id) => md(id)).join(' '));
  }
  if (plan.targets.length) {
    lines.push('', 'Sources as seen by the preview:', '', '| source | name | slug | enabled | labels | write keys | destinations | warehouses | API calls this month |', '|---|---|---|---|---|---|---|---|---|');
    for (const t of plan.targets) {
      const apiCalls = t.apiCalls ? `${t.apiCalls.total}${t.apiCalls.lastDay ? ` (last day ${t.apiCalls.lastDay})` : ''}` : 'n/a';
      lines.push(
        `| ${md(t.id)} | ${md(t.name)} | ${md(t.slug)} | ${t.enabled ? 'yes' : 'no'} | ${md(t.labels.map(formatLabel).join(', ') || '—')} | ${t.writeKeyFingerprints.length} (${md(t.writeKeyFingerprints.join(', ') || '—')}) | ${md(t.destinations.map((d) => d.name ?? d.id).join(', ') || '—')} | ${md(t.warehouses.map((w) => w.name ?? w.id).join(', ') || '—')} | ${md(apiCalls)} |`,
      );
    }
  }
  return lines.join('\n');
}

/**
 * A complete summary that fits the UI whatever the plan's size: the hash, counts per step and impact (with the
 * guard rails `force` lifts), every destructive item, refusals and warnings. Long names are cut with a marker;
 * nothing else is left out (the planner refuses plans whose summary would not fit, MAX_SUMMARY_CHARS).
 */
export function renderPlanSummaryMarkdown(plan: WorkspacePlan, hash: string): string {
  const lines: string[] = [];
  lines.push(`### Plan ${hash}${plan.jobName ? ` — ${md(plan.jobName, 100)}` : ''}`);
  lines.push('', md(summarizePlan(plan)), '', '| step | op | reads | writes | destructive | unchanged | force |', '|---|---|---:|---:|---:|---:|---|');
  for (const row of stepCounts(plan)) {
    lines.push(`| ${row.step}\\. ${md(row.name, 60)} | ${row.op} | ${row.counts.read} | ${row.counts.write} | ${row.counts.destructive} | ${row.counts.unchanged} | ${row.forced.length ? `**lifts ${row.forced.join(', ')}**` : ''} |`);
  }
  const destructive = plan.items.filter((item) => item.impact === 'destructive' && !item.unchanged);
  if (destructive.length) {
    lines.push('', `**Every destructive item (${destructive.length}); the approval must list each id:**`);
    for (const item of destructive) lines.push(`- ${md(item.id)}: ${md(targetText(item), 120)}, ${md(describeItem(item), 300)}${item.forced?.length ? ` **${forceNote(item)}**` : ''}`);
  }
  const sends = plan.items.filter((item): item is Extract<PlanItem, { op: 'send' }> => item.op === 'send' && !item.unchanged);
  for (const item of sends) lines.push('', `Send ${md(item.id)}: ${item.messages.length} message(s), digest ${sendDigest(item)}`, ...sendPreviewLines(item, 1, (text) => md(text, 200)));
  lines.push(...refusalAndWarningLines(plan));
  return lines.join('\n');
}

/** What the UI shows while the plan awaits approval: the whole plan when it fits, else the complete summary. */
export function renderApprovalMarkdown(plan: WorkspacePlan, hash: string): string {
  const full = renderPlanMarkdown(plan, hash);
  if (full.length <= MAX_FULL_MARKDOWN_CHARS) return full;
  return `${renderPlanSummaryMarkdown(plan, hash)}\n\nThe full plan (${plan.items.length} items) is longer than this view allows: \`segflow approve <job id>\` shows every item before asking.`;
}

/** The whole plan for a terminal, from the structured plan: nothing cut, every message of every send. */
export function renderPlanText(plan: WorkspacePlan, hash: string): string {
  const t = (value: unknown, max?: number) => plainText(value === null || value === undefined ? '—' : value, max ?? 100_000);
  const lines: string[] = [];
  lines.push(`Plan ${hash}${plan.jobName ? ` — ${t(plan.jobName)}` : ''}`, `Job ${t(plan.jobId)}, run ${t(plan.runId)}`, t(summarizePlan(plan)), '');
  for (const item of plan.items) {
    lines.push(`[${item.step}. ${t(item.stepName)}] ${t(item.id)}`);
    lines.push(`    target: ${t(targetText(item))}`);
    lines.push(`    impact: ${impactText(item)}${item.forced?.length ? `   ${forceNote(item)}` : ''}`);
    lines.push(`    change: ${t(describeItem(item))}`);
    if (item.op === 'send' && !item.unchanged) item.messages.forEach((message, index) => lines.push(`    message ${index + 1}: ${t(JSON.stringify(message))}`));
  }
  if (plan.refusals.length) {
    lines.push('', 'Refused by guard rails (nothing will run):');
    for (const refusal of plan.refusals) lines.push(`  - step ${refusal.step} (${t(refusal.stepName)}), ${refusal.rule}: ${t(refusal.message)}`);
  }
  if (plan.warnings.length) lines.push('', 'Warnings:', ...plan.warnings.map((warning) => `  - ${t(warning)}`));
  if (plan.highImpact.length) lines.push('', `High impact (confirm each id): ${plan.highImpact.map((id) => t(id)).join(' ')}`);
  if (plan.targets.length) {
    lines.push('', 'Sources as seen by the preview:');
    for (const s of plan.targets) {
      lines.push(
        `  ${t(s.id)}  name ${t(s.name)}  slug ${t(s.slug)}  ${s.enabled ? 'enabled' : 'disabled'}  labels ${t(s.labels.map(formatLabel).join(', ') || '—')}` +
          `  write keys ${s.writeKeyFingerprints.length} (${t(s.writeKeyFingerprints.join(', ') || '—')})` +
          `  destinations ${t(s.destinations.map((d) => `${d.id}${d.name ? ` ${d.name}` : ''}`).join(', ') || '—')}` +
          `  warehouses ${t(s.warehouses.map((w) => `${w.id}${w.name ? ` ${w.name}` : ''}`).join(', ') || '—')}`,
      );
    }
  }
  return lines.join('\n');
}
