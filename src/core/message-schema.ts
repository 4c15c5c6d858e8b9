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
import { acceptValidMessage, copyWithoutKey, isPlainObject, setOwn } from './message-fast-path';
import { parseTimestamp } from './timestamp';
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
  { ok: true; message: ValidatedMessage; serverFields?: string[] } | { ok: false; field: string; reason: string };

/** Clock skew tolerated between the machine that produced the data and this one. */
export const MAX_FUTURE_SKEW_MS = 5 * 60 * 1000;

/** Output key order: fixed, so the same row always serializes to the same bytes. */
const OUTPUT_ORDER = [
  'type',
  'messageId',
  'userId',
  'anonymousId',
  'previousId',
  'groupId',
  'event',
  'name',
  'category',
  'timestamp',
  'properties',
  'traits',
  'context',
  'integrations',
] as const;

/** Known Segment message fields (every output field), so "belongs to another call type" can be told apart from "unknown". */
const ALL_MESSAGE_FIELDS: ReadonlySet<string> = new Set(OUTPUT_ORDER);

// ---------------------------------------------------------------------------------------------
// Field schemas
// ---------------------------------------------------------------------------------------------

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
  return requiredReason === undefined ? z.preprocess(coerceId, text.optional()).optional() : z.preprocess(coerceId, text);
}

function requiredTextSchema(field: string, requiredReason: string) {
  return z
    .string({
      error: (issue) =>
        issue.input === undefined || issue.input === null ? requiredReason : `${field} must be a string, got ${describe(issue.input)}`,
    })
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
export const messageSchema = z.discriminatedUnion('type', [trackSchema, identifySchema, pageSchema, screenSchema, groupSchema, aliasSchema]);

// ---------------------------------------------------------------------------------------------
// validateMessage
// ---------------------------------------------------------------------------------------------

/**
 * Validates one raw message (parsed NDJSON object or mapped CSV row).
 * Returns the first problem only: rejects carry one field, and the others usually share the cause.
 */
export function validateMessage(input: unknown, opts: ValidateOptions = {}): ValidationResult {
  // Most rows of a real import are valid: acceptValidMessage says so without zod's intermediate objects, and for a
  // Segment export's row (every row of one has server-set fields) without stripServerSetFields' copy either.
  const accepted = acceptValidMessage(input);
  if (accepted !== undefined) return finishValidated(accepted.message, accepted.serverFields, opts);
  // Anything the fast path is not sure of goes through the schema, which alone words the problems.
  return validateMessageWithSchema(input, opts);
}

/** validateMessage without the fast path: every row through the zod schema (test/unit/message-schema.test.ts compares the two). */
export function validateMessageWithSchema(input: unknown, opts: ValidateOptions = {}): ValidationResult {
  const stripped = stripServerSetFields(input);
  const raw = stripped === undefined ? input : stripped.raw;
  const message = validateWithSchema(raw, stripped?.timestampFromOriginal === true);
  if ('ok' in message) return message as ValidationResult;
  return finishValidated(message, stripped?.fields, opts);
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
function finishValidated(message: Record<string, unknown>, serverFields: string[] | undefined, opts: ValidateOptions): ValidationResult {
  const timestamp = message['timestamp'] as string | undefined;
  if (!isTimestampAccepted(timestamp, opts)) {
    if (timestamp === undefined) {
      return {
        ok: false,
        field: 'timestamp',
        reason:
          'timestamp is required for historical imports (without it Segment records the import time); allow missing timestamps explicitly to send such rows anyway',
      };
    }
    return {
      ok: false,
      field: 'timestamp',
      reason: `timestamp ${timestamp} is in the future (more than ${MAX_FUTURE_SKEW_MS / 60_000} minutes after ${(opts.now ?? new Date()).toISOString()}); check the timezone of the source data`,
    };
  }
  if (serverFields !== undefined) return { ok: true, message: message as ValidatedMessage, serverFields };
  return { ok: true, message: message as ValidatedMessage };
}

/**
 * A copy of `raw` without its server-set fields, or undefined when it has none. Without a `timestamp`,
 * `originalTimestamp` becomes the event time.
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

  // Built key by key rather than spread and `delete`d: deleting turns the copy into a slow dictionary object, and
  // the rest-spread of context is a runtime call; these rows are every row of a Segment export.
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(raw)) {
    if (SERVER_SET_FIELD_SET.has(key)) continue;
    let value = raw[key];
    if (key === 'context' && libraryInContext) {
      value = copyWithoutKey(context as Record<string, unknown>, 'library');
      if (value === undefined) continue;
    }
    setOwn(copy, key, value);
  }
  const original = raw['originalTimestamp'];
  const timestampFromOriginal = (raw['timestamp'] === undefined || raw['timestamp'] === null) && original !== undefined && original !== null;
  if (timestampFromOriginal) copy['timestamp'] = original;
  return { raw: copy, fields, timestampFromOriginal };
}

const SERVER_SET_FIELD_SET: ReadonlySet<string> = new Set(SERVER_SET_FIELDS);

let cachedNow: Date | undefined;
let cachedLatest = '';

/**
 * The latest acceptable timestamp as canonical ISO text. Canonical ISO strings of years 1970-9999 sort
 * like the instants they name, so the hot path compares strings; the value is cached per `now` object
 * because a RowConverter passes the same one for a whole chunk.
 */
/**
 * The rules no schema states, for a valid message's canonical timestamp: present unless missing ones are allowed, and
 * not in the future. validateMessage words why a row breaks them; the text path (src/core/row-to-message.ts) only asks.
 */
export function isTimestampAccepted(timestamp: string | undefined, opts: ValidateOptions): boolean {
  return timestamp === undefined ? opts.allowMissingTimestamp === true : timestamp <= latestAcceptedTimestamp(opts.now);
}

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
      reason: type === undefined || type === null ? `type is required: one of ${allowed}` : `type ${JSON.stringify(type)} is not one of ${allowed}`,
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
