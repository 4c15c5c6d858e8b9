/**
 * Hashing of plans that a human approves.
 *
 * An approval names the hash of the plan it was given, and the workflow executes only a plan with that hash.
 * The hash must therefore depend on the plan's content only: canonical JSON (object keys sorted, no
 * whitespace) makes two structurally equal plans hash the same whatever order their fields were built in.
 *
 * Uses node:crypto, so workflow code must not import this module: the hash is computed in an activity and
 * handed to the workflow as a string.
 */
import { createHash } from 'node:crypto';

/**
 * JSON text with object keys in code-unit order at every depth. Follows JSON.stringify for what it keeps
 * (keys whose value is `undefined` are left out, `undefined` inside arrays becomes `null`) but refuses what
 * JSON.stringify would silently change: non-finite numbers, bigints, functions, symbols and class instances
 * other than arrays. A plan containing those is a bug, and hashing it lossily would hide it.
 */
export function canonicalJson(value: unknown): string {
  return serialize(value, '$');
}

function serialize(value: unknown, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number at ${path}`);
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new TypeError(`canonicalJson: cannot encode a ${typeof value} at ${path}`);
  }
  if (Array.isArray(value)) {
    const parts = value.map((item, index) => (item === undefined ? 'null' : serialize(item, `${path}[${index}]`)));
    return `[${parts.join(',')}]`;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    throw new TypeError(`canonicalJson: only plain objects and arrays can be encoded (at ${path})`);
  }
  const record = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const item = record[key];
    if (item === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${serialize(item, `${path}.${key}`)}`);
  }
  return `{${parts.join(',')}}`;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256 of the canonical JSON of `value`: the identity of a plan. */
export function contentHash(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
