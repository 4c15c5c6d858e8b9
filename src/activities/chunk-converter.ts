/**
 * Row conversion for one chunk (src/core/row-to-message.ts), with the messageId namespace and line numbers a staged
 * input needs: rows of a `.gz` or many-file input are converted with their own file's line (and, for many files,
 * that file's namespace), so a file's messageIds do not depend on which other files share the job. Rejects keep the
 * staged line; the final report translates it (finalizeReport in src/activities/import-activities.ts).
 */
import { messageIdNamespace } from '../core/message-id';
import { RowConverter } from '../core/row-to-message';
import { locateLine, readStagedMap, type StagedFile } from '../io/staging';
import type { ProcessChunkInput } from '../contracts/import-job';

/**
 * A chunk as the worker runs it: for a staged job, `file` and `fileMap` are the staged copy and its map, derived by the
 * activity from the job id (src/activities/import-activities.ts processChunk), never taken from the workflow.
 */
export type ChunkWork = ProcessChunkInput & { fileMap?: string };

export type ConvertRecord = RowConverter['convert'];

export async function chunkConverter(input: ChunkWork): Promise<ConvertRecord> {
  const newConverter = (namespaceKey: string) =>
    new RowConverter({
      format: input.format,
      csvHeader: input.csvColumns,
      namespace: messageIdNamespace(namespaceKey),
      allowMissingTimestamp: input.allowMissingTimestamp,
      maxEventBytes: input.maxEventBytes,
      now: new Date(input.referenceTime),
      ignoreFields: input.ignoreColumns,
    });
  const converter = newConverter(input.idNamespace);
  const stagedFiles = input.fileMap ? await loadStagedMap(input.fileMap) : undefined;
  const fileConverters = new Map<number, RowConverter>();
  return (line, raw, values) => {
    if (stagedFiles === undefined) return converter.convert(line, raw, values);
    const located = locateLine(stagedFiles, line);
    if (located === undefined) return converter.convert(line, raw, values);
    let fileConverter = input.perFileIds ? fileConverters.get(located.index) : converter;
    if (fileConverter === undefined) {
      fileConverter = newConverter(`${input.idNamespace}\0${located.file.name}`);
      fileConverters.set(located.index, fileConverter);
    }
    const outcome = fileConverter.convert(located.line, raw, values);
    if (!outcome.ok) outcome.reject.line = line;
    return outcome;
  };
}

const stagedMapCache = new Map<string, Promise<StagedFile[]>>();

/** The map is read once per worker process and job, not once per chunk. */
function loadStagedMap(path: string): Promise<StagedFile[]> {
  let files = stagedMapCache.get(path);
  if (files === undefined) {
    if (stagedMapCache.size > 16) stagedMapCache.clear();
    files = readStagedMap(path);
    files.catch(() => stagedMapCache.delete(path));
    stagedMapCache.set(path, files);
  }
  return files;
}
