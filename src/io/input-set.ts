/**
 * Many files as one import: a directory, a glob, or a manifest listing paths or URLs (the shape of a Segment storage
 * export: a folder per day of `.gz` files). Resolved the same way by the CLI (to digest every file into the job id)
 * and by the staging activity (which reads them), so both see the same files in the same order.
 *
 * Every path is contained: directory and glob walks stay under their base and do not follow symbolic links;
 * manifest paths are relative to the manifest's directory and may not leave it. Sizes are bounded (entries,
 * manifest bytes, line length), a manifest names each file once, and globs match without regular expressions
 * (src/core/glob.ts).
 */
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { isGlob, matchGlob, MAX_GLOB_LENGTH, splitGlobBase } from '../core/glob';
import { isHttpLocation } from '../shared/location';
import { isWithin } from './input-policy';
import type { InputFormat } from '../core/types';

export type InputSetKind = 'directory' | 'glob' | 'manifest';

export interface InputEntry {
  /** Absolute path or http(s) URL. */
  location: string;
  /** How reports and messageIds name the file: its path relative to the set's base, or its URL without query. */
  name: string;
  gzip: boolean;
}

export const MAX_INPUT_FILES = 100_000;
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
const MAX_MANIFEST_LINE = 4096;
const MAX_WALK_DEPTH = 32;

export class InputSetError extends Error {
  override readonly name = 'InputSetError';
}

/** `.csv`, `.ndjson`, `.jsonl`, each optionally `.gz`; undefined for any other name. */
export function formatOfName(name: string): { format: InputFormat; gzip: boolean } | undefined {
  const lower = name.toLowerCase();
  const gzip = lower.endsWith('.gz');
  const base = gzip ? lower.slice(0, -3) : lower;
  if (base.endsWith('.csv')) return { format: 'csv', gzip };
  if (base.endsWith('.ndjson') || base.endsWith('.jsonl')) return { format: 'ndjson', gzip };
  return undefined;
}

function urlName(location: string): string {
  const url = new URL(location);
  return `${url.host}${url.pathname}`;
}

/** The files of a set, in a stable order (sorted names for walks, manifest order for manifests). */
export async function expandInputSet(kind: InputSetKind, location: string, format?: InputFormat): Promise<InputEntry[]> {
  switch (kind) {
    case 'directory':
      return checked(await walk(resolve(location), () => true, format), location);
    case 'glob': {
      if (location.length > MAX_GLOB_LENGTH) throw new InputSetError(`The glob is longer than ${MAX_GLOB_LENGTH} characters.`);
      const { base, pattern } = splitGlobBase(location.split(sep).join('/'));
      return checked(await walk(resolve(base), (rel) => matchGlob(pattern, rel), format), location);
    }
    case 'manifest':
      return checked(await readManifest(resolve(location), format), location);
  }
}

function checked(entries: InputEntry[], location: string): InputEntry[] {
  if (entries.length === 0) throw new InputSetError(`${location} names no input files.`);
  return entries;
}

async function walk(base: string, accept: (relativePath: string) => boolean, wanted?: InputFormat): Promise<InputEntry[]> {
  let format = wanted;
  let info;
  try {
    info = await stat(base);
  } catch {
    throw new InputSetError(`${base} does not exist.`);
  }
  if (!info.isDirectory()) throw new InputSetError(`${base} is not a directory.`);
  const found: InputEntry[] = [];
  const visit = async (dir: string, depth: number): Promise<void> => {
    if (depth > MAX_WALK_DEPTH) throw new InputSetError(`${dir} is nested more than ${MAX_WALK_DEPTH} directories deep.`);
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      if (name.startsWith('.')) continue; // hidden files and partial downloads
      const path = join(dir, name);
      const entry = await lstat(path);
      if (entry.isSymbolicLink()) continue; // a link could lead outside the base
      if (entry.isDirectory()) {
        await visit(path, depth + 1);
        continue;
      }
      if (!entry.isFile()) continue;
      const rel = relative(base, path).split(sep).join('/');
      const kind = formatOfName(name);
      if (kind === undefined || !accept(rel)) continue;
      format ??= kind.format;
      if (kind.format !== format) throw new InputSetError(`${path} is ${kind.format}, but the import is ${format}: one job takes one format.`);
      found.push({ location: path, name: rel, gzip: kind.gzip });
      if (found.length > MAX_INPUT_FILES) throw new InputSetError(`More than ${MAX_INPUT_FILES} input files under ${base}; split the import.`);
    }
  };
  await visit(base, 0);
  return found;
}

