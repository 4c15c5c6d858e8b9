/**
 * The text path of row validation: an NDJSON row that is plainly a valid message, exactly as written, is judged on
 * its text, without JSON.parse building an object graph that is thrown away once the row is sent as written
 * (src/core/row-to-message.ts). Most rows of an import are such rows; the per-row cost is in docs/footprint.md.
 *
 * It accepts a row only when all of this holds, and otherwise says nothing (undefined) and the row goes through
 * JSON.parse and validateMessage (src/core/message-schema.ts), which alone reject rows and word why:
 * - the text is one JSON object by RFC 8259, checked character by character as strictly as JSON.parse;
 * - every member name is written without escapes, is a field its call type allows or a server-set one, and appears
 *   once;
 * - `type`, the ids, `event`, `name`, `category`, `messageId` and `timestamp` are strings without escapes, and
 *   `properties`, `traits`, `context` and `integrations` are objects; nothing is null;
 * - the rules of acceptValidMessage (src/core/message-fast-path.ts) for a valid row: an id the
 *   call type needs, no blank id or event, a messageId of 1-100 characters, and a timestamp parseTimestamp reads
 *   (written back in canonical form when it was not).
 * Server-set members and `context.library` are cut from the text sent (no name in `context` may be escaped, or
 * `library` could hide), as validateMessage drops them.
 * test/unit/message-text.test.ts checks that every row accepted here is accepted by the other path as exactly its
 * message, with the same summary.
 *
 * No Node imports: plain string work. Linear in the row's length; nesting deeper than MAX_DEPTH is left to JSON.parse.
 */
import { SEGMENT_LIMITS } from '../shared/limits';
import { FIELDS_BY_TYPE, serverFieldNames } from './message-fast-path';
import { isCanonicalTimestamp, parseTimestamp } from './timestamp';
import { SERVER_SET_FIELDS } from './types';

/** What the import counts of a valid row: its call type, its own messageId (if it brought one) and its timestamp. */
export interface EventSummary {
  type: string;
  messageId?: string;
  timestamp?: string;
}

const MAX_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;

/** The fields of a message, by bit. A member named anything else than these or a server-set field is JSON.parse's to judge. */
const TYPE = 1 << 0;
const USER_ID = 1 << 1;
const ANONYMOUS_ID = 1 << 2;
const PREVIOUS_ID = 1 << 3;
const GROUP_ID = 1 << 4;
const MESSAGE_ID = 1 << 5;
const EVENT = 1 << 6;
const NAME = 1 << 7;
const CATEGORY = 1 << 8;
const TIMESTAMP = 1 << 9;
const PROPERTIES = 1 << 10;
const TRAITS = 1 << 11;
const CONTEXT = 1 << 12;
const INTEGRATIONS = 1 << 13;
const FIELD_COUNT = 14;

const STRING_FIELDS = TYPE | USER_ID | ANONYMOUS_ID | PREVIOUS_ID | GROUP_ID | MESSAGE_ID | EVENT | NAME | CATEGORY | TIMESTAMP;

/** A member name this path knows: a message field (`field` bit) or a server-set one (`server` bit, by SERVER_SET_FIELDS position). */
interface KnownName {
  name: string;
  field: number;
  server: number;
}

const FIELD_BITS: ReadonlyArray<[string, number]> = [
  ['type', TYPE],
  ['userId', USER_ID],
  ['anonymousId', ANONYMOUS_ID],
  ['previousId', PREVIOUS_ID],
  ['groupId', GROUP_ID],
  ['messageId', MESSAGE_ID],
  ['event', EVENT],
  ['name', NAME],
  ['category', CATEGORY],
  ['timestamp', TIMESTAMP],
  ['properties', PROPERTIES],
  ['traits', TRAITS],
  ['context', CONTEXT],
  ['integrations', INTEGRATIONS],
];

