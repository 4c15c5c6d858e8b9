/**
 * What Segment's Public API sends and takes (docs/segment-public-api.md, "Object shapes"): only the fields segflow
 * reads are typed; the rest passes through untouched.
 */

export interface LabelV1 {
  key: string;
  value: string;
  description?: string;
}

export interface SourceV1 {
  id: string;
  slug: string;
  name?: string;
  workspaceId: string;
  enabled: boolean;
  /** Empty when the token lacks the "source admin" permission. Secrets: never put them in workflow history. */
  writeKeys: string[];
  settings?: Record<string, unknown>;
  labels: LabelV1[];
  metadata: { id: string; name: string; slug: string; [key: string]: unknown };
}

export interface DestinationV1 {
  id: string;
  name?: string;
  enabled: boolean;
  sourceId: string;
  settings: Record<string, unknown>;
  metadata: { id: string; name: string; slug: string; [key: string]: unknown };
}

export interface WarehouseV1 {
  id: string;
  workspaceId: string;
  enabled: boolean;
  settings: Record<string, unknown>;
  metadata: { id: string; name: string; slug: string; [key: string]: unknown };
}

export interface SchemaSettingsV1 {
  track?: Record<string, unknown>;
  identify?: Record<string, unknown>;
  group?: Record<string, unknown>;
  forwardingViolationsTo?: string;
  forwardingBlockedEventsTo?: string;
}

export type Granularity = 'MINUTE' | 'HOUR' | 'DAY';

export interface DeliveryMetricsSummary {
  sourceId: string;
  destinationMetadataId: string;
  metrics: Array<{ metricName: string; total: number; breakdown?: Array<{ metricName: string; value: number }> }>;
}

export interface SourceApiCallsUsage {
  sourceId: string;
  /** A bigint as a decimal string; daily *cumulative* within the usage month. */
  apiCalls: string;
  timestamp: string;
}

export interface WorkspaceApiCallsUsage {
  apiCalls: string;
  timestamp: string;
}

export interface UpdateSourceInput {
  name?: string;
  enabled?: boolean;
  slug?: string;
  settings?: Record<string, unknown>;
}
