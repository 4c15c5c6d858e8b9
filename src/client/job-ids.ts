/**
 * The ids segflow gives jobs when `--id` is not passed. An import is named after its content and its target, so
 * starting the same import twice finds the first job instead of sending everything again; a workspace job after
 * its name and the time. Validity of any id (a name, never a path) is src/core/job-id.ts.
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';

/** The prefix workspace jobs get by default; commands also accept the id without it. */
export const WORKSPACE_JOB_PREFIX = 'workspace-';

export interface ImportTarget {
  source: string;
  idNamespace: string;
  dryRun: boolean;
}

/**
 * `import-<source>-<16 hex>` (`dryrun-...` for a dry run): `content` has hashed the input (a file's bytes, or the
 * digest of a staged set), the target is hashed after it.
 */
export function importJobId(content: Hash, target: ImportTarget): string {
  content.update(`\0${target.source}\0${target.idNamespace}`);
  return `${target.dryRun ? 'dryrun' : 'import'}-${target.source}-${content.digest('hex').slice(0, 16)}`;
}

/** The job id of a staged input (directory, glob, manifest, .gz): from the digest of every file's content and name. */
export function inputSetJobId(setDigest: string, target: ImportTarget): string {
  return importJobId(createHash('sha256').update(setDigest), target);
}

/** `workspace-<name>-<yyyymmdd-hhmmss>-<4 hex>`: readable in `segflow list`, unique however often it runs. */
export function workspaceJobId(base: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const clean =
    base
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'job';
  return `${WORKSPACE_JOB_PREFIX}${clean}-${stamp}-${randomUUID().slice(0, 4)}`;
}

/** The workflow ids a job id typed by a person may mean: as typed, or with the default workspace prefix. */
export function jobIdCandidates(typed: string): string[] {
  return [typed, `${WORKSPACE_JOB_PREFIX}${typed}`];
}
