/**
 * The re-check right before a write (activities): an item already applied (an attempt that crashed after writing)
 * is reported instead of written twice, a state that moved away from the approved plan is drift, and the guard rails
 * the preview checked are checked again, since the workspace can change while the approval waits.
 */
import type { JobLabel } from '../job-spec';
import { formatLabel, sameLabel, sameValue } from './compare';
import { NEW_WRITE_KEY, type GuardRule, type PlanAction, type PlanItem } from '../../contracts/workspace-job';
import type { SourceState } from './workspace-state';

export type Recheck =
  | { kind: 'apply' }
  | { kind: 'already-applied'; message: string }
  /** A guard rail that held at preview no longer holds. */
  | { kind: 'refuse'; rule: GuardRule; message: string }
  /** The live state is neither the approved "from" nor the "to": someone else changed it. */
  | { kind: 'drift'; message: string };

/** Live state of the item's source (null when it is gone), with details when the item is a delete. */
export type LiveSource = Pick<
  SourceState,
  'id' | 'enabled' | 'labels' | 'writeKeyFingerprints' | 'settings' | 'name' | 'slug' | 'destinations' | 'warehouses'
>;

type UpdateField = 'name' | 'enabled' | 'slug';

/** For update-source: the fields still to write, once those already at their target are dropped. */
export function pendingUpdate(
  item: Extract<PlanItem, { op: 'update-source' }>,
  live: LiveSource,
): { recheck: Recheck; patch: Extract<PlanAction, { op: 'update-source' }>['set'] } {
  const patch: Extract<PlanAction, { op: 'update-source' }>['set'] = {};
  for (const change of item.changes) {
    const settingKey = change.field.startsWith('settings.') ? change.field.slice('settings.'.length) : undefined;
    const current = settingKey !== undefined ? live.settings[settingKey] : live[change.field as UpdateField];
    if (sameValue(current, change.to)) continue;
    if (!sameValue(current, change.from)) {
      return {
        recheck: {
          kind: 'drift',
          message: `${item.sourceId} ${change.field} is now ${JSON.stringify(current ?? null)}, the approved plan expected ${JSON.stringify(change.from)}`,
        },
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
        return {
          kind: 'drift',
          message: `write key ${item.fingerprint} is gone and ${item.sourceId} has ${keys.length} write key(s); the approved plan expected ${expected} before the removal`,
        };
      }
      // Force lifts the preview's guard rail only: the approved "N keys → N-1" must still hold.
      const missing = item.keysBefore.filter((fingerprint) => fingerprint !== NEW_WRITE_KEY && !keys.includes(fingerprint));
      if (keys.length !== expected || missing.length) {
        return {
          kind: 'drift',
          message: `${item.sourceId} has ${keys.length} write key(s)${missing.length ? ` (${missing.join(', ')} removed meanwhile)` : ''}; the approved plan expected ${expected} → ${expected - 1}`,
        };
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
        return {
          kind: 'drift',
          message: `${item.sourceId} is ${live.enabled ? 'enabled' : 'disabled'} now; it was approved for deletion while ${approved.enabled ? 'enabled' : 'disabled'}`,
        };
      }
      if (!sameValue(destinationIds, approved.destinationIds) || !sameValue(warehouseIds, approved.warehouseIds)) {
        return {
          kind: 'drift',
          message: `${item.sourceId} now has ${destinationIds.length} destination(s) and ${warehouseIds.length} warehouse(s); it was approved with ${approved.destinationIds.length} and ${approved.warehouseIds.length}`,
        };
      }
      if (!item.force && live.enabled) return { kind: 'refuse', rule: 'delete-enabled', message: `${item.sourceId} is enabled again` };
      const connected = destinationIds.length + warehouseIds.length;
      if (!item.force && connected > 0)
        return { kind: 'refuse', rule: 'delete-connected', message: `${item.sourceId} now has ${connected} connection(s)` };
      return { kind: 'apply' };
    }
    default:
      return { kind: 'apply' };
  }
}