/** The call types and the fields each allows, as bits: the fast path's table (FIELDS_BY_TYPE), so the two never differ. */
const CALL_TYPES: ReadonlyArray<{ type: string; fields: number }> = Object.entries(FIELDS_BY_TYPE).map(([type, names]) => {
  let fields = 0;
  for (const name of names) {
    const bit = FIELD_BITS.find(([known]) => known === name)?.[1];
    // A field the schema gains must get a bit here, and a reading rule (string or object) in readMembers.
    if (bit === undefined) throw new Error(`src/core/message-text.ts has no bit for the ${type} field ${name}`);
    fields |= bit;
  }
  return { type, fields };
});

/** Known names by length, so a member name is told apart with one or two startsWith calls and no new string. */
const NAMES_BY_LENGTH: ReadonlyArray<readonly KnownName[]> = (() => {
  const table: KnownName[][] = [];
  for (const [name, field] of FIELD_BITS) (table[name.length] ??= []).push({ name, field, server: 0 });
  SERVER_SET_FIELDS.forEach((name, index) => (table[name.length] ??= []).push({ name, field: 0, server: 1 << index }));
  return table;
})();

const ORIGINAL_TIMESTAMP = 1 << SERVER_SET_FIELDS.indexOf('originalTimestamp');
/** Server-set members cut from a row, context.library and a timestamp rewritten: each at most once, so this bounds the cuts. */
const MAX_CUTS = SERVER_SET_FIELDS.length + 2;

