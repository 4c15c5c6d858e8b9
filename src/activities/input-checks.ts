/**
 * The checks every import activity makes before it trusts an input or a report directory, and the failure each
 * problem becomes: a path outside the worker's report root, an input outside its allow-lists, an input that changed
 * since the job first read it (docs/input-pinning.md), an input that is gone for good.
 */
import { CancelledFailure } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { createHash } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import type { z } from 'zod';
import { displayLocation } from '../shared/location';
import { isValidJobId, jobIdProblem } from '../core/job-id';
import type { ByteSource } from '../io/byte-source';
import { checkInputAllowed, InputNotAllowedError, isWithin } from '../io/input-policy';
import { stagedInputPaths } from '../io/reject-report';
import type { ChunkDescriptor, InputFormat } from '../contracts/import-job';
import { inputProblem } from '../contracts/job-input';
import { FailureType } from '../contracts/failures';

/**
 * The job's report root: SEGFLOW_REPORT_DIR, or the job's --report-dir inside it. Checked here, not only by the
 * CLI, because anyone who can start a workflow chooses these strings; the job id is checked along with it.
 */
export function reportRoot(env: NodeJS.ProcessEnv, explicit: string | undefined, jobId: string): string {
  if (!isValidJobId(jobId)) throw ApplicationFailure.nonRetryable(jobIdProblem(jobId), FailureType.InvalidJobId);
  const base = resolve(env.SEGFLOW_REPORT_DIR ?? 'segflow-reports');
  if (explicit === undefined) return base;
  const root = resolve(base, explicit);
  if (isAbsolute(explicit) || !isWithin(base, root)) {
    throw ApplicationFailure.nonRetryable(
      `the report directory "${explicit.slice(0, 80)}" is not inside this worker's SEGFLOW_REPORT_DIR; --report-dir is a relative sub-directory of it`,
      FailureType.InvalidReportDir,
    );
  }
  return root;
}

/**
 * An activity's input, parsed with its schema (src/contracts/job-input.ts) before anything is read or written: anyone
 * who can start a workflow chooses these values, so each activity checks them as if no workflow stood in front of it.
 */
export function parseActivityInput<S extends z.ZodType>(schema: S, activity: string, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  // A bad job id or report directory keeps the failure type it had before these schemas (users match on them).
  const field = parsed.error.issues[0]?.path[0];
  const type = field === 'jobId' ? FailureType.InvalidJobId : field === 'reportDir' ? FailureType.InvalidReportDir : FailureType.InvalidJobInput;
  throw ApplicationFailure.nonRetryable(inputProblem(`${activity} input`, parsed.error, input), type);
}

/**
 * A staged job's directory, plain file and map under its report root, derived from the (checked) job id, report
 * directory and format, and each checked to stay inside the root.
 */
export function stagedInput(
  env: NodeJS.ProcessEnv,
  ref: { jobId: string; reportDir?: string; format: InputFormat },
): { dir: string; file: string; map: string } {
  const root = reportRoot(env, ref.reportDir, ref.jobId);
  const paths = stagedInputPaths(root, ref.jobId, ref.format);
  for (const path of Object.values(paths)) {
    if (!isWithin(root, path) || path === root) {
      throw ApplicationFailure.nonRetryable(
        `the staged input path of job ${ref.jobId} is not inside its report directory`,
        FailureType.InvalidJobInput,
      );
    }
  }
  return paths;
}

/** The worker's allow-lists (src/io/input-policy.ts), checked before every read of an input. */
export async function assertInputAllowed(location: string, env: NodeJS.ProcessEnv): Promise<void> {
  try {
    await checkInputAllowed(location, env);
  } catch (error) {
    if (error instanceof InputNotAllowedError) throw ApplicationFailure.nonRetryable(error.message, FailureType.InputNotAllowed);
    throw error;
  }
}

/**
 * Same size is not same content: an object overwritten in place, or a file rewritten with the same length, keeps its
 * size but not its ETag / inode and modification time (docs/input-pinning.md).
 */
