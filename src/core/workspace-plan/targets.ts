/**
 * Which sources a job touches: what the preview must fetch, and a step's targets resolved to source ids (explicit
 * ids as written; a selector by labels and a name pattern, core/glob.ts).
 */
import { globMatches } from '../glob';
import type { JobSpec, JobStep, JobTargets } from '../job-spec';
import { sameLabel } from './compare';
import type { SourceState } from './workspace-state';

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
