/**
 * Deterministic messageIds (RFC 4122 UUID version 5, SHA-1 based).
 *
 * Why deterministic: Segment deduplicates on messageId alone for at least 24 h (docs/segment-tracking-api.md,
 * "Deduplication"), so a retried or resumed import that re-sends a row with the *same* id is dropped by Segment
 * instead of being counted twice. An id Segment assigns itself would differ on every attempt.
 *
 * Why a namespace per source: dedupe is global across all Segment customers. Ids are derived under a
 * namespace built from segflow's own root UUID and the caller's source key, so two imports (or two
 * companies running segflow) cannot produce the same id for different rows.
 *
 * Why a UUID: Segment maps messageId to Mixpanel's `$insert_id`, which should be at most 36 characters
 * of letters, digits and `-`; a UUID is exactly that (and far below Segment's 100-character limit).
 *
 * Uses node:crypto, so this module must not be imported from workflow code (activities only).
 */
import { hash } from 'node:crypto';

/** segflow's root namespace, generated once with crypto.randomUUID() and fixed forever: changing it changes every id. */
export const SEGFLOW_ROOT_NAMESPACE = '0612ff93-e977-47fe-ad0e-0b3feba0106c';

/** RFC 4122 Appendix C namespace for DNS names; exported for the standard test vector. */
export const DNS_NAMESPACE = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

let cachedNamespace = '';
let cachedNamespaceBytes: Buffer = Buffer.alloc(16);

function namespaceBytes(namespace: string): Buffer {
  if (namespace !== cachedNamespace) {
    if (!UUID_PATTERN.test(namespace)) throw new TypeError(`namespace is not a UUID: ${namespace}`);
    cachedNamespaceBytes = Buffer.from(namespace.replace(/-/g, ''), 'hex');
    cachedNamespace = namespace;
  }
  return cachedNamespaceBytes;
}

/**
 * The SHA-1 input (namespace bytes, then the name's UTF-8) is written into one reused buffer and hashed in one call:
 * a Hash object per id (createHash, two update() calls) cost more than the hashing itself for rows of a few hundred
 * bytes. Grown when a name does not fit; names are at most a record's length. The digest comes back as hex text:
 * on Node 20 hash(..., 'buffer') costs more per call than hex encoding, and the UUID text is cut from it.
 */
let scratch = Buffer.allocUnsafe(4096);
/**
 * Views of `scratch` by length, for inputs of up to 4 KiB: a new Buffer view per id cost about a quarter of what
 * hashing a bench row costs (docs/footprint.md, "CPU"). Longer inputs take a view each; a grown `scratch` drops them.
 */
const CACHED_VIEW_LENGTHS = 4096;
let scratchViews: Buffer[] = [];

/** A row's line number as the `<line>\n` name prefix takes at most this many bytes (a safe integer has 16 digits). */
const MOST_LINE_PREFIX_BYTES = 17;

function sha1Hex(namespace: Buffer, line: number | undefined, name: string): string {
  // UTF-8 needs at most 3 bytes per UTF-16 code unit.
  const most = 16 + MOST_LINE_PREFIX_BYTES + name.length * 3;
  if (most > scratch.length) {
    scratch = Buffer.allocUnsafe(Math.max(most, scratch.length * 2));
    scratchViews = [];
  }
  namespace.copy(scratch, 0, 0, 16);
  let length = line === undefined ? 16 : writeLinePrefix(scratch, 16, line);
  length += scratch.write(name, length, 'utf8');
  const input = length < CACHED_VIEW_LENGTHS ? (scratchViews[length] ??= scratch.subarray(0, length)) : scratch.subarray(0, length);
  return hash('sha1', input, 'hex');
}

/** Writes `${line}\n` (a safe non-negative integer) at `offset` without building that string; returns the offset after it. */
function writeLinePrefix(buffer: Buffer, offset: number, line: number): number {
  let digits = 1;
  for (let bound = 10; line >= bound; bound *= 10) digits += 1;
  let position = offset + digits;
  buffer[position] = 0x0a; // \n
  for (let rest = line; position > offset;) {
    const digit = rest % 10;
    buffer[--position] = 0x30 + digit;
    rest = (rest - digit) / 10;
  }
  return offset + digits + 1;
}

/** By the char code of a digest's hex digit 16: that digit with its top two bits set to the RFC 4122 variant 10. */
const VARIANT_DIGIT_BY_CODE: readonly string[] = (() => {
  const digits = '0123456789abcdef';
  const table: string[] = [];
  for (let value = 0; value < 16; value++) table[digits.charCodeAt(value)] = digits[(value & 0x3) | 0x8]!;
  return table;
})();

/** The canonical UUIDv5 text of a SHA-1 digest (hex): version nibble (hex digit 12) 5, variant bits 10. */
function uuidFromSha1Hex(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${VARIANT_DIGIT_BY_CODE[hex.charCodeAt(16)]}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** UUIDv5 of `name` (UTF-8) in `namespace`, lower-case canonical text. */
export function uuidV5(name: string, namespace: string): string {
  return uuidFromSha1Hex(sha1Hex(namespaceBytes(namespace), undefined, name));
}

/**
 * The namespace for one import source. `sourceKey` must identify the data source stably across runs
 * (e.g. a configured source name or the file's identity), since it is what makes re-runs dedupe.
 */
export function messageIdNamespace(sourceKey: string): string {
  return uuidV5(`segflow:${sourceKey}`, SEGFLOW_ROOT_NAMESPACE);
}

/**
 * Whether `id` could be one deriveMessageId made: canonical UUID text of version 5. A chunk compares ids it derives
 * with the ids rows brought only when some brought id has this shape (src/activities/chunk-sender.ts).
 */
export function mayBeDerivedMessageId(id: string): boolean {
  return id.length === 36 && id.charCodeAt(14) === 0x35 /* 5 */ && id.charCodeAt(8) === 0x2d; /* - */
}

/**
 * The messageId of one row: depends on its line number and its exact raw text, so the same row gets
 * the same id on every attempt, and identical rows on different lines (real repeated events) do not
 * collapse into one.
 */
export function deriveMessageId(namespace: string, line: number, raw: string): string {
  // Line numbers are 1-based integers; anything else takes the definition as it is written.
  if (!Number.isSafeInteger(line) || line < 0) return uuidV5(`${line}\n${raw}`, namespace);
  // uuidV5(`${line}\n${raw}`, namespace), without building that string.
  return uuidFromSha1Hex(sha1Hex(namespaceBytes(namespace), line, raw));
}
