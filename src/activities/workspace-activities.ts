/**
 * Workspace-job activities: thin adapters from the pure planner (core/workspace-plan/) to the Public API and the
 * Tracking API. One file of ~440 lines: one factory whose activities share the injected clients and the secret
 * handling below, so that handling is written once.
 *
 * Secrets stay here. The API token is read from the worker's environment on every call (`resolveApiToken`), write
 * keys are turned into fingerprints before anything is returned, and a key to remove is looked up by fingerprint
 * right before the DELETE. Nothing secret goes into activity inputs or results, i.e. into Temporal history.
 *
 * Every write re-reads the live state first (`recheckItem`): an item already applied (e.g. by an attempt that
 * crashed after the write but before reporting it) returns 'already-applied' instead of writing twice; a state that
 * moved away from what was approved fails with `PlanDrift`; a guard rail that no longer holds fails with
 * `GuardRailRefused`. Both are non-retryable.
 */
import { Context, cancellationSignal, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ConfigError, MissingSecretError, publicApiRoot, resolveApiToken, resolveWriteKey, trackingApiRoot } from '../config';
import { validateJobSpec, formatIssue, type JobLabel } from '../core/job-spec';
import { buildWorkspacePlan } from '../core/workspace-plan/planner';
import { planHash, writeKeyFingerprint } from '../core/workspace-plan/plan-ids';
import { pendingUpdate, recheckItem, type LiveSource } from '../core/workspace-plan/recheck';
import { renderApprovalMarkdown, summarizePlan } from '../core/workspace-plan/render';
import { previewNeeds, targetedSourceIds } from '../core/workspace-plan/targets';
import type { SourceState } from '../core/workspace-plan/workspace-state';
import type { PublicApiClient, PublicApiClientOptions } from '../segment/public-api-client';
import { PublicApiError, PublicApiNotFoundError, PublicApiRequestError } from '../segment/public-api-errors';
import { toApplicationFailure } from '../segment/public-api-failure';
import type { DestinationV1, SourceApiCallsUsage, SourceV1, WarehouseV1 } from '../segment/public-api-shapes';
import { TrackingFatalError, TrackingRetryableError, type TrackingClient, type TrackingClientOptions } from '../segment/tracking-client';
import { FailureType } from '../contracts/failures';
import type { ApplyItemInput, ItemOutcome, PlanItem, WorkspaceActivities, WorkspacePreview, WorkspacePreviewInput } from '../contracts/workspace-job';

/** Read results go into history: cap lists so a big workspace cannot blow the 2 MiB payload limit. */
const MAX_LISTED = 200;

// ---------------------------------------------------------------------------------------------
// Views of API objects without secrets (also used by the CLI)
// ---------------------------------------------------------------------------------------------

export interface SourceView {
  id: string;
  name: string | null;
  slug: string;
  enabled: boolean;
  labels: string[];
  writeKeyCount: number;
  writeKeyFingerprints: string[];
  type: string;
}

export function sourceView(source: SourceV1): SourceView {
  return {
    id: source.id,
    name: source.name ?? null,
    slug: source.slug,
    enabled: source.enabled,
    labels: source.labels.map((label) => `${label.key}:${label.value}`),
    writeKeyCount: source.writeKeys.length,
    writeKeyFingerprints: source.writeKeys.map(writeKeyFingerprint),
    type: source.metadata?.name ?? '',
  };
}

/** Destination settings can hold third-party credentials: only identity and state are shown. */
export function destinationView(destination: DestinationV1) {
  return {
    id: destination.id,
    name: destination.name ?? null,
    enabled: destination.enabled,
    sourceId: destination.sourceId,
    type: destination.metadata?.name ?? '',
    metadataId: destination.metadata?.id ?? '',
  };
}

/** Warehouse settings hold database credentials: only identity and state are shown. */
export function warehouseView(warehouse: WarehouseV1) {
  const name = typeof warehouse.settings?.name === 'string' ? warehouse.settings.name : null;
  return { id: warehouse.id, name, enabled: warehouse.enabled, type: warehouse.metadata?.name ?? '' };
}

/** The usage month that contains `now`, as the API wants it (`2024-05-01`). */
export function usagePeriod(now: Date): string {
  return `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, '0')}-01`;
}

