/**
 * One input row in, one wire-ready Segment message (or one rejection) out.
 *
 * An NDJSON row that is plainly a valid message is judged on its text and sent as written, less any server-set
 * members (src/core/message-text.ts): no JSON.parse, no JSON.stringify, and the customer's numbers keep every digit
 * (JSON.parse rounds integers past 2^53). Every other row takes the path below, which alone rejects and words why.
 *
 * Order of checks: parse (NDJSON JSON.parse, or the compiled CSV header) -> validateMessage ->
 * messageId (the row's own, else a deterministic UUIDv5 of namespace + line + raw text, so a retried or
 * resumed import re-sends identical ids that Segment dedupes, docs/segment-tracking-api.md, "Deduplication") ->
 * JSON.stringify -> size.
 *
 * Events never carry `sentAt`: the sender sets it at the batch root on every attempt (docs/segment-tracking-api.md,
 * "Timestamps and sentAt"), and validateMessage drops the one an exported row brings, with the other server-set
 * fields. A row's `writeKey` is a credential: it is never sent, and a rejected row's text goes to the reject report
 * with it masked.
 *
 * No I/O, but uses node:crypto through message-id: activities only, not workflow code.
 */
import { eventTooLarge } from './batch-builder';
import { compileCsvHeader, isCsvHeaderError, type CompiledCsvHeader } from './csv-mapping';
import { deriveMessageId } from './message-id';
import { isTimestampAccepted, validateMessage, type ValidateOptions } from './message-schema';
import { MessageTextReader, type EventSummary } from './message-text';
import type { InputFormat, RejectedRow, SegmentMessage } from './types';

export interface RowConverterOptions {
  format: InputFormat;
  /** Required for CSV: the header record as read from the file. */
  csvHeader?: string[];
  /** From messageIdNamespace(sourceKey). */
  namespace: string;
  allowMissingTimestamp: boolean;
  /** Serialized events above this many UTF-8 bytes are rejected (Segment answers 400 for the whole batch). */
  maxEventBytes: number;
  /** Clock for the future-timestamp rule; defaults to the time the converter is built. */
  now?: Date;
  /**
   * Top-level NDJSON fields / CSV columns to ignore (`--ignore-column`), e.g. the `reason` column that
   * `segflow rejects --reason-column` adds.
   */
  ignoreFields?: readonly string[];
}

export type ConvertResult =
  | {
      ok: true;
      /** What the import counts of the event (its type, own messageId and timestamp); the event itself is `serialized`. */
      event: EventSummary;
      /** The event as sent: JSON text of the message, the messageId included. */
      serialized: string;
      /** The messageId was derived here (the row brought none): unique to this row's line by construction. */
      idDerived: boolean;
      serverFields?: readonly string[];
    }
  | { ok: false; reject: RejectedRow };

/** Thrown by the RowConverter constructor when a CSV header cannot be imported; `column` names the culprit. */
export class CsvHeaderError extends Error {
  override readonly name = 'CsvHeaderError';
  constructor(
    readonly column: string,
    message: string,
  ) {
    super(message);
  }
}

export class RowConverter {
  private readonly csv: CompiledCsvHeader | undefined;
  /** For NDJSON rows, unless fields are to be ignored (a row holding one is not sent as written). */
  private readonly textReader: MessageTextReader | undefined;
  /** The clock and the missing-timestamp choice, for both paths of validation. */
  private readonly validateOptions: ValidateOptions;
  private readonly ignoreFields: readonly string[];

  constructor(private readonly options: RowConverterOptions) {
    // One clock for the whole converter: the future-timestamp rule gives the same answer for a row
    // whether the chunk is processed now or on a retry a minute later (within the skew).
    this.validateOptions = { allowMissingTimestamp: options.allowMissingTimestamp, now: options.now ?? new Date() };
    this.ignoreFields = options.ignoreFields ?? [];
    if (options.format === 'csv') {
      if (options.csvHeader === undefined) throw new TypeError('RowConverter: csvHeader is required for CSV input');
      const compiled = compileCsvHeader(options.csvHeader, { ignore: this.ignoreFields });
      if (isCsvHeaderError(compiled)) throw new CsvHeaderError(compiled.column, compiled.error);
      this.csv = compiled;
    }
    this.textReader = options.format === 'ndjson' && this.ignoreFields.length === 0 ? new MessageTextReader() : undefined;
  }

