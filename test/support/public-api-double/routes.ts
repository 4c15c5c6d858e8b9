/**
 * The double's routes, one per catalogue operation (docs/segment-public-api.md numbers them), with the version each
 * exists in and whether it writes (writes go to the audit log). Each handler reads and changes the shared state.
 */
import type { ApiVersion } from './versions';
import { paginate, paginationParam } from './pagination';
import { DEFAULT_SCHEMA_SETTINGS, DEFAULT_SOURCE_METADATA, sourceView, warehouseView } from './state';
import type { LabelRecord, PublicApiDoubleOptions, PublicApiDoubleState, SourceRecord, UsageRecord } from './types';
import {
  ApiError,
  asObject,
  HOUR,
  invalid,
  METRIC_WINDOWS,
  notFound,
  parseLabel,
  parsePeriod,
  parseTime,
  rejectUnknownFields,
  sameLabel,
} from './validation';

export interface RouteContext {
  params: string[];
  query: URLSearchParams;
  body: unknown;
}

export interface RouteResult {
  status: number;
  data: unknown;
}

export interface Route {
  method: string;
  pattern: RegExp;
  /** The most stable version the route exists in. */
  version: ApiVersion;
  write: boolean;
  handle(ctx: RouteContext): RouteResult;
}

/** What the routes need from the double that owns them. */
export interface RouteDeps {
  state: PublicApiDoubleState;
  now: () => Date;
  newWriteKey: () => string;
  likeSegment: PublicApiDoubleOptions['likeSegment'];
}

