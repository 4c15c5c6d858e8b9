/**
 * Everything about an import request that can be checked before connecting to Temporal: the input exists, its
 * format, the source name, the job id, --report-dir; and the default job id, from the input's content.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename, extname, resolve } from 'node:path';
import { canonicalSourceName } from '../config';
import { isValidJobId, jobIdProblem } from '../contracts/names';
import { IMPORT_LIMITS, reportDirProblem, SOURCE_NAME_PATTERN } from '../contracts/job-input';
import { displayLocation, isHttpLocation, locationName } from '../shared/location';
import type { InputFormat } from '../core/types';
import type { ImportOptions } from '../contracts/import-job';
import { openByteSource } from '../io/open-byte-source';
import { expandInputSet, formatOfEntries, InputSetError, inputSetKind, type InputEntry, type InputSetKind } from '../io/input-set';
import { digestInput, inputSetDigest } from '../io/staging';
import { importJobId, inputSetJobId } from './job-ids';
import { UsageError } from './usage-error';

export interface ImportRequest extends Partial<Omit<ImportOptions, 'file' | 'format' | 'searchAttributes' | 'inputSet'>> {
  file: string;
  /** `file` is a manifest: a text file listing input paths (relative to it) or URLs, one per line. */
  manifest?: boolean;
  format?: InputFormat;
  jobId?: string;
  force?: boolean;
}

export function detectFormat(file: string, explicit?: string): InputFormat {
  if (explicit) {
    if (explicit === 'csv' || explicit === 'ndjson') return explicit;
    throw new UsageError(`Unknown --format "${explicit}"; use csv or ndjson.`);
  }
  // `.gz` names its compression, not its format.
  const name = locationName(file).replace(/\.gz$/i, '');
  const ext = extname(name).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.ndjson' || ext === '.jsonl') return 'ndjson';
  throw new UsageError(`Cannot tell the format of ${displayLocation(file)} from its extension; pass --format csv or --format ndjson.`);
}

/**
 * The default job id is a digest of the file's content and its target, so starting the same import twice finds
 * the first one instead of sending everything again.
 */
export async function defaultJobId(file: string, source: string, idNamespace: string, dryRun: boolean): Promise<string> {
  const hash = createHash('sha256');
  const input = openByteSource(file);
  try {
    for await (const chunk of input.openRange(0, await input.size())) hash.update(chunk);
  } catch (error) {
    throw new UsageError(`Cannot read ${input.description} to compute the job id: ${(error as Error).message}`);
  }
  return importJobId(hash, { source, idNamespace, dryRun });
}

async function resolveInputSet(
  file: string,
  request: ImportRequest,
): Promise<{ kind: InputSetKind | 'file'; format: InputFormat; digest: string; files: number } | undefined> {
  const kind = await inputSetKind(file, request.manifest ?? false);
  let entries: InputEntry[];
  if (kind !== undefined) {
    const explicit = request.format ? detectFormat(file, request.format) : undefined;
    try {
      entries = await expandInputSet(kind, file, explicit);
    } catch (error) {
      if (error instanceof InputSetError) throw new UsageError(error.message);
      throw error;
    }
  } else {
    const name = locationName(file);
    if (!/\.gz$/i.test(name)) return undefined;
    entries = [{ location: file, name: basename(name), gzip: true }];
  }
  const format = request.format ? detectFormat(file, request.format) : kind ? formatOfEntries(entries) : detectFormat(file);
  const digests: Array<{ name: string; sha256: string }> = [];
  for (const entry of entries) {
    try {
      digests.push({ name: entry.name, sha256: await digestInput(entry.location) });
    } catch (error) {
      throw new UsageError(`Cannot read ${displayLocation(entry.location)} to compute the job id: ${(error as Error).message}`);
    }
  }
  return { kind: kind ?? 'file', format, digest: inputSetDigest(digests), files: entries.length };
}

export interface CheckedImportRequest {
  file: string;
  format: InputFormat;
  source: string;
  idNamespace: string;
  dryRun: boolean;
  jobId: string;
  reportDir?: string;
  set?: { kind: InputSetKind | 'file'; format: InputFormat; digest: string; files: number };
}

/**
 * Everything about an import that can be checked without Temporal: the input exists (local files), the format,
 * the source name (normalised), the job id (a name, not a path) and --report-dir (a sub-path of the worker's
 * SEGFLOW_REPORT_DIR). Run before connecting, so `segflow import missing.csv` says the file is missing.
 */
export async function checkImportRequest(request: ImportRequest): Promise<CheckedImportRequest> {
  const file = isHttpLocation(request.file) ? request.file : resolve(request.file);
  const rawSource = request.source ?? 'default';
  if (!SOURCE_NAME_PATTERN.test(rawSource)) throw new UsageError(`Invalid --source "${rawSource.slice(0, 64)}": use letters, digits, "-" and "_".`);
  // web-app, web_app and Web-App read one write key: one spelling for job ids and messageId namespaces.
  const source = canonicalSourceName(rawSource);
  if (request.jobId !== undefined && !isValidJobId(request.jobId)) throw new UsageError(`--id: ${jobIdProblem(request.jobId)}.`);
  if (request.reportDir !== undefined) {
    const dir = request.reportDir;
    if (reportDirProblem(dir) !== undefined) {
      throw new UsageError(
        `--report-dir is a sub-directory of the workers' SEGFLOW_REPORT_DIR: give a relative path without "..", not "${dir.slice(0, 80)}".`,
      );
    }
  }
  // A directory, a glob, a manifest or a .gz file is staged by the workers first (docs/compressed-and-many-files.md).
  const set = await resolveInputSet(file, request);
  const format = set ? set.format : detectFormat(file, request.format);
  if (!set && !isHttpLocation(file)) {
    try {
      const info = await stat(file);
      if (!info.isFile()) throw new Error('not a file');
    } catch {
      throw new UsageError(`Input file ${file} does not exist or is not a file.`);
    }
  }
  const idNamespace = request.idNamespace ?? source;
  const maxNamespace = IMPORT_LIMITS.maxIdNamespaceChars;
  if (idNamespace.length < 1 || idNamespace.length > maxNamespace) throw new UsageError(`--id-namespace must be 1 to ${maxNamespace} characters.`);
  const dryRun = request.dryRun ?? false;
  const jobId =
    request.jobId ?? (set ? inputSetJobId(set.digest, { source, idNamespace, dryRun }) : await defaultJobId(file, source, idNamespace, dryRun));
  return {
    file,
    format,
    source,
    idNamespace,
    dryRun,
    jobId,
    ...(request.reportDir !== undefined ? { reportDir: request.reportDir } : {}),
    ...(set ? { set } : {}),
  };
}
