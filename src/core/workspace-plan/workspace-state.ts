/** The workspace as the preview fetched it: what the planner plans against and the activities re-check. */
import type { JobLabel } from '../job-spec';
import type { SourceSnapshot } from '../../contracts/workspace-job';

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