/**
 * Latest cumulative count per source, and the increase over the day before (counts are cumulative:
 * docs/segment-public-api.md, "API-call usage").
 */
export function apiCallsBySource(entries: SourceApiCallsUsage[], period: string): Map<string, NonNullable<SourceState['apiCalls']>> {
  const bySource = new Map<string, SourceApiCallsUsage[]>();
  for (const entry of entries) bySource.set(entry.sourceId, [...(bySource.get(entry.sourceId) ?? []), entry]);
  const result = new Map<string, NonNullable<SourceState['apiCalls']>>();
  for (const [sourceId, list] of bySource) {
    const sorted = [...list].sort((a, b) => a.timestamp.localeCompare(b.timestamp));
    const last = sorted[sorted.length - 1]!;
    const previous = sorted[sorted.length - 2];
    const lastDay = previous ? (BigInt(last.apiCalls) - BigInt(previous.apiCalls)).toString() : last.apiCalls;
    result.set(sourceId, { period, total: last.apiCalls, lastDay });
  }
  return result;
}

function toSourceState(source: SourceV1): SourceState {
  return {
    id: source.id,
    name: source.name ?? null,
    slug: source.slug,
    enabled: source.enabled,
    labels: source.labels.map(({ key, value }) => ({ key, value })),
    writeKeyFingerprints: source.writeKeys.map(writeKeyFingerprint),
    settings: source.settings ?? {},
  };
}

// ---------------------------------------------------------------------------------------------
// Activities
// ---------------------------------------------------------------------------------------------

export interface WorkspaceActivityDeps {
  /** The worker's settings and secrets (the API token, write keys, API roots). */
  env: NodeJS.ProcessEnv;
  /** Clock for the usage period. */
  now: () => Date;
  /** A Public API client for these options (src/segment/public-api-client.ts); tests may pass a fake. */
  publicApi: (options: PublicApiClientOptions) => PublicApiClient;
  /** A Tracking API client for the `send` step (src/segment/tracking-client.ts). */
  tracking: (options: TrackingClientOptions) => Pick<TrackingClient, 'send'>;
}

function activityInfo(): ReturnType<typeof Context.current>['info'] | undefined {
  try {
    return Context.current().info;
  } catch {
    return undefined; // called outside an activity (unit use)
  }
}

const nonRetryable = (message: string, type: string) => ApplicationFailure.create({ message, type, nonRetryable: true });