export function buildRoutes(deps: RouteDeps): Route[] {
  function requireSource(id: string): SourceRecord {
    const source = deps.state.sources.find((candidate) => candidate.id === id);
    if (!source) throw notFound(`Source ${id}`);
    return source;
  }

  let idCounter = 0;
  function nextId(prefix: string): string {
    idCounter += 1;
    return `${prefix}${String(idCounter).padStart(6, '0')}`;
  }

  /** Labels of a #5/#5b body; each must already exist in the workspace (create it first with #12). */
  function workspaceLabels(body: unknown): LabelRecord[] {
    const obj = asObject(body);
    rejectUnknownFields(obj, ['labels']);
    if (!Array.isArray(obj.labels)) throw invalid('labels', 'labels must be an array');
    return obj.labels.map((raw, index) => {
      const label = parseLabel(raw, `labels[${index}]`);
      const known = deps.state.labels.find((have) => sameLabel(have, label));
      if (!known) throw invalid(`labels[${index}]`, `label ${label.key}:${label.value} does not exist in the workspace`);
      return { ...known };
    });
  }

  function usageInPeriod(start: Date): UsageRecord[] {
    const end = Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1);
    return deps.state.usage
      .filter((entry) => {
        const at = Date.parse(entry.timestamp);
        return at >= start.getTime() && at < end;
      })
      .sort((a, b) => a.timestamp.localeCompare(b.timestamp) || a.sourceId.localeCompare(b.sourceId));
  }

  const s = deps.state;
  const route = (method: string, pattern: RegExp, handle: (ctx: RouteContext) => RouteResult, version: ApiVersion = 'stable'): Route => ({
    method,
    pattern,
    handle,
    version,
    write: method !== 'GET',
  });
  const ok = (data: unknown, status = 200): RouteResult => ({ status, data });
  const SEG = '([^/]+)';

  return [
    route('GET', /^\/$/, () => ok({ workspace: s.workspace })),

    // #1 List Sources
    route('GET', /^\/sources$/, ({ query }) => {
      const like = deps.likeSegment;
      if (like && paginationParam(query, 'count') === null) query.set('pagination.count', String(like.pageCount ?? 2));
      const { page, pagination } = paginate(s.sources, query);
      const view = (source: SourceRecord) => (like && !like.sourceAdmin ? { ...sourceView(source), writeKeys: [] } : sourceView(source));
      return ok({ sources: page.map(view), pagination });
    }),

    // #15 Create Source
    route('POST', /^\/sources$/, ({ body }) => {
      const obj = asObject(body);
      rejectUnknownFields(obj, ['slug', 'enabled', 'metadataId', 'settings', 'disconnectAllWarehouses']);
      if (typeof obj.slug !== 'string' || obj.slug === '') throw invalid('slug', 'slug is required');
      if (typeof obj.enabled !== 'boolean') throw invalid('enabled', 'enabled is required and must be a boolean');
      if (typeof obj.metadataId !== 'string' || obj.metadataId === '') throw invalid('metadataId', 'metadataId is required');
      if (s.sources.some((source) => source.slug === obj.slug)) throw new ApiError(409, 'conflict', `slug ${obj.slug} is taken`);
      const source: SourceRecord = {
        id: nextId('src_'),
        slug: obj.slug,
        name: obj.slug,
        workspaceId: s.workspace.id,
        enabled: obj.enabled,
        writeKeys: [deps.newWriteKey()],
        settings: obj.settings === undefined ? {} : asObject(obj.settings, 'settings'),
        labels: [],
        metadata: { ...DEFAULT_SOURCE_METADATA, id: obj.metadataId },
        schemaSettings: structuredClone(DEFAULT_SCHEMA_SETTINGS),
      };
      s.sources.push(source);
      return ok({ source: sourceView(source) }, 201);
    }),

    // #2 Get Source
    route('GET', new RegExp(`^/sources/${SEG}$`), ({ params }) => ok({ source: sourceView(requireSource(params[0]!)), trackingPlanId: null })),

    // #3 Update Source
    route('PATCH', new RegExp(`^/sources/${SEG}$`), ({ params, body }) => {
      const source = requireSource(params[0]!);
      const obj = asObject(body);
      rejectUnknownFields(obj, ['name', 'enabled', 'slug', 'settings']);
      if (obj.name !== undefined && typeof obj.name !== 'string') throw invalid('name', 'name must be a string');
      if (obj.enabled !== undefined && typeof obj.enabled !== 'boolean') throw invalid('enabled', 'enabled must be a boolean');
      if (obj.slug !== undefined && (typeof obj.slug !== 'string' || !/^[a-z0-9_-]+$/.test(obj.slug))) {
        throw invalid('slug', 'slug must be lower-case letters, digits, _ or -');
      }
      if (obj.slug !== undefined && s.sources.some((other) => other.id !== source.id && other.slug === obj.slug)) {
        throw new ApiError(409, 'conflict', `slug ${String(obj.slug)} is taken`);
      }
      const settings = obj.settings === undefined ? undefined : asObject(obj.settings, 'settings');
      if (obj.name !== undefined) source.name = obj.name as string;
      if (obj.enabled !== undefined) source.enabled = obj.enabled as boolean;
      if (obj.slug !== undefined) source.slug = obj.slug as string;
      if (settings !== undefined) source.settings = structuredClone(settings);
      return ok({ source: sourceView(source) });
    }),

    // #4 Delete Source
    route('DELETE', new RegExp(`^/sources/${SEG}$`), ({ params }) => {
      const source = requireSource(params[0]!);
      s.sources.splice(s.sources.indexOf(source), 1);
      s.destinations = s.destinations.filter((destination) => destination.sourceId !== source.id);
      for (const warehouse of s.warehouses) warehouse.sourceIds = warehouse.sourceIds.filter((id) => id !== source.id);
      return ok({ status: 'SUCCESS' });
    }),

    // #5 Add Labels to Source
    route('POST', new RegExp(`^/sources/${SEG}/labels$`), ({ params, body }) => {
      const source = requireSource(params[0]!);
      const labels = workspaceLabels(body);
      for (const label of labels) if (!source.labels.some((have) => sameLabel(have, label))) source.labels.push(label);
      return ok({ labels: source.labels.map((label) => ({ ...label })) });
    }),

    // #5b Replace Labels in Source
    route('PUT', new RegExp(`^/sources/${SEG}/labels$`), ({ params, body }) => {
      const source = requireSource(params[0]!);
      source.labels = workspaceLabels(body);
      return ok({ labels: source.labels.map((label) => ({ ...label })) });
    }),

    // #6 List Connected Warehouses from Source
    route('GET', new RegExp(`^/sources/${SEG}/connected-warehouses$`), ({ params, query }) => {
      const source = requireSource(params[0]!);
      const connected = s.warehouses.filter((warehouse) => warehouse.sourceIds.includes(source.id));
      const { page, pagination } = paginate(connected, query);
      return ok({ warehouses: page.map(warehouseView), pagination });
    }),

    // #6b List Connected Destinations from Source
    route('GET', new RegExp(`^/sources/${SEG}/connected-destinations$`), ({ params, query }) => {
      const source = requireSource(params[0]!);
      const connected = s.destinations.filter((destination) => destination.sourceId === source.id);
      const { page, pagination } = paginate(connected, query);
      return ok({ destinations: page.map((destination) => structuredClone(destination)), pagination });
    }),

    // #7 List Schema Settings in Source
    route('GET', new RegExp(`^/sources/${SEG}/settings$`), ({ params }) => {
      const source = requireSource(params[0]!);
      return ok({ sourceId: source.id, settings: structuredClone(source.schemaSettings) });
    }),

    // #7b Update Schema Settings in Source
    route('PATCH', new RegExp(`^/sources/${SEG}/settings$`), ({ params, body }) => {
      const source = requireSource(params[0]!);
      const obj = asObject(body);
      rejectUnknownFields(obj, ['track', 'identify', 'group', 'forwardingViolationsTo', 'forwardingBlockedEventsTo']);
      for (const field of ['forwardingViolationsTo', 'forwardingBlockedEventsTo']) {
        // Docs: to disable forwarding omit the field; sending an empty value errors.
        if (field in obj && (typeof obj[field] !== 'string' || obj[field] === '')) {
          throw invalid(field, `${field} must be a source id; omit it to disable forwarding`);
        }
      }
      source.schemaSettings = { ...source.schemaSettings, ...structuredClone(obj) };
      return ok({ sourceId: source.id, settings: structuredClone(source.schemaSettings) });
    }),

    // #8 Create Write Key for Source (alpha only)
    route(
      'POST',
      new RegExp(`^/sources/${SEG}/writekey$`),
      ({ params }) => {
        const source = requireSource(params[0]!);
        source.writeKeys.push(deps.newWriteKey());
        return ok({ source: sourceView(source) });
      },
      'alpha',
    ),

    // #9 Remove Write Key from Source (alpha only)
    route(
      'DELETE',
      new RegExp(`^/sources/${SEG}/writekey/${SEG}$`),
      ({ params }) => {
        const source = requireSource(params[0]!);
        const index = source.writeKeys.indexOf(params[1]!);
        if (index < 0) throw notFound('Write key');
        source.writeKeys.splice(index, 1);
        return ok({ status: 'SUCCESS' });
      },
      'alpha',
    ),

    // #10 Get Destination
    route('GET', new RegExp(`^/destinations/${SEG}$`), ({ params }) => {
      const destination = s.destinations.find((candidate) => candidate.id === params[0]);
      if (!destination) throw notFound(`Destination ${params[0]}`);
      return ok({ destination: structuredClone(destination) });
    }),

    // #11 List Delivery Metrics Summary from Destination (beta)
    route(
      'GET',
      new RegExp(`^/destinations/${SEG}/delivery-metrics$`),
      ({ params, query }) => {
        const destination = s.destinations.find((candidate) => candidate.id === params[0]);
        if (!destination) throw notFound(`Destination ${params[0]}`);
        const sourceId = query.get('sourceId');
        if (!sourceId) throw invalid('sourceId', 'sourceId is required');
        const granularity = query.get('granularity') ?? 'MINUTE';
        const window = METRIC_WINDOWS[granularity];
        if (!window) throw invalid('granularity', 'granularity must be MINUTE, HOUR or DAY');
        const now = deps.now().getTime();
        const end = parseTime(query.get('endTime'), 'endTime') ?? now;
        const start = parseTime(query.get('startTime'), 'startTime') ?? end - window.defaultBackMs;
        if (start >= end) throw invalid('startTime', 'startTime must be before endTime');
        if (end - start > window.maxRangeMs)
          throw invalid('endTime', `the ${granularity} granularity allows at most ${window.maxRangeMs / HOUR} hours`);
        if (start < now - window.oldestMs)
          throw invalid('startTime', `the ${granularity} granularity reaches back at most ${window.oldestMs / HOUR} hours`);
        const seeded = s.deliveryMetrics.find((m) => m.destinationId === destination.id && m.sourceId === sourceId);
        return ok({
          deliveryMetricsSummary: {
            sourceId,
            destinationMetadataId: String(destination.metadata.id ?? ''),
            metrics: structuredClone(seeded?.metrics ?? []),
          },
        });
      },
      'beta',
    ),

    // #12 Create Label
    route('POST', /^\/labels$/, ({ body }) => {
      const obj = asObject(body);
      rejectUnknownFields(obj, ['label']);
      const label = parseLabel(obj.label, 'label');
      if (s.labels.some((have) => sameLabel(have, label))) {
        throw new ApiError(409, 'conflict', `label ${label.key}:${label.value} already exists`);
      }
      s.labels.push(label);
      return ok({ label: { ...label } }, 201);
    }),

    // #13 List Labels (no pagination)
    route('GET', /^\/labels$/, () => ok({ labels: s.labels.map((label) => ({ ...label })) })),

    // #13b Delete Label
    route('DELETE', new RegExp(`^/labels/${SEG}/${SEG}$`), ({ params }) => {
      const index = s.labels.findIndex((label) => label.key === params[0] && label.value === params[1]);
      if (index < 0) throw notFound(`Label ${params[0]}:${params[1]}`);
      s.labels.splice(index, 1);
      return ok({ status: 'SUCCESS' });
    }),

    // #14 Get Daily Per Source API Calls Usage
    route('GET', /^\/usage\/api-calls\/sources\/daily$/, ({ query }) => {
      const entries = usageInPeriod(parsePeriod(query.get('period'))).map((entry) => ({
        sourceId: entry.sourceId,
        apiCalls: String(entry.apiCalls),
        timestamp: entry.timestamp,
      }));
      const { page, pagination } = paginate(entries, query);
      return ok({ dailyPerSourceAPICallsUsage: page, pagination });
    }),

    // #14b Get Daily Workspace API Calls Usage
    route('GET', /^\/usage\/api-calls\/daily$/, ({ query }) => {
      const byDay = new Map<string, bigint>();
      for (const entry of usageInPeriod(parsePeriod(query.get('period')))) {
        byDay.set(entry.timestamp, (byDay.get(entry.timestamp) ?? 0n) + BigInt(entry.apiCalls));
      }
      const entries = [...byDay].map(([timestamp, calls]) => ({ apiCalls: calls.toString(), timestamp }));
      const { page, pagination } = paginate(entries, query);
      return ok({ dailyWorkspaceAPICallsUsage: page, pagination });
    }),
  ];
}