  /**
   * @param line 1-based physical line where the row starts (goes into the messageId and the reject).
   * @param raw the row's exact source text (NDJSON line, or the CSV record's text).
   * @param csvValues the CSV record's parsed values (CSV only).
   */
  convert(line: number, raw: string, csvValues?: readonly string[]): ConvertResult {
    // Runs once per row (millions per import): no per-call closures, no copies of the validated object.
    const reject = rejectRow;
    if (this.textReader !== undefined) {
      const sent = this.sendAsWritten(this.textReader, line, raw);
      if (sent !== undefined) return sent;
    }

    let candidate: unknown;
    if (this.csv !== undefined) {
      if (csvValues === undefined) throw new TypeError('RowConverter.convert: csvValues are required for CSV input');
      const mapped = this.csv.map(csvValues);
      if (!mapped.ok) return reject(line, raw, mapped.field, mapped.reason);
      candidate = mapped.raw;
    } else {
      try {
        // A UTF-8 BOM may precede the first line of files saved by Windows tools.
        candidate = JSON.parse(raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw);
      } catch (error) {
        return reject(line, raw, '(line)', `line is not valid JSON: ${(error as Error).message}`);
      }
      if (typeof candidate !== 'object' || candidate === null || Array.isArray(candidate)) {
        const kind = candidate === null ? 'null' : Array.isArray(candidate) ? 'an array' : `a ${typeof candidate}`;
        return reject(line, raw, '(line)', `line must hold a JSON object, got ${kind}`);
      }
    }

    const object = candidate as Record<string, unknown>;
    for (const field of this.ignoreFields) delete object[field];
    const validated = validateMessage(object, this.validateOptions);
    if (!validated.ok) return reject(line, maskWriteKey(raw, object['writeKey']), validated.field, validated.reason);

    // zod's output is a fresh object, so completing it in place is safe.
    const message = validated.message as SegmentMessage;
    const idDerived = message.messageId === undefined;
    if (idDerived) message.messageId = deriveMessageId(this.options.namespace, line, raw);
    const serialized = JSON.stringify(message);
    const bytes = this.serializedBytesIfOver(serialized);
    if (bytes !== undefined) {
      return reject(
        line,
        maskWriteKey(raw, object['writeKey']),
        '(message)',
        `serialized event is ${bytes} bytes, above the limit of ${this.options.maxEventBytes} bytes per event (Segment rejects the whole batch with 400)`,
      );
    }
    if (validated.serverFields !== undefined) return { ok: true, event: message, serialized, idDerived, serverFields: validated.serverFields };
    return { ok: true, event: message, serialized, idDerived };
  }

  /**
   * The result for a row the text path accepts (src/core/message-text.ts), or undefined to take JSON.parse's path:
   * that path words the rejection of a row without a timestamp or with one in the future, and judges the size of the
   * serialized message rather than of the row's own spacing.
   */
  private sendAsWritten(reader: MessageTextReader, line: number, raw: string): ConvertResult | undefined {
    const event = reader.accept(raw);
    if (event === undefined) return undefined;
    const { timestamp } = event;
    if (!isTimestampAccepted(timestamp, this.validateOptions)) return undefined;
    const idDerived = event.messageId === undefined;
    // A derived id goes first, so the row's text needs no other change; it is derived from the row as read, like every other.
    if (idDerived) event.messageId = deriveMessageId(this.options.namespace, line, raw);
    const serialized = reader.textToSend(idDerived ? `"messageId":"${event.messageId}",` : undefined);
    if (this.serializedBytesIfOver(serialized) !== undefined) return undefined;
    const serverFields = reader.serverFieldsFound();
    if (serverFields !== undefined) return { ok: true, event, serialized, idDerived, serverFields };
    return { ok: true, event, serialized, idDerived };
  }

  /** The event's UTF-8 size when it is over the per-event limit, else undefined. */
  private serializedBytesIfOver(serialized: string): number | undefined {
    // A UTF-16 code unit takes at most 3 UTF-8 bytes, so most events are plainly under the limit without counting
    // (the batch counts each event's bytes as it writes them, src/core/batch-builder.ts).
    if (serialized.length * 3 <= this.options.maxEventBytes) return undefined;
    const bytes = Buffer.byteLength(serialized, 'utf8');
    return eventTooLarge(bytes, this.options.maxEventBytes) ? bytes : undefined;
  }
}

/** A row's write key must not reach the reject report: it is the source's credential (docs/segment-tracking-api.md, "Authentication"). */
function maskWriteKey(raw: string, writeKey: unknown): string {
  if (typeof writeKey !== 'string' || writeKey === '') return raw;
  return raw.split(writeKey).join('[writeKey removed]');
}

function rejectRow(line: number, raw: string, field: string, reason: string): ConvertResult {
  return { ok: false, reject: { line, field, reason, raw } };
}