/** Characters String.prototype.trim removes, beyond ASCII (which a row's unescaped string holds only as a space). */
function isUnicodeSpace(code: number): boolean {
  return (
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/**
 * Judges rows by their text. One per RowConverter: it keeps where each field's value was found, and what to cut, in
 * reused arrays, so judging a row allocates only the strings it returns.
 */
export class MessageTextReader {
  private text = '';
  /** Where each string field's value (between its quotes) starts and ends, by field bit index. */
  private readonly fieldStart = new Int32Array(FIELD_COUNT);
  private readonly fieldEnd = new Int32Array(FIELD_COUNT);
  private serverFields = 0;
  private libraryInContext = false;
  /** Ranges of the text to leave out, in order and apart: [start, end) pairs. */
  private readonly cuts = new Int32Array(2 * MAX_CUTS);
  /** What to write in place of each cut, if anything (a normalised timestamp). */
  private readonly replacements: Array<string | undefined> = new Array<string | undefined>(MAX_CUTS).fill(undefined);
  private cutCount = 0;
  /** The accepted row's timestamp in canonical form. */
  private timestamp = '';
  /** The bookkeeping of the outer object's cuts and of `context`'s, reused for every row. */
  private readonly topCuts = new MemberCuts(this);
  private readonly contextCuts = new MemberCuts(this);
  /** Where the outer object's `{` is. */
  private openBrace = 0;
  /** serverFieldNames' answers, by the bits they were made from: a few combinations recur for a whole import. */
  private readonly serverFieldLists = new Map<number, readonly string[]>();

  /**
   * The row's summary when the row is plainly a valid message (see the top of this file); undefined when in any doubt.
   * The timestamp is read as the fast path reads it: whether it may be missing, or is in the future, is the caller's
   * rule (src/core/row-to-message.ts). What to send and the server-set fields found are asked next, before the next
   * row is read.
   */
  accept(text: string): EventSummary | undefined {
    this.text = text;
    this.serverFields = 0;
    this.libraryInContext = false;
    this.cutCount = 0;
    const seen = this.readMembers();
    if (seen < 0) return undefined;
    // Without a timestamp, a row with server-set fields takes originalTimestamp as its event time: a member to write, not
    // to cut, so JSON.parse's path builds that message.
    if ((seen & TIMESTAMP) === 0 && (this.serverFields & ORIGINAL_TIMESTAMP) !== 0) return undefined;
    return this.judge(seen);
  }

  /**
   * The accepted row's text less its server-set members and `context.library` (with the comma that set each apart),
   * its timestamp in canonical form, and `firstMember` (`"name":value,`) put first when given.
   */
  textToSend(firstMember?: string): string {
    const text = this.text;
    let result = '';
    let from = 0;
    if (firstMember !== undefined) {
      from = this.openBrace + 1;
      result = text.slice(0, from) + firstMember;
    }
    for (let index = 0; index < this.cutCount; index++) {
      result += text.slice(from, this.cuts[2 * index]!);
      const replacement = this.replacements[index];
      if (replacement !== undefined) result += replacement;
      from = this.cuts[2 * index + 1]!;
    }
    return from === 0 ? text : result + text.slice(from);
  }

  /** The accepted row's server-set fields as validateMessage names them (serverFieldNames), or undefined when none. */
  serverFieldsFound(): readonly string[] | undefined {
    if (this.serverFields === 0 && !this.libraryInContext) return undefined;
    const key = this.libraryInContext ? -1 - this.serverFields : this.serverFields;
    let names = this.serverFieldLists.get(key);
    if (names === undefined) {
      names = Object.freeze(serverFieldNames(this.serverFields, this.libraryInContext));
      this.serverFieldLists.set(key, names);
    }
    return names;
  }

  /**
   * Reads the outer object: the fields seen (bits), with each string field's value position and the members to cut;
   * -1 for anything this path leaves to JSON.parse (text that is not JSON, or JSON it does not read). Every -1 below
   * means the same.
   */
  private readMembers(): number {
    const text = this.text;
    let at = skipSpace(text, 0);
    if (text.charCodeAt(at) !== OPEN_OBJECT) return -1;
    this.openBrace = at;
    at = skipSpace(text, at + 1);
    if (text.charCodeAt(at) === CLOSE_OBJECT) return -1;
    let seen = 0;
    const cuts = this.topCuts.reset();
    for (;;) {
      const memberStart = at;
      if (text.charCodeAt(at) !== QUOTE) return -1;
      const nameEnd = this.stringEnd(at);
      if (nameEnd < 0) return -1;
      const known = this.nameAt(at + 1, nameEnd - 1);
      if (known === undefined) return -1;
      at = skipSpace(text, nameEnd);
      if (text.charCodeAt(at) !== COLON) return -1;
      at = skipSpace(text, at + 1);
      const code = text.charCodeAt(at);
      if (known.server !== 0) {
        // Dropped whatever it holds, as stripServerSetFields drops it (src/core/message-schema.ts).
        if ((this.serverFields & known.server) !== 0) return -1;
        this.serverFields |= known.server;
        at = this.valueEnd(at, 1);
        if (at < 0) return -1;
        cuts.cut(memberStart, at);
      } else {
        const bit = known.field;
        if ((seen & bit) !== 0) return -1;
        seen |= bit;
        cuts.keep(memberStart);
        if ((bit & STRING_FIELDS) !== 0) {
          if (code !== QUOTE) return -1;
          const end = this.stringEnd(at);
          if (end < 0) return -1;
          const index = 31 - Math.clz32(bit);
          this.fieldStart[index] = at + 1;
          this.fieldEnd[index] = end - 1;
          if (bit === TIMESTAMP && !this.readTimestamp(at + 1, end - 1)) return -1;
          at = end;
        } else {
          if (code !== OPEN_OBJECT) return -1;
          at = bit === CONTEXT ? this.contextEnd(at) : this.objectEnd(at, 1);
          if (at < 0) return -1;
        }
        cuts.kept(at);
      }
      at = skipSpace(text, at);
      const next = text.charCodeAt(at);
      if (next === CLOSE_OBJECT) break;
      if (next !== COMMA) return -1;
      at = skipSpace(text, at + 1);
    }
    // Only spacing may follow the object, as JSON.parse requires.
    if (skipSpace(text, at + 1) !== text.length || cuts.allCut()) return -1;
    return seen;
  }

  private judge(seen: number): EventSummary | undefined {
    const text = this.text;
    if ((seen & TYPE) === 0) return undefined;
    const typeStart = this.fieldStart[0]!;
    const typeLength = this.fieldEnd[0]! - typeStart;
    let callType: { type: string; fields: number } | undefined;
    for (const candidate of CALL_TYPES) {
      if (candidate.type.length === typeLength && text.startsWith(candidate.type, typeStart)) callType = candidate;
    }
    if (callType === undefined || (seen & ~callType.fields) !== 0) return undefined;
    const { type } = callType;

    if (this.isBlankIfSeen(seen, USER_ID) || this.isBlankIfSeen(seen, ANONYMOUS_ID)) return undefined;
    if (this.isBlankIfSeen(seen, PREVIOUS_ID) || this.isBlankIfSeen(seen, GROUP_ID)) return undefined;
    if (type === 'alias' ? (seen & USER_ID) === 0 || (seen & PREVIOUS_ID) === 0 : (seen & (USER_ID | ANONYMOUS_ID)) === 0) return undefined;
    if (type === 'group' && (seen & GROUP_ID) === 0) return undefined;
    if (type === 'track' && ((seen & EVENT) === 0 || this.isBlank(EVENT))) return undefined;

    const summary: EventSummary = { type };
    if ((seen & MESSAGE_ID) !== 0) {
      const messageId = this.value(MESSAGE_ID);
      if (messageId.length < 1 || messageId.length > SEGMENT_LIMITS.maxMessageIdLength) return undefined;
      // A chunk keeps the ids rows bring for its duplicate check (src/activities/chunk-sender.ts): a copy, because a
      // slice of the row would keep the whole row alive with it (docs/footprint.md, "Memory").
      summary.messageId = detachedCopy(messageId);
    }
    if ((seen & TIMESTAMP) !== 0) summary.timestamp = this.timestamp;
    return summary;
  }

  /**
   * The timestamp written at text[start, end): kept when canonical, else replaced by the canonical text parseTimestamp
   * makes of it, as the fast path normalises it (src/core/message-fast-path.ts). False when it is not a time.
   */
  private readTimestamp(start: number, end: number): boolean {
    const written = this.text.slice(start, end);
    if (isCanonicalTimestamp(written)) {
      this.timestamp = written;
      return true;
    }
    const parsed = parseTimestamp(written);
    if (!parsed.ok) return false;
    this.timestamp = parsed.iso;
    this.addCut(start, end, parsed.iso);
    return true;
  }

  /** @internal MemberCuts records a range to leave out; readTimestamp one to write `replacement` in place of. */
  addCut(start: number, end: number, replacement?: string): void {
    const at = 2 * this.cutCount;
    this.replacements[this.cutCount++] = replacement;
    this.cuts[at] = start;
    this.cuts[at + 1] = end;
  }

  private value(bit: number): string {
    const index = 31 - Math.clz32(bit);
    return this.text.slice(this.fieldStart[index]!, this.fieldEnd[index]!);
  }

  private isBlankIfSeen(seen: number, bit: number): boolean {
    return (seen & bit) !== 0 && this.isBlank(bit);
  }

  /** As `value(bit).trim() === ''`, without the strings. */
  private isBlank(bit: number): boolean {
    const index = 31 - Math.clz32(bit);
    const text = this.text;
    for (let at = this.fieldStart[index]!; at < this.fieldEnd[index]!; at++) {
      const code = text.charCodeAt(at);
      if (code === 0x20 || (code >= 0x80 && isUnicodeSpace(code))) continue;
      return false;
    }
    return true;
  }

  /** The known name written at text[start, end) (no escapes there), or undefined for any other name. */
  private nameAt(start: number, end: number): KnownName | undefined {
    const candidates = NAMES_BY_LENGTH[end - start];
    if (candidates === undefined) return undefined;
    for (const candidate of candidates) if (this.text.startsWith(candidate.name, start)) return candidate;
    return undefined;
  }

  /**
   * The index after the string opening at `at`, or -1. This path reads only names and fields written without
   * escapes (a name with one could spell any field); inside values, escapes are checked as JSON.parse checks them
   * (`allowEscapes`).
   */
  private stringEnd(at: number, allowEscapes = false): number {
    const text = this.text;
    const length = text.length;
    for (let i = at + 1; i < length; i++) {
      const code = text.charCodeAt(i);
      if (code === QUOTE) return i + 1;
      if (code < 0x20) return -1;
      if (code === BACKSLASH) {
        if (!allowEscapes) return -1;
        const escaped = text.charCodeAt(i + 1);
        if (escaped === 0x75 /* u */) {
          for (let k = i + 2; k < i + 6; k++) if (!isHexDigit(text.charCodeAt(k))) return -1;
          i += 5;
        } else if (isSimpleEscape(escaped)) {
          i += 1;
        } else {
          return -1;
        }
      }
    }
    return -1;
  }

  /**
   * The index after the `context` object opening at `at`, or -1, with its `library` member cut. Its names must be
   * written without escapes (one could spell `library`), and something other than `library` must be left in it (a
   * context of nothing else is dropped whole, which JSON.parse's path does).
   */
  private contextEnd(at: number): number {
    const text = this.text;
    at = skipSpace(text, at + 1);
    if (text.charCodeAt(at) === CLOSE_OBJECT) return at + 1;
    const cuts = this.contextCuts.reset();
    for (;;) {
      const memberStart = at;
      if (text.charCodeAt(at) !== QUOTE) return -1;
      const nameEnd = this.stringEnd(at);
      if (nameEnd < 0) return -1;
      const isLibrary = nameEnd - at === 9 && text.startsWith('library', at + 1);
      if (isLibrary) {
        if (this.libraryInContext) return -1;
        this.libraryInContext = true;
      } else {
        cuts.keep(memberStart);
      }
      at = skipSpace(text, nameEnd);
      if (text.charCodeAt(at) !== COLON) return -1;
      at = this.valueEnd(skipSpace(text, at + 1), 1);
      if (at < 0) return -1;
      if (isLibrary) cuts.cut(memberStart, at);
      else cuts.kept(at);
      at = skipSpace(text, at);
      const next = text.charCodeAt(at);
      if (next === CLOSE_OBJECT) return cuts.allCut() ? -1 : at + 1;
      if (next !== COMMA) return -1;
      at = skipSpace(text, at + 1);
    }
  }

  /** The index after the object opening at `at` (at `depth`), or -1. */
  private objectEnd(at: number, depth: number): number {
    const text = this.text;
    if (depth > MAX_DEPTH) return -1;
    at = skipSpace(text, at + 1);
    if (text.charCodeAt(at) === CLOSE_OBJECT) return at + 1;
    for (;;) {
      if (text.charCodeAt(at) !== QUOTE) return -1;
      const nameEnd = this.stringEnd(at, true);
      if (nameEnd < 0) return -1;
      at = skipSpace(text, nameEnd);
      if (text.charCodeAt(at) !== COLON) return -1;
      at = this.valueEnd(skipSpace(text, at + 1), depth);
      if (at < 0) return -1;
      at = skipSpace(text, at);
      const next = text.charCodeAt(at);
      if (next === CLOSE_OBJECT) return at + 1;
      if (next !== COMMA) return -1;
      at = skipSpace(text, at + 1);
    }
  }

  private arrayEnd(at: number, depth: number): number {
    const text = this.text;
    if (depth > MAX_DEPTH) return -1;
    at = skipSpace(text, at + 1);
    if (text.charCodeAt(at) === CLOSE_ARRAY) return at + 1;
    for (;;) {
      at = this.valueEnd(at, depth);
      if (at < 0) return -1;
      at = skipSpace(text, at);
      const next = text.charCodeAt(at);
      if (next === CLOSE_ARRAY) return at + 1;
      if (next !== COMMA) return -1;
      at = skipSpace(text, at + 1);
    }
  }

  /** The index after the JSON value at `at` (inside an object or array at `depth`), or -1. */
  private valueEnd(at: number, depth: number): number {
    const text = this.text;
    const code = text.charCodeAt(at);
    if (code === QUOTE) return this.stringEnd(at, true);
    if (code === OPEN_OBJECT) return this.objectEnd(at, depth + 1);
    if (code === OPEN_ARRAY) return this.arrayEnd(at, depth + 1);
    if (code === MINUS || (code >= ZERO && code <= NINE)) return numberEnd(text, at);
    if (code === 0x74 /* t */) return text.startsWith('true', at) ? at + 4 : -1;
    if (code === 0x66 /* f */) return text.startsWith('false', at) ? at + 5 : -1;
    if (code === 0x6e /* n */) return text.startsWith('null', at) ? at + 4 : -1;
    return -1;
  }
}

/**
 * Which text to cut for the members left out of one object, so that what is left is that object without them: a cut
 * member goes with the comma before it (from the end of the member before it), and members cut before the first kept
 * one go with the comma after them (up to where that member starts). Cuts come in text order, never overlapping.
 */
class MemberCuts {
  /** Where the next cut after a kept member starts: the end of that member, or of the cut that followed it. */
  private cutFrom = -1;
  private pendingStart = -1;
  private keptAny = false;

  constructor(private readonly reader: MessageTextReader) {}

  /** Ready for the next object. */
  reset(): this {
    this.cutFrom = -1;
    this.pendingStart = -1;
    this.keptAny = false;
    return this;
  }

  /** A member to keep starts at `start` (called before its value is read, so any cuts inside it come after). */
  keep(start: number): void {
    if (this.pendingStart >= 0) {
      this.reader.addCut(this.pendingStart, start);
      this.pendingStart = -1;
    }
    this.keptAny = true;
  }

  kept(end: number): void {
    this.cutFrom = end;
  }

  cut(start: number, end: number): void {
    if (this.cutFrom >= 0) {
      this.reader.addCut(this.cutFrom, end);
      this.cutFrom = end;
    } else if (this.pendingStart < 0) {
      this.pendingStart = start;
    }
  }

  /** Every member was cut (this object had members, none kept). */
  allCut(): boolean {
    return !this.keptAny && this.pendingStart >= 0;
  }
}

/**
 * The same text, not sharing memory with the string it was sliced from. V8 makes a slice of 13 characters or more a
 * view of its parent; a slice of a concatenation is taken from a new flat copy of it instead, so the result's parent
 * is that copy.
 */
function detachedCopy(text: string): string {
  return `${text} `.slice(0, -1);
}

/** After JSON whitespace (space, tab, LF, CR) from `at`. */
function skipSpace(text: string, at: number): number {
  for (;;) {
    const code = text.charCodeAt(at);
    if (code !== 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) return at;
    at++;
  }
}

/** The index after the number at `at` (RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?), or -1. */
function numberEnd(text: string, at: number): number {
  if (text.charCodeAt(at) === MINUS) at++;
  const first = text.charCodeAt(at);
  if (first === ZERO) at++;
  else if (first > ZERO && first <= NINE) at = digitsEnd(text, at + 1);
  else return -1;
  if (text.charCodeAt(at) === DOT) {
    const fractionStart = at + 1;
    at = digitsEnd(text, fractionStart);
    if (at === fractionStart) return -1;
  }
  const exponent = text.charCodeAt(at);
  if (exponent === LOWER_E || exponent === UPPER_E) {
    at++;
    const sign = text.charCodeAt(at);
    if (sign === PLUS || sign === MINUS) at++;
    const digitsStart = at;
    at = digitsEnd(text, digitsStart);
    if (at === digitsStart) return -1;
  }
  return at;
}

function digitsEnd(text: string, at: number): number {
  for (;;) {
    const code = text.charCodeAt(at);
    if (code < ZERO || code > NINE) return at;
    at++;
  }
}

function isHexDigit(code: number): boolean {
  return (code >= ZERO && code <= NINE) || (code >= 0x41 && code <= 0x46) || (code >= 0x61 && code <= 0x66);
}

/** `"`, `\`, `/`, b, f, n, r, t: the one-character escapes of RFC 8259. */
function isSimpleEscape(code: number): boolean {
  return code === QUOTE || code === BACKSLASH || code === 0x2f || code === 0x62 || code === 0x66 || code === 0x6e || code === 0x72 || code === 0x74;
}
