/**
 * Reading the structure of JSON text that JSON.parse has already accepted, without parsing it again: what
 * src/core/row-to-message.ts needs to send a row as it was written.
 *
 * No Node imports: plain string work.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const CLOSE_OBJECT = 0x7d;
const CLOSE_ARRAY = 0x5d;

/**
 * How many members the outermost object of `text` has as written, repeated names counted each time: more than the
 * parsed object's keys means a name is repeated, which JSON leaves to each reader (JSON.parse keeps the last).
 *
 * `text` must be one JSON object that JSON.parse accepted (so brackets balance and every string is closed). Linear
 * in the text's length: strings are skipped with indexOf, and the backslashes before a quote are counted once, by
 * the quote they precede.
 */
export function topLevelMemberCount(text: string): number {
  let depth = 0;
  let commas = 0;
  let empty = true;
  const length = text.length;
  for (let at = 0; at < length; at++) {
    const code = text.charCodeAt(at);
    if (code === QUOTE) {
      // Any string, at whatever depth, is in (or is the name of) some member of the outermost object.
      empty = false;
      at = closingQuote(text, at);
    } else if (code === OPEN_OBJECT || code === OPEN_ARRAY) {
      depth += 1;
    } else if (code === CLOSE_OBJECT || code === CLOSE_ARRAY) {
      depth -= 1;
    } else if (code === COMMA && depth === 1) {
      commas += 1;
    }
  }
  return empty ? 0 : commas + 1;
}

/** The index of the quote that closes the string opening at `open`: the first one not escaped by an odd run of backslashes. */
function closingQuote(text: string, open: number): number {
  let quote = text.indexOf('"', open + 1);
  for (;;) {
    if (quote < 0) return text.length; // not JSON.parse's text after all: the count ends here, never loops
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes += 1;
    if (backslashes % 2 === 0) return quote;
    quote = text.indexOf('"', quote + 1);
  }
}