async function readManifest(path: string, wanted?: InputFormat): Promise<InputEntry[]> {
  let format = wanted;
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new InputSetError(`Manifest ${path} does not exist.`);
  }
  if (!info.isFile()) throw new InputSetError(`Manifest ${path} is not a file.`);
  if (info.size > MAX_MANIFEST_BYTES) throw new InputSetError(`Manifest ${path} is over ${MAX_MANIFEST_BYTES} bytes.`);
  const base = dirname(path);
  const entries: InputEntry[] = [];
  // By name (the resolved path under the manifest's directory, or the URL's host and path): a file listed twice would
  // be staged twice, and its rows would share messageIds, so the second copy's would be dropped as duplicates.
  const lineOfName = new Map<string, number>();
  const lines = (await readFile(path, 'utf8')).split('\n');
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!.replace(/\r$/, '').trim();
    if (text === '' || text.startsWith('#')) continue;
    const where = `${path}, line ${i + 1}`;
    if (text.length > MAX_MANIFEST_LINE) throw new InputSetError(`${where}: the entry is longer than ${MAX_MANIFEST_LINE} characters.`);
    let entry: InputEntry;
    if (isHttpLocation(text)) {
      let name: string;
      try {
        name = urlName(text);
      } catch {
        throw new InputSetError(`${where}: not a valid URL.`);
      }
      entry = { location: text, name, gzip: new URL(text).pathname.toLowerCase().endsWith('.gz') };
    } else if (/^[a-z][a-z0-9+.-]+:\/\//i.test(text)) {
      throw new InputSetError(`${where}: only local paths and http(s) URLs can be imported.`);
    } else {
      const target = isAbsolute(text) ? resolve(text) : resolve(base, text);
      const rel = relative(base, target);
      if (rel === '' || !isWithin(base, target)) {
        throw new InputSetError(`${where}: ${text} is outside the manifest's directory ${base}; list files under it.`);
      }
      entry = { location: target, name: rel.split(sep).join('/'), gzip: target.toLowerCase().endsWith('.gz') };
    }
    const listed = lineOfName.get(entry.name);
    if (listed !== undefined) throw new InputSetError(`${where}: ${entry.name} is already listed on line ${listed}; list each file once.`);
    lineOfName.set(entry.name, i + 1);
    const kind = formatOfName(entry.location.replace(/[?#].*$/, ''));
    if (kind === undefined) throw new InputSetError(`${where}: ${entry.name} is not a .csv, .ndjson or .jsonl file (optionally .gz).`);
    format ??= kind.format;
    if (kind.format !== format)
      throw new InputSetError(`${where}: ${entry.name} is ${kind.format}, but the import is ${format}: one job takes one format.`);
    entries.push(entry);
    if (entries.length > MAX_INPUT_FILES) throw new InputSetError(`${path} lists more than ${MAX_INPUT_FILES} files; split the import.`);
  }
  return entries;
}

/** How the CLI tells a set from a single file. */
export async function inputSetKind(location: string, manifest: boolean): Promise<InputSetKind | undefined> {
  if (manifest) return 'manifest';
  if (isHttpLocation(location)) return undefined;
  if (isGlob(location)) return 'glob';
  try {
    if ((await stat(location)).isDirectory()) return 'directory';
  } catch {
    // not there: the caller reports it
  }
  return undefined;
}

/** The format of a set's files (they all share one), from the first file's name. */
export function formatOfEntries(entries: readonly InputEntry[]): InputFormat {
  const first = entries[0];
  const kind = first ? formatOfName(first.location.replace(/[?#].*$/, '')) : undefined;
  if (kind === undefined) throw new InputSetError('Cannot tell the format of the input files; pass --format csv or --format ndjson.');
  return kind.format;
}
