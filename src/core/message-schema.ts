/**
 * What a row must look like before segflow sends it to Segment (docs/segment-tracking-api.md, "Message fields" and
 * "Limits").
 *
 * Segment answers 200 for almost every malformed event and then drops it where only the Debugger shows it
 * (docs/segment-tracking-api.md, "Responses and errors"), so every rule Segment applies silently is checked here,
 * loudly, per row. The result is either a normalised message (without messageId: the caller assigns one) or the
 * first offending field as a dotted path plus a human sentence for the rejects file.
 *
 * Decisions (the README documents them for users):
 * - Identity: identify/track/page/screen/group need a non-blank `userId` or `anonymousId`; alias needs
 *   both `previousId` and `userId` (an `anonymousId` on alias is allowed: analytics.js sends one).
 *   group needs `groupId`; track needs a non-blank `event`.
 * - Numeric ids: `userId`, `anonymousId`, `groupId`, `previousId` given as JSON numbers are turned into
 *   strings, as Segment's server libraries do (analytics-python `stringify_id`). Only safe integers:
 *   `JSON.parse` has already rounded anything beyond 2^53 or written as 1.0, so accepting those would
 *   silently import a different id. Such rows are rejected and must quote the id.
 * - `null` means "absent" for every optional field: Segment's own exports carry `"userId": null` on
 *   anonymous events. Absent fields are left out of the output, nothing else is dropped.
 * - Unknown top-level keys are rejected with the key as `field`, and so are fields that belong to another
 *   call type (e.g. `traits` on track): Segment would ignore them, and an importer must not lose data
 *   without saying so.
 * - Server-set fields (SERVER_SET_FIELDS: `receivedAt`, `sentAt`, `originalTimestamp`, `version`, `channel`,
 *   `projectId`, `writeKey`, `_metadata`, and `context.library`) are what Segment's exports carry beside the
 *   message. They are dropped, never sent and never a reject, so an export imports as it is; the result names
 *   the ones a row had, so the job can count such rows. `sentAt` in particular is set per request at the batch
 *   root (docs/segment-tracking-api.md, "Timestamps and sentAt"): a stale one would shift every timestamp.
 *   `writeKey` is a credential and never sent.
 *   When a row has no `timestamp` but has `originalTimestamp` (the device clock's event time), that is the
 *   event time (docs/segment-exports.md).
 * - `timestamp`: ISO-8601 date-time with seconds optional, fraction up to any precision (cut to ms),
 *   `T`/space separator, and a mandatory zone: `Z` or `±hh`, `±hhmm`, `±hh:mm`. A bare `YYYY-MM-DD` is
 *   UTC midnight. A date-time without zone is rejected, since guessing a zone shifts every event (Engage
 *   also insists on zoned dates). Output is always `Date.toISOString()` form (`2024-03-01T12:00:00.000Z`).
 *   Dates before 1970-01-01 are rejected: they are placeholder values (0001-01-01, 1900-01-01) far more
 *   often than real events. Dates more than MAX_FUTURE_SKEW_MS after `now` are rejected: an event cannot
 *   have happened later than the import, so it is a data error (often a wrong timezone), and Segment
 *   would store it as is.
 *   Required unless `allowMissingTimestamp` (then Segment uses its receive time, docs/segment-tracking-api.md,
 *   "Timestamps and sentAt").
 * - `messageId`, when the row has one, must be a non-empty string of at most 100 characters (docs/segment-tracking-api.md, "Limits").
 *
 * Speed: this runs once per row (millions per import). The zod schema is the declared form of the rules and the
 * only code that rejects a row or words why. A valid row (almost every row of an import) is accepted by
 * acceptValidMessage, which checks the same rules without zod's intermediate objects and hands anything it is not
 * sure of to the schema; test/unit/message-schema.test.ts runs both paths over generated and mutated rows and
 * requires the same result, key order included. Canonical toISOString() timestamps are checked by character codes
 * (a test cross-checks that path against Date). Figures: bench/README.md.
 */
import { z } from 'zod';
import { SEGMENT_LIMITS } from '../shared/limits';
import { CALL_TYPES, SERVER_SET_CONTEXT_FIELD, SERVER_SET_FIELDS, type CallType, type SegmentMessage } from './types';

export { SERVER_SET_CONTEXT_FIELD, SERVER_SET_FIELDS };

/** A validated message before the importer assigns its messageId. */
export type ValidatedMessage = Omit<SegmentMessage, 'messageId'> & { messageId?: string };