export async function assertSameVersion(source: ByteSource, file: string, expected: string | undefined): Promise<void> {
  if (expected === undefined) return;
  let actual: string | undefined;
  try {
    actual = await source.version();
  } catch (error) {
    throw asInputFailure(error, source.description);
  }
  if (actual !== expected) {
    throw ApplicationFailure.nonRetryable(
      `${displayLocation(file)} changed while being imported (it is no longer the version the job first read: ` +
        `${clipVersion(expected)} -> ${clipVersion(actual)}); start a new import of the new content`,
      FailureType.InputChanged,
    );
  }
}

/** An ETag is chosen by the server: show a short prefix, never a long opaque string. */
function clipVersion(version: string | undefined): string {
  if (version === undefined) return 'unknown';
  return version.length > 60 ? `${version.slice(0, 60)}…` : version;
}

export function assertUnchanged(file: string, expected: number, actual: number): void {
  if (expected !== actual) {
    throw ApplicationFailure.nonRetryable(
      `${displayLocation(file)} changed while being imported (size ${expected} -> ${actual} bytes); start a new import of the new content`,
      FailureType.InputChanged,
    );
  }
}

/** The input's size; a missing file or a refused URL is a permanent problem, not one to retry forever. */
export async function inputSize(source: ByteSource): Promise<number> {
  try {
    return await source.size();
  } catch (error) {
    throw asInputFailure(error, source.description);
  }
}

/** Error codes and HTTP statuses that retrying cannot fix: the input is gone, forbidden, or not a file. */
const PERMANENT_FS_CODES = new Set(['ENOENT', 'EACCES', 'EPERM', 'EISDIR', 'ENOTDIR']);
const PERMANENT_HTTP_STATUSES = new Set([200, 401, 403, 404, 410, 416]);
/** 412: a range request pinned to the version the job first read (If-Match) found another one. */
const CHANGED_HTTP_STATUS = 412;

/**
 * Marks input errors that cannot heal as non-retryable `InputUnreadable`, with the reason, so a deleted file or an
 * expired presigned URL fails the job at once instead of retrying until the attempt budget runs out.
 */
export function asInputFailure(error: unknown, description: string): unknown {
  if (error instanceof ApplicationFailure || error instanceof CancelledFailure) return error;
  // A connection the input policy refused at connect time (a name that now resolves elsewhere): asking again will not help.
  if (error instanceof InputNotAllowedError) return ApplicationFailure.nonRetryable(error.message, FailureType.InputNotAllowed);
  const err = error as { code?: string; status?: number; message?: string; path?: string };
  if (err.status === CHANGED_HTTP_STATUS) {
    return ApplicationFailure.create({
      message: `${description} changed while being imported (${String(err.message ?? error)}); start a new import of the new content`,
      type: FailureType.InputChanged,
      nonRetryable: true,
    });
  }
  // Only the input's own errors: a missing reject-report or checkpoint file is the worker's problem, not the input's.
  const permanent =
    (err.code !== undefined && PERMANENT_FS_CODES.has(err.code) && err.path === description) ||
    (err.status !== undefined && PERMANENT_HTTP_STATUSES.has(err.status));
  if (!permanent) return error;
  const why = err.code === 'ENOENT' ? 'the file no longer exists' : err.code ? `${err.code}` : `HTTP ${err.status}`;
  const message = String(err.message ?? error).includes(description) ? String(err.message) : `${description}: ${String(err.message ?? error)}`;
  return ApplicationFailure.create({ message: `Cannot read input (${why}): ${message}`, type: FailureType.InputUnreadable, nonRetryable: true });
}

/** SHA-256 (first 128 bits, hex) of a chunk's bytes. */
export async function chunkDigest(source: ByteSource, chunk: ChunkDescriptor): Promise<string> {
  const hash = createHash('sha256');
  for await (const piece of source.openRange(chunk.startByte, chunk.endByte)) hash.update(piece);
  return hash.digest('hex').slice(0, 32);
}
