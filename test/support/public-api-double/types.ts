/**
 * What the Public API double stores and what a test hands it: records shaped like the API's objects
 * (docs/segment-public-api.md, "Object shapes") plus the double's own join data, seeds, options, faults and logs.
 */

export interface LabelRecord {
  key: string;
  value: string;
  description?: string;
}

export interface SourceRecord {
  id: string;
  slug: string;
  name?: string;
  workspaceId: string;
  enabled: boolean;
  writeKeys: string[];
  settings: Record<string, unknown>;
  labels: LabelRecord[];
  metadata: Record<string, unknown>;
  /** Protocols schema settings (#7 / #7b). */
  schemaSettings: Record<string, unknown>;
}

export interface DestinationRecord {
  id: string;
  name?: string;
  enabled: boolean;
  sourceId: string;
  settings: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

export interface WarehouseRecord {
  id: string;
  workspaceId: string;
  enabled: boolean;
  settings: Record<string, unknown>;
  metadata: Record<string, unknown>;
  /** Sources connected to this warehouse (not part of WarehouseV1: the double's join table). */
  sourceIds: string[];
}

export interface UsageRecord {
  sourceId: string;
  /** Daily cumulative count within the usage month (docs/segment-public-api.md, API-call usage). */
  apiCalls: number | string;
  timestamp: string;
}

export interface DeliveryMetricsRecord {
  destinationId: string;
  sourceId: string;
  metrics: Array<{ metricName: string; total: number; breakdown?: Array<{ metricName: string; value: number }> }>;
}

export interface SourceSeed extends Partial<Omit<SourceRecord, 'id'>> {
  id: string;
}
export interface DestinationSeed extends Partial<Omit<DestinationRecord, 'id' | 'sourceId'>> {
  id: string;
  sourceId: string;
}
export interface WarehouseSeed extends Partial<Omit<WarehouseRecord, 'id'>> {
  id: string;
  name?: string;
}

export interface PublicApiDoubleOptions {
  /** The only Bearer token accepted. */
  token: string;
  port?: number;
  host?: string;
  workspace?: { id: string; slug: string; name: string };
  sources?: SourceSeed[];
  destinations?: DestinationSeed[];
  warehouses?: WarehouseSeed[];
  /** Labels that exist in the workspace (#12/#13). */
  labels?: LabelRecord[];
  usage?: UsageRecord[];
  deliveryMetrics?: DeliveryMetricsRecord[];
  /** Points per rate-limit window (default 10,000: tests do not hit it unless they ask). */
  rateLimitPoints?: number;
  /** Rate-limit window length (default 60 s). */
  rateLimitWindowMs?: number;
  /** Clock for time windows and headers; default the real one. */
  now?: () => Date;
  /** Generator of new write keys (#8); default 32 random hex characters. */
  newWriteKey?: () => string;
  /**
   * Behave like Segment where the documents leave a client room to get it wrong: list pages are small (2 items by
   * default), so a client that does not follow `pagination.next` misses sources; and a token without the Source Admin
   * permission (`sourceAdmin: false`, the default here) sees every source's `writeKeys` empty.
   */
  likeSegment?: { sourceAdmin?: boolean; pageCount?: number };
}

export interface FaultMatch {
  method?: string;
  /** Exact path (no query), or a pattern tested against the path. */
  path?: string | RegExp;
}

export type PublicApiFault = { match?: FaultMatch; times?: number } & (
  | { kind: 'rate-limit'; msBeforeNext?: number }
  | { kind: 'server-error'; status?: number }
  /** Never answer (the socket stays open until the client gives up or the double stops). */
  | { kind: 'hang' }
  /** Apply the request (state and audit log change), then never answer: a crash after the write, before the ack. */
  | { kind: 'apply-then-hang' }
  /** Apply the request, then answer 500: a lost acknowledgement. */
  | { kind: 'apply-then-fail' }
);

export interface AuditEntry {
  method: string;
  /** Path without query string. */
  path: string;
  body: unknown;
  at: string;
  status: number;
}

export interface PublicApiRequestLogEntry {
  method: string;
  /** Path with query string, as received. */
  url: string;
  path: string;
  status: number;
  accept?: string;
  at: string;
  fault?: PublicApiFault['kind'];
}

export interface PublicApiDoubleState {
  workspace: { id: string; slug: string; name: string };
  sources: SourceRecord[];
  destinations: DestinationRecord[];
  warehouses: WarehouseRecord[];
  labels: LabelRecord[];
  usage: UsageRecord[];
  deliveryMetrics: DeliveryMetricsRecord[];
}