export interface ValidateOptions {
  allowMissingTimestamp?: boolean;
  /** Reference clock for the future-timestamp rule; injected so results are reproducible. */
  now?: Date;
}

export type ValidationResult =
  /** `serverFields`: the server-set fields the row had (and that were dropped), when it had any. */
  | { ok: true; message: ValidatedMessage; serverFields?: string[] }
  | { ok: false; field: string; reason: string };

/** Clock skew tolerated between the machine that produced the data and this one. */
export const MAX_FUTURE_SKEW_MS = 5 * 60 * 1000;

/** Known Segment message fields, so "belongs to another call type" can be told apart from "unknown". */
const ALL_MESSAGE_FIELDS = new Set([
  'type', 'userId', 'anonymousId', 'previousId', 'groupId', 'event', 'name', 'category',
  'messageId', 'timestamp', 'properties', 'traits', 'context', 'integrations',
]);

// ---------------------------------------------------------------------------------------------
// Timestamp parsing (pure, exported for tests and for other modules that need the same rule)
// ---------------------------------------------------------------------------------------------

const TIMESTAMP_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  if (month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) return 29;
  return DAYS_IN_MONTH[month - 1] ?? 0;
}

export type ParsedTimestamp = { ok: true; iso: string; epochMs: number } | { ok: false; reason: string };

/** Parses the timestamp forms accepted above into epoch ms and canonical ISO form. */
export function parseTimestamp(text: string): ParsedTimestamp {
  // Hot path: most exports already hold canonical toISOString() text, which is checked by character
  // codes without allocating; anything else (or anything odd) takes the general path below.
  const canonicalMs = parseCanonicalTimestamp(text);
  if (canonicalMs !== undefined) return { ok: true, iso: text, epochMs: canonicalMs };
  const m = TIMESTAMP_PATTERN.exec(text);
  if (m === null) {
    return { ok: false, reason: `timestamp "${clip(text)}" is not an ISO-8601 date-time like 2024-03-01T12:00:00Z or a date like 2024-03-01` };
  }
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    return { ok: false, reason: `timestamp "${clip(text)}" is not a real calendar date` };
  }
  let epochMs: number;
  if (m[4] === undefined) {
    epochMs = Date.UTC(year, month - 1, day);
  } else {
    const zone = m[8];
    if (zone === undefined) {
      return { ok: false, reason: `timestamp "${clip(text)}" has no timezone; add Z (UTC) or an offset like +02:00` };
    }
    const hour = Number(m[4]);
    const minute = Number(m[5]);
    const second = m[6] === undefined ? 0 : Number(m[6]);
    // Leap seconds (:60) are rejected: Date cannot represent them and they are rare enough to fix by hand.
    if (hour > 23 || minute > 59 || second > 59) {
      return { ok: false, reason: `timestamp "${clip(text)}" has a time of day out of range` };
    }
    const millis = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
    let offsetMinutes = 0;
    if (zone !== 'Z' && zone !== 'z') {
      const offsetHours = Number(zone.slice(1, 3));
      const offsetRest = zone.length > 3 ? Number(zone.slice(zone.length - 2)) : 0;
      if (offsetHours > 23 || offsetRest > 59) {
        return { ok: false, reason: `timestamp "${clip(text)}" has an invalid UTC offset` };
      }
      offsetMinutes = (zone[0] === '-' ? -1 : 1) * (offsetHours * 60 + offsetRest);
    }
    epochMs = Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000;
  }
  if (epochMs < 0) {
    return { ok: false, reason: `timestamp "${clip(text)}" is before 1970-01-01, which is almost always a placeholder date` };
  }
  return { ok: true, iso: new Date(epochMs).toISOString(), epochMs };
}

const CANONICAL_DIGIT_POSITIONS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];

function digitsAt(text: string, start: number, count: number): number {
  let value = 0;
  for (let i = start; i < start + count; i++) value = value * 10 + text.charCodeAt(i) - 48;
  return value;
}

