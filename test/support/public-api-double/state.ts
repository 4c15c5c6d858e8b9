/** The double's workspace: defaults for what a seed leaves out, the seeding, and the views a route answers with. */
import type { PublicApiDoubleOptions, PublicApiDoubleState, SourceRecord, WarehouseRecord } from './types';

export const DEFAULT_SOURCE_METADATA = {
  id: 'meta-javascript',
  name: 'Javascript',
  slug: 'javascript',
  description: 'Analytics.js',
  logos: {},
  options: [],
  categories: ['Website'],
  isCloudEventSource: false,
  status: 'PUBLIC',
};

export const DEFAULT_SCHEMA_SETTINGS = {
  track: {
    allowUnplannedEvents: true,
    allowUnplannedEventProperties: true,
    allowEventOnViolations: true,
    allowPropertiesOnViolations: true,
    commonEventOnViolations: 'ALLOW',
  },
  identify: { allowUnplannedTraits: true, allowTraitsOnViolations: true, commonEventOnViolations: 'ALLOW' },
  group: { allowUnplannedTraits: true, allowTraitsOnViolations: true, commonEventOnViolations: 'ALLOW' },
};

export function sourceView(source: SourceRecord): Record<string, unknown> {
  const { schemaSettings: _schemaSettings, ...view } = source;
  return structuredClone(view);
}

export function warehouseView(warehouse: WarehouseRecord): Record<string, unknown> {
  const { sourceIds: _sourceIds, ...view } = warehouse;
  return structuredClone(view);
}

export function seedState(opts: PublicApiDoubleOptions): PublicApiDoubleState {
  const workspace = opts.workspace ?? { id: 'ws_test', slug: 'test-workspace', name: 'Test workspace' };
  return {
    workspace,
    sources: (opts.sources ?? []).map((seed) => ({
      slug: seed.id.toLowerCase().replace(/[^a-z0-9_-]/g, '-'),
      name: seed.id,
      workspaceId: workspace.id,
      enabled: true,
      writeKeys: [],
      settings: {},
      labels: [],
      metadata: { ...DEFAULT_SOURCE_METADATA },
      schemaSettings: structuredClone(DEFAULT_SCHEMA_SETTINGS),
      ...structuredClone(seed),
    })),
    destinations: (opts.destinations ?? []).map((seed) => ({
      name: seed.id,
      enabled: true,
      settings: {},
      metadata: { id: 'meta-webhooks', name: 'Webhooks', slug: 'webhooks' },
      ...structuredClone(seed),
    })),
    warehouses: (opts.warehouses ?? []).map(({ name, settings, ...seed }) => ({
      workspaceId: workspace.id,
      enabled: true,
      // WarehouseV1 has no name field: the app shows settings.name.
      settings: { ...(name ? { name } : {}), ...structuredClone(settings ?? {}) },
      metadata: { id: 'meta-postgres', name: 'Postgres', slug: 'postgres', description: '', logos: {}, options: [] },
      sourceIds: [],
      ...structuredClone(seed),
    })),
    labels: structuredClone(opts.labels ?? []),
    usage: structuredClone(opts.usage ?? []),
    deliveryMetrics: structuredClone(opts.deliveryMetrics ?? []),
  };
}
