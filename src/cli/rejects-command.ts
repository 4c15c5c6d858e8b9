/**
 * `segflow rejects <job>`: the job's rejected rows written back in the input's own format (the same CSV header and
 * columns, or NDJSON lines), ready to fix and import again. Reasons go to a side file, or with `--reason-column`
 * into a `reason` column that `segflow import --ignore-column reason` skips.
 *
 * Reads the job's reject report where the status says it is: the CLI must see the workers' report directory.
 *
 * The CSV is meant to be opened in a spreadsheet, so a cell that would start a formula (`=`, `+`, `-`, `@`, tab,
 * CR) gets a leading `'` unless `--raw-cells` is given (OWASP "CSV Injection"): a rejected row is untrusted input.
 */
import type { Command } from 'commander';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { getJobStatus, UsageError, withClient } from '../client';
import type { InputFormat, RejectedRow } from '../core/types';
import { compileCsvHeader, isCsvHeaderError, normaliseCsvHeader } from '../core/csv-mapping';
import { splitCsvFields } from '../io/chunk-planner';
import { readReportInputInfo } from '../io/reject-report';
import { action, EXIT, globalOptions, printJson } from './common';
import { out } from './terminal';
import { examples } from './examples';

export const REASON_COLUMN = 'reason';

export interface WriteRejectsOptions {
  /** The job's merged reject report (`<report dir>/<job>/rejects.ndjson`). */
  reportPath: string;
  out: string;
  format?: InputFormat;
  reasonColumn: boolean;
  force: boolean;
  /** Keep formula-leading cells as they were instead of neutralising them (`--raw-cells`). */
  rawCells?: boolean;
}

export interface WriteRejectsResult {
  rows: number;
  out: string;
  format: InputFormat;
  /** The side file with one reason per written row; absent with `reasonColumn`. */
  reasons?: string;
}

/** One CSV field, quoted when RFC 4180 needs it. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) || value !== value.trim() ? `"${value.replace(/"/g, '""')}"` : value;
}

/** What a spreadsheet reads as the start of a formula (OWASP CSV injection guidance). */
const FORMULA_START = /^[=+\-@\t\r]/;
/** A plain number (`-5`, `+1.5e3`) cannot run anything and keeps its value when re-imported. */
const PLAIN_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A cell a spreadsheet would run as a formula, prefixed with `'` so it shows as text; any other cell unchanged. */
export function neutraliseCell(value: string): string {
  return FORMULA_START.test(value) && !PLAIN_NUMBER.test(value) ? `'${value}` : value;
}

/**
 * A rejected CSV row as written back: its cells (neutralised unless `raw`), and with `reason` the reason in the
 * column after the header's last one, whatever the row's own field count (the reason for "too many fields" or "too
 * few" must not land under a data column). A row that does not split into fields is kept as text, with each cell
 * start (line start, after a comma) neutralised. Raw cells and no reason: the row exactly as it was read.
 */
export function csvRejectRow(raw: string, width: number, options: { raw: boolean; reason?: string }): string {
  if (options.raw && options.reason === undefined) return raw;
  const fields = splitCsvFields(raw);
  const cell = options.raw ? (value: string) => value : neutraliseCell;
  const reason = options.reason === undefined ? [] : [csvField(cell(options.reason))];
  if (fields.error !== undefined) {
    const text = options.raw ? raw : raw.split(',').map(neutraliseCell).join(',');
    return options.reason === undefined ? text : `${text},${reason[0]}`;
  }
  const values = fields.values.map((value) => csvField(cell(value)));
  if (options.reason === undefined) return values.join(',');
  // Too few fields: empty cells up to the reason column; too many: the extras after it, in no named column.
  const inColumns = values.slice(0, width);
  while (inColumns.length < width) inColumns.push('');
  return [...inColumns, ...reason, ...values.slice(width)].join(',');
}

export async function writeRejects(options: WriteRejectsOptions): Promise<WriteRejectsResult> {
  const info = await readReportInputInfo(dirname(options.reportPath));
  if (info === undefined)
    throw new UsageError(`${options.reportPath} has no input description beside it; the job ended before segflow recorded its format.`);
  const format = options.format ?? info.format;
  // CSV rows can become NDJSON messages (through the same column rules the importer uses); the reverse has no
  // header to write, so NDJSON rejects stay NDJSON.
  if (format !== info.format && !(info.format === 'csv' && format === 'ndjson')) {
    throw new UsageError(`The job's input is ${info.format}; its rejects can only be written as ${info.format} (drop --format ${format}).`);
  }
  const toNdjson = format === 'ndjson' && info.format === 'csv' ? csvToMessage(info.csvColumns ?? []) : undefined;
  const out = resolve(options.out);
  if (!options.force && (await exists(out))) throw new UsageError(`${out} already exists; choose another --out or pass --force.`);
  const reasonsPath = options.reasonColumn ? undefined : `${out}.reasons.ndjson`;

  const rowsOut = createWriteStream(out);
  const reasonsOut = reasonsPath ? createWriteStream(reasonsPath) : undefined;
  let rows = 0;
  let outLine = 1;
  try {
    if (format === 'csv') {
      // Written as the input had it, so the fixed file imports with the same columns.
      const header = (info.csvColumns ?? []).map((name, i) => (i === 0 ? name.replace(/^\uFEFF/, '') : name));
      if (options.reasonColumn) header.push(REASON_COLUMN);
      await write(rowsOut, header.map((name) => csvField(options.rawCells ? name : neutraliseCell(name))).join(',') + '\n');
      outLine = 2;
    }
    const lines = createInterface({ input: createReadStream(options.reportPath), crlfDelay: Infinity });
    for await (const text of lines) {
      if (!text) continue;
      const reject = JSON.parse(text) as RejectedRow & { file?: string };
      const stripped = reject.raw.endsWith('\r') ? reject.raw.slice(0, -1) : reject.raw;
      const raw = toNdjson ? toNdjson(stripped) : stripped;
      const row =
        format === 'csv'
          ? csvRejectRow(raw, info.csvColumns?.length ?? 0, {
              raw: Boolean(options.rawCells),
              ...(options.reasonColumn ? { reason: reject.reason } : {}),
            })
          : options.reasonColumn
            ? withNdjsonReason(raw, reject.reason)
            : raw;
      await write(rowsOut, row + '\n');
      if (reasonsOut) {
        const entry = {
          line: outLine,
          ...(reject.file ? { file: reject.file } : {}),
          sourceLine: reject.line,
          field: reject.field,
          reason: reject.reason,
        };
        await write(reasonsOut, JSON.stringify(entry) + '\n');
      }
      outLine += countLines(row);
      rows++;
    }
  } finally {
    rowsOut.end();
    reasonsOut?.end();
    await Promise.all([once(rowsOut, 'close'), reasonsOut ? once(reasonsOut, 'close') : undefined]);
  }
  return { rows, out, format, ...(reasonsPath ? { reasons: reasonsPath } : {}) };
}

