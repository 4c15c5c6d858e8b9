/** How the planner and the re-check compare labels and values, and how a label is written. */
import type { JobLabel } from '../job-spec';
import { canonicalJson } from '../plan-hash';

export const formatLabel = (label: JobLabel): string => `${label.key}:${label.value}`;
export const sameLabel = (a: JobLabel, b: JobLabel): boolean => a.key === b.key && a.value === b.value;
/** Equal as canonical JSON; a missing value equals null. */
export const sameValue = (a: unknown, b: unknown): boolean => canonicalJson(a ?? null) === canonicalJson(b ?? null);
