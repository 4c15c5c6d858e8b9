/**
 * The one sanitiser for text that reaches a human: everything the CLI prints (status, progress, `import --wait`,
 * `watch`, `audit`, `approve`, errors; src/cli/terminal.ts and src/cli/common.ts route through here) and the
 * Temporal UI's markdown details.
 *
 * Everything rendered there may come from a hostile job author or workspace member: step names, source and
 * destination names, ids, label keys, refusal reasons. Without this, an ESC sequence or a `\r` rewrites the
 * approver's terminal (hiding an `enabled: true → false` row) and a newline or `|` injects fake table rows and
 * headings into the UI. Pure and dependency-free: it runs in the workflow sandbox too.
 */

/**
 * C0 controls (tab and newline included: a cell is one line), DEL, C1 controls (0x9B is a one-byte CSI), the
 * bidirectional overrides/isolates/marks (Trojan Source), zero-width characters, line/paragraph separators and
 * the byte-order mark. Lone surrogates are replaced too: they render as garbage or vanish.
 */
const UNSAFE =
  /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Characters that mean something inside one markdown line (GFM) or HTML: code spans, emphasis, links and images,
 * tags and entities (`&#124;` is a `|`), table cells. An `_` between two letters or digits cannot start emphasis and
 * stays bare, so ids like `src_1` read normally. Line-start syntax (`#`, `-`, `1.`) cannot occur: newlines are gone
 * and every rendered line starts with our own text.
 */
const MARKDOWN = /[\\`*~[\]<>&!|]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])/g;

/** Longest text one field may show; longer text is cut with an explicit marker (the CLI's full view shows all). */
export const MAX_FIELD_CHARS = 2000;

/**
 * Text safe for a terminal: every unsafe character becomes a visible escape (`\u001b`), so a hidden character is
 * seen, never obeyed. Non-strings are shown as JSON.
 */
export function plainText(value: unknown, max = MAX_FIELD_CHARS): string {
  const text = typeof value === 'string' ? value : value === undefined ? '' : (JSON.stringify(value) ?? String(value));
  const safe = text.replace(UNSAFE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return safe.length > max ? `${safe.slice(0, max)}…(+${safe.length - max} chars)` : safe;
}

/**
 * A whole multi-line text safe for a terminal: each line as `plainText` shows it (never cut), newlines kept. What
 * the CLI writes goes through this or `jsonText`; already-safe text comes out unchanged.
 */
export function terminalText(text: string): string {
  return text
    .split('\n')
    .map((line) => plainText(line, Infinity))
    .join('\n');
}

/**
 * JSON for a terminal or a pipe: JSON.stringify escapes C0 controls and lone surrogates but leaves DEL, C1 (0x9B is
 * a one-byte CSI), bidi and the other unsafe characters raw; they are written as `\u` escapes too, which is still
 * the same JSON (they can only occur inside strings).
 */
export function jsonText(value: unknown, indent?: number): string {
  // A raw newline here is the indentation's (inside strings JSON.stringify already wrote `\n`).
  return (JSON.stringify(value, null, indent) ?? 'null').replace(UNSAFE, (char) =>
    char === '\n' ? char : `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Text safe inside markdown (a table cell, a heading, a list item): `plainText`, then markdown escaped. */
export function markdownText(value: unknown, max = MAX_FIELD_CHARS): string {
  return plainText(value, max).replace(MARKDOWN, (char) => `\\${char}`);
}

/** True when `value` would be shown differently from what it is (hidden or control characters). */
export function hasUnsafeCharacters(value: string): boolean {
  UNSAFE.lastIndex = 0;
  const found = UNSAFE.test(value);
  UNSAFE.lastIndex = 0;
  return found;
}

/** `text` cut to at most `max` characters, ending in "..." when cut: rows and headers quoted in messages stay short. */
export function clipText(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