/**
 * A CSV record as the NDJSON message the importer would have built from it; a record the column rules cannot map
 * (the reason it was rejected, often) becomes an object of its cells by header name, to fix by hand.
 */
function csvToMessage(columns: readonly string[]): (raw: string) => string {
  const compiled = compileCsvHeader(columns);
  const names = normaliseCsvHeader(columns);
  return (raw) => {
    const fields = splitCsvFields(raw);
    if (fields.error !== undefined) return JSON.stringify({ _csv: raw });
    if (!isCsvHeaderError(compiled)) {
      const mapped = compiled.map(fields.values);
      if (mapped.ok) return JSON.stringify(mapped.raw);
    }
    return JSON.stringify(Object.fromEntries(names.map((name, i) => [name, fields.values[i] ?? ''])));
  };
}

function withNdjsonReason(raw: string, reason: string): string {
  try {
    const parsed = JSON.parse(raw) as unknown;
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return JSON.stringify({ ...parsed, [REASON_COLUMN]: reason });
  } catch {
    // Not JSON (that was the reject): the row stays as it was, its reason is in the report.
  }
  return raw;
}

function countLines(text: string): number {
  let lines = 1;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
  return lines;
}

async function write(stream: WriteStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export function registerRejectsCommand(program: Command): void {
  program
    .command('rejects')
    .description("Write a job's rejected rows back in the input's own format, ready to fix and import again")
    .argument('<jobId>')
    .option('--out <file>', 'where to write the rows (default: <jobId>.rejects.<csv|ndjson> here)')
    .option('--format <format>', "csv or ndjson (default: the input's format); CSV rows can be written as NDJSON messages")
    .option('--reason-column', 'add the reason as a last column / field instead of a side file; import the fixed file with --ignore-column reason')
    .option('--force', 'overwrite --out if it exists')
    .option(
      '--raw-cells',
      "write CSV cells starting with = + - @ tab or CR as they were (by default they get a leading ' so a spreadsheet shows them as text)",
    )
    .addHelpText(
      'after',
      examples(
        'segflow rejects import-default-3f2a9c0d1e2b4a5c --out fixed.csv',
        'segflow rejects <id> --reason-column --out fixed.csv && segflow import fixed.csv --ignore-column reason --wait',
      ),
    )
    .action(
      action(
        async (
          jobId: string,
          opts: { out?: string; format?: string; reasonColumn?: boolean; force?: boolean; rawCells?: boolean },
          command: Command,
        ) => {
          if (opts.format !== undefined && opts.format !== 'csv' && opts.format !== 'ndjson')
            throw new UsageError(`Unknown --format "${opts.format}"; use csv or ndjson.`);
          const status = await withClient((sc) => getJobStatus(sc, jobId));
          const reportPath = typeof status.rejectReport === 'string' ? status.rejectReport : undefined;
          // The path comes from the job; read only a report file of this job.
          if (!reportPath || basename(reportPath) !== 'rejects.ndjson' || basename(dirname(reportPath)) !== jobId) {
            throw new UsageError(`Job ${jobId} has no reject report yet (it is written when the job ends); see \`segflow status ${jobId}\`.`);
          }
          if (!(await exists(reportPath)))
            throw new UsageError(
              `The reject report ${reportPath} is not readable from here; run rejects where the workers' report directory is mounted.`,
            );
          const info = await readReportInputInfo(dirname(reportPath));
          const format = (opts.format as InputFormat | undefined) ?? info?.format ?? 'ndjson';
          const result = await writeRejects({
            reportPath,
            out: opts.out ?? `${jobId}.rejects.${format}`,
            format: opts.format as InputFormat | undefined,
            reasonColumn: Boolean(opts.reasonColumn),
            force: Boolean(opts.force),
            rawCells: Boolean(opts.rawCells),
          });
          if (globalOptions(command).json) printJson({ jobId, ...result });
          else {
            out(`${result.rows} rejected rows of ${jobId} written to ${result.out}`);
            if (result.reasons) out(`reasons (by line of that file): ${result.reasons}`);
            else out(`reasons in the last column "${REASON_COLUMN}": import with --ignore-column ${REASON_COLUMN}`);
          }
          return EXIT.ok;
        },
      ),
    );
}
