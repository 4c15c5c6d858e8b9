/**
 * Names a job carries that become paths, workflow ids and metric labels, each rule stated once. Pure: safe in the
 * sandbox.
 *
 * Job ids are names, not paths: they name the workflow and the job's report directory, so `../x` or `a/b` would
 * write (and later delete) outside SEGFLOW_REPORT_DIR. Checked by the CLI, by the workflow and again by the
 * activities, since anyone with access to the namespace can start a workflow directly.
 */
export const JOB_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

export function isValidJobId(id: unknown): id is string {
  return typeof id === 'string' && JOB_ID_PATTERN.test(id);
}

export function jobIdProblem(id: string): string {
  return `job id "${id.slice(0, 40)}${id.length > 40 ? '...' : ''}" is not valid: use letters, digits, ".", "_" and "-" (at most 200 characters, starting with a letter or digit)`;
}

/** A source *name* (the worker maps it to a write key): letters, digits, `_` and `-`; also a bounded metrics label. */
export const SOURCE_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
