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
 * writing (recheck.ts), since the workspace can change while the approval waits.
 */
import type { JobLabel, JobSpec, JobStep, StepOf } from '../job-spec';
import type { ValidatedMessage } from '../message-schema';
import type { SegmentMessage } from '../types';
import { formatLabel, sameLabel, sameValue } from './compare';
import { jobMessageId } from './plan-ids';
import {
  NEW_WRITE_KEY,
  type GuardRule,
  type Impact,
  type PlanAction,
  type PlanChange,
  type PlanItem,
  type PlanOp,
  type PlanRefusal,
  type PlanTarget,
  type SourceSnapshot,
  type WorkspacePlan,
} from '../../contracts/workspace-job';
import { MAX_SUMMARY_CHARS, renderPlanSummaryMarkdown } from './render';
import { resolveTargets } from './targets';
import type { SourceState, WorkspaceState } from './workspace-state';

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
    const refuse = (rule: GuardRule, message: string, target?: string) =>
      this.refusals.push({ step: stepNo, stepName: step.name, target, rule, message });

    switch (step.op) {
      case 'list-sources':
        return add({ op: 'list-sources' }, { kind: 'workspace', id: 'workspace' }, [], false, `step${stepNo}`);
      case 'get-destination':
        return add(
          { op: 'get-destination', destinationId: step.destinationId },
          { kind: 'destination', id: step.destinationId },
          [],
          false,
          step.destinationId,
        );
      case 'delivery-metrics': {
        const { op, destinationId, sourceId, startTime, endTime, granularity } = step;
        return add(
          { op, destinationId, sourceId, startTime, endTime, granularity },
          { kind: 'destination', id: destinationId },
          [],
          false,
          `${destinationId}:${sourceId}`,
        );
      }
      case 'api-calls-usage': {
        const sourceIds = step.sourceIds ?? (step.sourceId ? [step.sourceId] : undefined);
        const one = sourceIds?.length === 1 ? sourceIds[0]! : undefined;
        return add(
          { op: 'api-calls-usage', period: step.period, scope: step.scope, ...(sourceIds ? { sourceIds } : {}) },
          one
            ? { kind: 'source', id: one, name: this.sim.get(one)?.name ?? null }
            : { kind: 'workspace', id: step.scope === 'workspace' ? 'workspace' : 'sources' },
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
    const ids = resolveTargets(
      targets,
      [...this.sim.values()].filter((source) => source.deletedAtStep === undefined),
    );
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
          add(
            { op: 'create-write-key', sourceId: id, keyCountBefore: before },
            target,
            [{ field: 'writeKeys.count', from: before, to: before + 1 }],
            false,
            id,
          );
          source.writeKeyFingerprints.push(NEW_WRITE_KEY);
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
    add(
      { op: 'send', source: step.source, messages },
      { kind: 'tracking', id: step.source },
      [{ field: 'events', from: null, to: described }],
      false,
      `${step.source}`,
    );
  }

  private planMissingLabels(step: StepOf<'add-labels'>, add: AddItem, refuse: Refuse): void {
    if (!this.workspaceLabels) throw new Error('planner: workspace labels were not fetched');
    for (const label of step.labels) {
      if (this.workspaceLabels.some((have) => sameLabel(have, label))) continue;
      if (!step.createMissingLabels) {
        refuse('missing-label', `label ${formatLabel(label)} does not exist in the workspace; create it or set createMissingLabels: true`);
        continue;
      }
      add(
        { op: 'create-label', label },
        { kind: 'workspace', id: 'labels' },
        [{ field: 'workspace.labels', from: null, to: formatLabel(label) }],
        false,
        formatLabel(label),
      );
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
      const seen = keys.filter((key) => key !== NEW_WRITE_KEY);
      refuse(
        'unknown-write-key',
        `source ${source.id} has no write key matching ${JSON.stringify(step.writeKey)}` +
          (seen.length ? ` (its keys: ${seen.join(', ')})` : ' (the token sees no write keys: it may lack the source-admin permission)'),
        source.id,
      );
      return;
    }
    if (fingerprint === NEW_WRITE_KEY) {
      refuse('new-write-key', `write key #${index} of ${source.id} is created by this same job; remove it in a later job`, source.id);
      return;
    }
    // Enabled or not: a later step (or a person) can enable the source again, and it would have no key.
    const last = keys.length === 1;
    if (last && !step.force) {
      refuse(
        'last-write-key',
        `${fingerprint} is the only write key of ${source.id}: senders would stop working (also once it is enabled again); add a key first or set force: true`,
        source.id,
      );
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
        refuse(
          'delete-enabled',
          `${source.id} is enabled; disable it first (update-source set.enabled: false in an earlier step) or set force: true`,
          source.id,
        );
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
    const approved = {
      enabled: source.enabled,
      destinationIds: destinations.map((d) => d.id).sort(),
      warehouseIds: warehouses.map((w) => w.id).sort(),
    };
    add(
      { op: 'delete-source', sourceId: source.id, force: step.force, approved },
      target,
      [{ field: 'source', from: described, to: null }],
      false,
      source.id,
      lifted,
    );
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