/** Epoch ms of a valid `YYYY-MM-DDTHH:MM:SS.mmmZ` from 1970 on, else undefined. */
function parseCanonicalTimestamp(text: string): number | undefined {
  if (
    text.length !== 24 ||
    text.charCodeAt(4) !== 45 /* - */ || text.charCodeAt(7) !== 45 ||
    text.charCodeAt(10) !== 84 /* T */ || text.charCodeAt(13) !== 58 /* : */ || text.charCodeAt(16) !== 58 ||
    text.charCodeAt(19) !== 46 /* . */ || text.charCodeAt(23) !== 90 /* Z */
  ) {
    return undefined;
  }
  for (const i of CANONICAL_DIGIT_POSITIONS) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  const hour = digitsAt(text, 11, 2);
  const minute = digitsAt(text, 14, 2);
  const second = digitsAt(text, 17, 2);
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  return Date.UTC(year, month - 1, day, hour, minute, second, digitsAt(text, 20, 3));
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

// ---------------------------------------------------------------------------------------------
// Field schemas
// ---------------------------------------------------------------------------------------------

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/** Segment libraries accept numeric ids and send them as strings; only exact (safe) integers survive JSON.parse. */
function coerceId(value: unknown): unknown {
  if (value === null) return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return value;
}

function idSchema(field: string, requiredReason?: string) {
  const text = z
    .string({
      error: (issue) => {
        if (issue.input === undefined) return requiredReason ?? `${field} is required`;
        if (typeof issue.input === 'number') {
          return `${field} is a number that JSON cannot carry exactly (not an integer, or beyond 2^53); quote it as a string in the source`;
        }
        return `${field} must be a string, got ${describe(issue.input)}`;
      },
    })
    .refine((s) => s.trim() !== '', { error: requiredReason ?? `${field} must not be empty` });
  return requiredReason === undefined
    ? z.preprocess(coerceId, text.optional()).optional()
    : z.preprocess(coerceId, text);
}

function requiredTextSchema(field: string, requiredReason: string) {
  return z
    .string({ error: (issue) => (issue.input === undefined || issue.input === null ? requiredReason : `${field} must be a string, got ${describe(issue.input)}`) })
    .refine((s) => s.trim() !== '', { error: requiredReason });
}

function optionalTextSchema(field: string) {
  return z.string({ error: (issue) => `${field} must be a string, got ${describe(issue.input)}` }).nullish();
}

function objectSchema(field: string) {
  return z
    .custom<Record<string, unknown>>(isPlainObject, { error: (issue) => `${field} must be a JSON object, got ${describe(issue.input)}` })
    .nullish();
}

const messageIdSchema = z
  .string({ error: (issue) => `messageId must be a string, got ${describe(issue.input)}` })
  .min(1, { error: 'messageId must not be empty' })
  .max(SEGMENT_LIMITS.maxMessageIdLength, {
    error: `messageId is longer than ${SEGMENT_LIMITS.maxMessageIdLength} characters, which Segment does not accept`,
  })
  .nullish();

const timestampSchema = z
  .string({ error: (issue) => `timestamp must be an ISO-8601 string, got ${describe(issue.input)}` })
  .transform((text, ctx) => {
    const parsed = parseTimestamp(text);
    if (parsed.ok) return parsed.iso;
    ctx.issues.push({ code: 'custom', message: parsed.reason, input: text });
    return z.NEVER;
  })
  .nullish();

// Shape key order is the order in which problems are reported: zod reports field issues in shape order,
// then unknown keys, then the cross-field identity rule.
const common = {
  userId: idSchema('userId'),
  anonymousId: idSchema('anonymousId'),
  messageId: messageIdSchema,
  timestamp: timestampSchema,
  context: objectSchema('context'),
  integrations: objectSchema('integrations'),
} as const;

function hasIdentity(m: { userId?: string | undefined; anonymousId?: string | undefined }): boolean {
  return m.userId !== undefined || m.anonymousId !== undefined;
}

function identityRule(type: CallType) {
  return { path: ['userId'], error: `${type} calls need a userId or an anonymousId (a non-empty string)` };
}

const trackSchema = z
  .strictObject({
    type: z.literal('track'),
    ...common,
    event: requiredTextSchema('event', 'track calls need a non-empty event name'),
    properties: objectSchema('properties'),
  })
  .refine(hasIdentity, identityRule('track'));

const identifySchema = z
  .strictObject({ type: z.literal('identify'), ...common, traits: objectSchema('traits') })
  .refine(hasIdentity, identityRule('identify'));

const pageSchema = z
  .strictObject({
    type: z.literal('page'),
    ...common,
    name: optionalTextSchema('name'),
    category: optionalTextSchema('category'),
    properties: objectSchema('properties'),
  })
  .refine(hasIdentity, identityRule('page'));

const screenSchema = z
  .strictObject({
    type: z.literal('screen'),
    ...common,
    name: optionalTextSchema('name'),
    category: optionalTextSchema('category'),
    properties: objectSchema('properties'),
  })
  .refine(hasIdentity, identityRule('screen'));

const groupSchema = z
  .strictObject({
    type: z.literal('group'),
    ...common,
    groupId: idSchema('groupId', 'group calls need a groupId (a non-empty string)'),
    traits: objectSchema('traits'),
  })
  .refine(hasIdentity, identityRule('group'));

const aliasSchema = z.strictObject({
  type: z.literal('alias'),
  ...common,
  userId: idSchema('userId', 'alias calls need a userId (the new id)'),
  previousId: idSchema('previousId', 'alias calls need a previousId (the old id)'),
});

/**
 * The declared message schema: one strict object per call type, chosen by `type`.
 * Output values may still hold `null`/`undefined` for absent optional fields; validateMessage strips them.
 */
export const messageSchema = z.discriminatedUnion('type', [
  trackSchema,
  identifySchema,
  pageSchema,
  screenSchema,
  groupSchema,
  aliasSchema,
]);

// ---------------------------------------------------------------------------------------------
// validateMessage
// ---------------------------------------------------------------------------------------------

/** Output key order: fixed, so the same row always serializes to the same bytes. */
const OUTPUT_ORDER = [
  'type', 'messageId', 'userId', 'anonymousId', 'previousId', 'groupId', 'event', 'name', 'category',
  'timestamp', 'properties', 'traits', 'context', 'integrations',
] as const;

/**
 * Validates one raw message (parsed NDJSON object or mapped CSV row).
 * Returns the first problem only: rejects carry one field, and the others usually share the cause.
 */
export function validateMessage(input: unknown, opts: ValidateOptions = {}): ValidationResult {
  const stripped = stripServerSetFields(input);
  const raw = stripped === undefined ? input : stripped.raw;
  // Most rows of a real import are valid: acceptValidMessage says so without zod's intermediate objects, and
  // anything it is not sure of goes through the schema, which alone words the problems.
  const message = acceptValidMessage(raw) ?? validateWithSchema(raw, stripped?.timestampFromOriginal === true);
  if ('ok' in message) return message as ValidationResult;
  return finishValidated(message, stripped, opts);
}

/** validateMessage without the fast path: every row through the zod schema (test/unit/message-schema.test.ts compares the two). */
export function validateMessageWithSchema(input: unknown, opts: ValidateOptions = {}): ValidationResult {
  const stripped = stripServerSetFields(input);
  const raw = stripped === undefined ? input : stripped.raw;
  const message = validateWithSchema(raw, stripped?.timestampFromOriginal === true);
  if ('ok' in message) return message as ValidationResult;
  return finishValidated(message, stripped, opts);
}

/** The schema's verdict: the normalised message (OUTPUT_ORDER, no null/undefined values), or the first problem. */
function validateWithSchema(raw: unknown, timestampFromOriginal: boolean): Record<string, unknown> | { ok: false; field: string; reason: string } {
  const parsed = messageSchema.safeParse(raw);
  if (!parsed.success) {
    const problem = firstProblem(raw, parsed.error.issues);
    // The event time came from originalTimestamp: name the field the row really has.
    if (timestampFromOriginal && problem.field === 'timestamp') return { ...problem, field: 'originalTimestamp' };
    return problem;
  }

  const source = parsed.data as Record<string, unknown>;
  const message: Record<string, unknown> = {};
  for (const key of OUTPUT_ORDER) {
    const value = source[key];
    if (value !== undefined && value !== null) message[key] = value;
  }
  return message;
}

/** The rules no schema states (timestamp required, not in the future), then the result. */
function finishValidated(
  message: Record<string, unknown>,
  stripped: { fields: string[] } | undefined,
  opts: ValidateOptions,
): ValidationResult {
  const timestamp = message['timestamp'] as string | undefined;
  if (timestamp === undefined) {
    if (opts.allowMissingTimestamp !== true) {
      return {
        ok: false,
        field: 'timestamp',
        reason: 'timestamp is required for historical imports (without it Segment records the import time); allow missing timestamps explicitly to send such rows anyway',
      };
    }
  } else if (timestamp > latestAcceptedTimestamp(opts.now)) {
    return {
      ok: false,
      field: 'timestamp',
      reason: `timestamp ${timestamp} is in the future (more than ${MAX_FUTURE_SKEW_MS / 60_000} minutes after ${(opts.now ?? new Date()).toISOString()}); check the timezone of the source data`,
    };
  }
  if (stripped !== undefined) return { ok: true, message: message as ValidatedMessage, serverFields: stripped.fields };
  return { ok: true, message: message as ValidatedMessage };
}

// ---------------------------------------------------------------------------------------------
// Fast path: accepting a valid row without the schema
// ---------------------------------------------------------------------------------------------

/** The fields each call type's strict schema above allows. */
const COMMON_FIELDS = ['type', 'userId', 'anonymousId', 'messageId', 'timestamp', 'context', 'integrations'];
const FIELDS_BY_TYPE: Record<string, ReadonlySet<string>> = {
  track: new Set([...COMMON_FIELDS, 'event', 'properties']),
  identify: new Set([...COMMON_FIELDS, 'traits']),
  page: new Set([...COMMON_FIELDS, 'name', 'category', 'properties']),
  screen: new Set([...COMMON_FIELDS, 'name', 'category', 'properties']),
  group: new Set([...COMMON_FIELDS, 'groupId', 'traits']),
  alias: new Set([...COMMON_FIELDS, 'previousId']),
};

/** Marks a value the fast path cannot judge: the row goes through the schema. */
const UNSURE = Symbol('unsure');

/** An id field as the schema reads it: absent, its string, or UNSURE (wrong type, blank, inexact number). */
function acceptId(value: unknown): string | undefined | typeof UNSURE {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value.trim() === '' ? UNSURE : value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return UNSURE;
}

function acceptObject(value: unknown): Record<string, unknown> | undefined | typeof UNSURE {
  if (value === undefined || value === null) return undefined;
  return isPlainObject(value) ? value : UNSURE;
}

function acceptOptionalText(value: unknown): string | undefined | typeof UNSURE {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : UNSURE;
}

/**
 * The normalised message the schema would produce for `raw` (same keys, same order, same values), when every rule
 * of the schema is plainly met; undefined when in any doubt, so that only the schema ever rejects a row and words
 * why. Runs once per row: it reads the row's fields once and builds only the output object.
 */
export function acceptValidMessage(raw: unknown): Record<string, unknown> | undefined {
  if (!isPlainObject(raw)) return undefined;
  const type = raw['type'];
  const allowed = typeof type === 'string' ? FIELDS_BY_TYPE[type] : undefined;
  if (allowed === undefined) return undefined;
  for (const key in raw) if (!allowed.has(key)) return undefined;

  const userId = acceptId(raw['userId']);
  const anonymousId = acceptId(raw['anonymousId']);
  const previousId = acceptId(raw['previousId']);
  const groupId = acceptId(raw['groupId']);
  if (userId === UNSURE || anonymousId === UNSURE || previousId === UNSURE || groupId === UNSURE) return undefined;
  if (type === 'alias' ? userId === undefined || previousId === undefined : userId === undefined && anonymousId === undefined) return undefined;
  if (type === 'group' && groupId === undefined) return undefined;

  const messageIdValue = raw['messageId'];
  let messageId: string | undefined;
  if (messageIdValue !== undefined && messageIdValue !== null) {
    if (typeof messageIdValue !== 'string' || messageIdValue.length < 1 || messageIdValue.length > SEGMENT_LIMITS.maxMessageIdLength) return undefined;
    messageId = messageIdValue;
  }

  let event: string | undefined;
  if (type === 'track') {
    const value = raw['event'];
    if (typeof value !== 'string' || value.trim() === '') return undefined;
    event = value;
  }
  const name = acceptOptionalText(raw['name']);
  const category = acceptOptionalText(raw['category']);
  if (name === UNSURE || category === UNSURE) return undefined;

  const timestampValue = raw['timestamp'];
  let timestamp: string | undefined;
  if (timestampValue !== undefined && timestampValue !== null) {
    if (typeof timestampValue !== 'string') return undefined;
    const parsed = parseTimestamp(timestampValue);
    if (!parsed.ok) return undefined;
    timestamp = parsed.iso;
  }

  const properties = acceptObject(raw['properties']);
  const traits = acceptObject(raw['traits']);
  const context = acceptObject(raw['context']);
  const integrations = acceptObject(raw['integrations']);
  if (properties === UNSURE || traits === UNSURE || context === UNSURE || integrations === UNSURE) return undefined;

  // OUTPUT_ORDER, spelled out: the same key order the schema path builds, so the same bytes are sent.
  const message: Record<string, unknown> = { type };
  if (messageId !== undefined) message['messageId'] = messageId;
  if (userId !== undefined) message['userId'] = userId;
  if (anonymousId !== undefined) message['anonymousId'] = anonymousId;
  if (previousId !== undefined) message['previousId'] = previousId;
  if (groupId !== undefined) message['groupId'] = groupId;
  if (event !== undefined) message['event'] = event;
  if (name !== undefined) message['name'] = name;
  if (category !== undefined) message['category'] = category;
  if (timestamp !== undefined) message['timestamp'] = timestamp;
  if (properties !== undefined) message['properties'] = properties;
  if (traits !== undefined) message['traits'] = traits;
  if (context !== undefined) message['context'] = context;
  if (integrations !== undefined) message['integrations'] = integrations;
  return message;
}

/**
 * A copy of `raw` without its server-set fields, or undefined when it has none (the common case costs a few
 * own-property checks and no copy). Without a `timestamp`, `originalTimestamp` becomes the event time.
 */
function stripServerSetFields(raw: unknown): { raw: Record<string, unknown>; fields: string[]; timestampFromOriginal: boolean } | undefined {
  if (!isPlainObject(raw)) return undefined;
  let fields: string[] | undefined;
  for (const key of SERVER_SET_FIELDS) {
    if (Object.hasOwn(raw, key)) (fields ??= []).push(key);
  }
  const context = raw['context'];
  const libraryInContext = isPlainObject(context) && Object.hasOwn(context, 'library');
  if (libraryInContext) (fields ??= []).push(SERVER_SET_CONTEXT_FIELD);
  if (fields === undefined) return undefined;

  const copy: Record<string, unknown> = { ...raw };
  for (const key of SERVER_SET_FIELDS) delete copy[key];
  if (libraryInContext) {
    const { library: _library, ...rest } = context as Record<string, unknown>;
    if (Object.keys(rest).length > 0) copy['context'] = rest;
    else delete copy['context'];
  }
  const original = raw['originalTimestamp'];
  const timestampFromOriginal = (raw['timestamp'] === undefined || raw['timestamp'] === null) && original !== undefined && original !== null;
  if (timestampFromOriginal) copy['timestamp'] = original;
  return { raw: copy, fields, timestampFromOriginal };
}

let cachedNow: Date | undefined;
let cachedLatest = '';

/**
 * The latest acceptable timestamp as canonical ISO text. Canonical ISO strings of years 1970-9999 sort
 * like the instants they name, so the hot path compares strings; the value is cached per `now` object
 * because a RowConverter passes the same one for a whole chunk.
 */
function latestAcceptedTimestamp(now: Date | undefined): string {
  if (now === undefined) return new Date(Date.now() + MAX_FUTURE_SKEW_MS).toISOString();
  if (now !== cachedNow) {
    cachedLatest = new Date(now.getTime() + MAX_FUTURE_SKEW_MS).toISOString();
    cachedNow = now;
  }
  return cachedLatest;
}

function firstProblem(raw: unknown, issues: readonly z.core.$ZodIssue[]): { ok: false; field: string; reason: string } {
  const issue = issues[0];
  if (issue === undefined) return { ok: false, field: '(message)', reason: 'message is invalid' };
  if (issue.path.length === 0 && issue.code === 'invalid_type') {
    return { ok: false, field: '(message)', reason: `a message must be a JSON object, got ${describe(raw)}` };
  }
  if (issue.code === 'invalid_union' && issue.path.length === 1 && issue.path[0] === 'type') {
    const type = isPlainObject(raw) ? raw['type'] : undefined;
    const allowed = CALL_TYPES.join(', ');
    return {
      ok: false,
      field: 'type',
      reason:
        type === undefined || type === null
          ? `type is required: one of ${allowed}`
          : `type ${JSON.stringify(type)} is not one of ${allowed}`,
    };
  }
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '(unknown)';
    const type = isPlainObject(raw) ? String(raw['type']) : '';
    const reason = ALL_MESSAGE_FIELDS.has(key)
      ? `${key} is not a field of ${type} calls`
      : `unknown field ${JSON.stringify(key)}: put custom data under properties, traits or context`;
    return { ok: false, field: key, reason };
  }
  return { ok: false, field: issue.path.map(String).join('.'), reason: issue.message };
}