export function createWorkspaceActivities(deps: WorkspaceActivityDeps): WorkspaceActivities {
  const { now } = deps;

  /**
   * `abortable: false` for the apply step: a write aborted mid-request may or may not have happened, and the job's
   * audit trail must say which. The workflow waits for a cancelled apply to finish (WAIT_CANCELLATION_COMPLETED) and
   * records what it really did.
   */
  function apiClient(abortable = true): PublicApiClient {
    let token: string;
    try {
      token = resolveApiToken(deps.env);
    } catch (error) {
      if (error instanceof MissingSecretError) throw nonRetryable(error.message, FailureType.MissingSecret);
      throw error;
    }
    let signal: AbortSignal | undefined;
    try {
      signal = abortable ? cancellationSignal() : undefined;
    } catch {
      signal = undefined; // called outside an activity context (unit use)
    }
    let baseUrl: string;
    try {
      baseUrl = publicApiRoot(deps.env);
    } catch (error) {
      if (error instanceof ConfigError) throw nonRetryable(error.message, FailureType.InvalidConfig);
      throw error;
    }
    return deps.publicApi({ baseUrl, token, signal });
  }

  /** Live state of a source, or null when it no longer exists. */
  async function liveSource(api: PublicApiClient, sourceId: string, withConnections: boolean): Promise<{ live: LiveSource; raw: SourceV1 } | null> {
    let raw: SourceV1;
    try {
      raw = (await api.getSource(sourceId)).source;
    } catch (error) {
      if (error instanceof PublicApiNotFoundError) return null;
      throw error;
    }
    const live: LiveSource = toSourceState(raw);
    if (withConnections) {
      live.destinations = (await api.listConnectedDestinations(sourceId)).map(({ id, name, enabled }) => ({ id, name: name ?? null, enabled }));
      live.warehouses = (await api.listConnectedWarehouses(sourceId)).map((w) => ({ id: w.id, name: warehouseView(w).name, enabled: w.enabled }));
    }
    return { live, raw };
  }

  async function preview(input: WorkspacePreviewInput): Promise<WorkspacePreview> {
    const validated = validateJobSpec(input.spec);
    if (!validated.ok) {
      const total = Array.isArray(input.spec?.steps) ? input.spec.steps.length : undefined;
      throw nonRetryable(`job spec is invalid: ${validated.issues.map((issue) => formatIssue(issue, total)).join('; ')}`, FailureType.InvalidJobSpec);
    }
    const spec = validated.spec;
    const api = apiClient();
    const needs = previewNeeds(spec);

    const sources: SourceState[] = [];
    const missingSourceIds: string[] = [];
    if (needs.listAllSources) {
      sources.push(...(await api.listSources()).map(toSourceState));
      const known = new Set(sources.map((source) => source.id));
      missingSourceIds.push(...needs.explicitSourceIds.filter((id) => !known.has(id)));
    } else {
      for (const id of needs.explicitSourceIds) {
        try {
          sources.push(toSourceState((await api.getSource(id)).source));
        } catch (error) {
          if (error instanceof PublicApiNotFoundError) missingSourceIds.push(id);
          else throw error;
        }
      }
    }

    const warnings: string[] = [];
    const targets = new Set(targetedSourceIds(spec, sources));
    if (targets.size > 0) {
      const period = usagePeriod(now());
      let usage: Map<string, NonNullable<SourceState['apiCalls']>> | undefined;
      try {
        usage = apiCallsBySource(await api.getDailySourceApiCalls(period), period);
      } catch (error) {
        // Usage is context for the human, not a precondition: a token without billing access still gets a plan.
        if (!(error instanceof PublicApiError) || error.kind === 'rate-limited' || error.kind === 'server' || error.kind === 'network') throw error;
        warnings.push(`API-call usage unavailable (${error.kind}${error.status ? ` ${error.status}` : ''})`);
      }
      for (const source of sources) {
        if (!targets.has(source.id)) continue;
        source.destinations = (await api.listConnectedDestinations(source.id)).map(({ id, name, enabled }) => ({ id, name: name ?? null, enabled }));
        source.warehouses = (await api.listConnectedWarehouses(source.id)).map((w) => ({
          id: w.id,
          name: warehouseView(w).name,
          enabled: w.enabled,
        }));
        source.apiCalls = usage ? (usage.get(source.id) ?? { period: usagePeriod(now()), total: '0', lastDay: null }) : null;
      }
    }
    const labels: JobLabel[] | null = needs.labels ? (await api.listLabels()).map(({ key, value }) => ({ key, value })) : null;

    // Histories from before plans were bound to runs carry no runId; the activity context knows it anyway.
    const runId = input.runId ?? activityInfo()?.workflowExecution?.runId ?? '';
    const plan = buildWorkspacePlan(spec, input.jobId, { sources, missingSourceIds, labels }, runId);
    plan.warnings.push(...warnings);
    const hash = planHash(plan);
    return { plan, planHash: hash, summary: summarizePlan(plan), markdown: renderApprovalMarkdown(plan, hash) };
  }

  async function read(api: PublicApiClient, item: PlanItem): Promise<unknown> {
    switch (item.op) {
      case 'list-sources': {
        const all = await api.listSources();
        return { count: all.length, sources: all.slice(0, MAX_LISTED).map(sourceView), truncated: all.length > MAX_LISTED };
      }
      case 'get-source': {
        const { source, trackingPlanId } = await api.getSource(item.sourceId);
        return { source: sourceView(source), trackingPlanId };
      }
      case 'list-warehouses':
        return { warehouses: (await api.listConnectedWarehouses(item.sourceId)).slice(0, MAX_LISTED).map(warehouseView) };
      case 'schema-settings':
        return (await api.getSchemaSettings(item.sourceId)).settings;
      case 'get-destination':
        return destinationView(await api.getDestination(item.destinationId));
      case 'delivery-metrics': {
        const { destinationId, sourceId, startTime, endTime, granularity } = item;
        return api.getDeliveryMetrics(destinationId, { sourceId, startTime, endTime, granularity });
      }
      case 'api-calls-usage': {
        if (item.scope === 'workspace') {
          const entries = await api.getDailyWorkspaceApiCalls(item.period);
          return { period: item.period, scope: 'workspace', entries: entries.slice(0, MAX_LISTED * 2), truncated: entries.length > MAX_LISTED * 2 };
        }
        // Per source (the default): every source, or the listed ones. Counts are cumulative per day
        // (docs/segment-public-api.md, "API-call usage").
        const wanted = item.sourceIds ?? (item.sourceId ? [item.sourceId] : undefined);
        const entries = (await api.getDailySourceApiCalls(item.period)).filter((entry) => !wanted || wanted.includes(entry.sourceId));
        const bySource = Object.fromEntries(
          [...apiCallsBySource(entries, item.period)].slice(0, MAX_LISTED).map(([id, usage]) => [id, { total: usage.total, lastDay: usage.lastDay }]),
        );
        return {
          period: item.period,
          scope: 'sources',
          bySource,
          entries: entries.slice(0, MAX_LISTED * 2),
          truncated: entries.length > MAX_LISTED * 2,
        };
      }
      default:
        throw new Error(`not a read: ${item.op}`);
    }
  }

  async function send(item: Extract<PlanItem, { op: 'send' }>): Promise<string> {
    let writeKey: string;
    try {
      writeKey = resolveWriteKey(item.source, deps.env);
    } catch (error) {
      if (error instanceof MissingSecretError) throw nonRetryable(error.message, FailureType.MissingSecret);
      throw error;
    }
    let apiRoot: string;
    try {
      apiRoot = trackingApiRoot(deps.env);
    } catch (error) {
      if (error instanceof ConfigError) throw nonRetryable(error.message, FailureType.InvalidConfig);
      throw error;
    }
    const client = deps.tracking({ apiRoot, writeKey });
    // The one sender (src/segment/tracking-client.ts) gives every post a fresh sentAt (docs/segment-tracking-api.md,
    // "Timestamps and sentAt"); messageIds are fixed by the plan, so a re-send is deduplicated. Retries are
    // Temporal's.
    const events = item.messages.map((message) => ({
      serialized: JSON.stringify(message),
      messageId: String((message as { messageId?: unknown }).messageId ?? ''),
    }));
    const refused: string[] = [];
    let sent;
    try {
      sent = await client.send(events, {
        signal: cancellationSignal(),
        onRefused: (event, reason) => void refused.push(`${event.messageId || '(no messageId)'}: ${reason}`),
      });
    } catch (error) {
      if (error instanceof TrackingRetryableError) {
        throw ApplicationFailure.create({ message: error.reason, type: FailureType.TrackingRequestFailed, nextRetryDelay: error.delayMs });
      }
      if (error instanceof TrackingFatalError) throw nonRetryable(error.reason, FailureType.TrackingRequestFailed);
      throw error;
    }
    if (refused.length > 0) {
      throw nonRetryable(
        `${sent.accepted} message(s) accepted, ${refused.length} refused by the Tracking API: ${refused.slice(0, 5).join('; ')}`,
        FailureType.TrackingRequestFailed,
      );
    }
    return `${sent.accepted} message(s) accepted by the Tracking API`;
  }

  /** Applies one write after re-checking the live state; returns what happened. */
  async function write(api: PublicApiClient, item: PlanItem): Promise<{ status: 'applied' | 'already-applied'; message: string; data?: unknown }> {
    const checked = async (recheck: ReturnType<typeof recheckItem>) => {
      if (recheck.kind === 'drift')
        throw nonRetryable(`the workspace changed since the plan was approved: ${recheck.message}`, FailureType.PlanDrift);
      if (recheck.kind === 'refuse') throw nonRetryable(`guard rail ${recheck.rule}: ${recheck.message}`, FailureType.GuardRailRefused);
      return recheck.kind === 'already-applied' ? recheck.message : undefined;
    };
    switch (item.op) {
      case 'create-label': {
        const done = await checked(recheckItem(item, null, await api.listLabels()));
        if (done) return { status: 'already-applied', message: done };
        try {
          await api.createLabel(item.label);
        } catch (error) {
          // 409: created between our read and our write (e.g. by an attempt whose answer was lost).
          if (error instanceof PublicApiRequestError && error.status === 409) return { status: 'already-applied', message: 'label exists' };
          throw error;
        }
        return { status: 'applied', message: `label ${item.label.key}:${item.label.value} created` };
      }
      case 'add-labels': {
        const found = await liveSource(api, item.sourceId, false);
        const done = await checked(recheckItem(item, found?.live ?? null));
        if (done) return { status: 'already-applied', message: done };
        const missing = item.labels.filter((label) => !found!.live.labels.some((have) => have.key === label.key && have.value === label.value));
        const labelsNow = await api.addLabelsToSource(
          item.sourceId,
          missing.map(({ key, value }) => ({ key, value })),
        );
        return { status: 'applied', message: `labels now ${labelsNow.map((l) => `${l.key}:${l.value}`).join(', ')}` };
      }
      case 'update-source': {
        const found = await liveSource(api, item.sourceId, false);
        const done = await checked(recheckItem(item, found?.live ?? null));
        if (done) return { status: 'already-applied', message: done };
        const { patch } = pendingUpdate(item, found!.live);
        // Settings are sent whole (current + changed keys): correct whether Segment merges or replaces them.
        const body = { ...patch, ...(patch.settings ? { settings: { ...found!.live.settings, ...patch.settings } } : {}) };
        await api.updateSource(item.sourceId, body);
        return { status: 'applied', message: `updated ${Object.keys(patch).join(', ')}` };
      }
      case 'create-write-key': {
        const found = await liveSource(api, item.sourceId, false);
        const done = await checked(recheckItem(item, found?.live ?? null));
        if (done) return { status: 'already-applied', message: done };
        const before = new Set(found!.live.writeKeyFingerprints);
        const updated = await api.createWriteKey(item.sourceId);
        const created = updated.writeKeys.map(writeKeyFingerprint).filter((fingerprint) => !before.has(fingerprint));
        return {
          status: 'applied',
          message: `new write key ${created.join(', ') || '(not visible to this token)'}; read it with \`segflow source get ${item.sourceId} --reveal-write-keys\``,
          data: { fingerprints: created },
        };
      }
      case 'remove-write-key': {
        const found = await liveSource(api, item.sourceId, false);
        const done = await checked(recheckItem(item, found?.live ?? null));
        if (done) return { status: 'already-applied', message: done };
        const key = found!.raw.writeKeys.find((candidate) => writeKeyFingerprint(candidate) === item.fingerprint)!;
        try {
          await api.removeWriteKey(item.sourceId, key);
        } catch (error) {
          if (error instanceof PublicApiNotFoundError) return { status: 'already-applied', message: `write key ${item.fingerprint} is gone` };
          throw error;
        }
        return { status: 'applied', message: `write key ${item.fingerprint} removed` };
      }
      case 'delete-source': {
        const found = await liveSource(api, item.sourceId, true);
        const done = await checked(recheckItem(item, found?.live ?? null));
        if (done) return { status: 'already-applied', message: done };
        try {
          await api.deleteSource(item.sourceId);
        } catch (error) {
          if (error instanceof PublicApiNotFoundError) return { status: 'already-applied', message: `source ${item.sourceId} is gone` };
          throw error;
        }
        return { status: 'applied', message: `source ${item.sourceId} deleted` };
      }
      default:
        throw new Error(`not a write: ${item.op}`);
    }
  }

  return {
    /** Read-only: fetches the state of every target and computes the plan and its hash. */
    async workspacePreview(input: WorkspacePreviewInput): Promise<WorkspacePreview> {
      try {
        return await preview(input);
      } catch (error) {
        throw toApplicationFailure(error);
      }
    },

    /** Executes one plan item (a read, or a write after re-checking the live state). */
    async workspaceApplyItem(input: ApplyItemInput): Promise<ItemOutcome> {
      const { item } = input;
      const base = { itemId: item.id, step: item.step, op: item.op, target: item.target.id };
      // Heartbeats let Temporal notice a dead worker within the heartbeat timeout (not the 2-minute start-to-close),
      // and bring a cancellation request to this activity.
      const ticker = setInterval(() => heartbeat(), 1000);
      try {
        if (item.impact === 'read') return { ...base, status: 'read', data: await read(apiClient(), item) };
        if (item.op === 'send') return { ...base, status: 'applied', message: await send(item) };
        return { ...base, ...(await write(apiClient(false), item)) };
      } catch (error) {
        throw toApplicationFailure(error);
      } finally {
        clearInterval(ticker);
      }
    },
  };
}
