/**
 * Input locations and URLs as segflow tells them apart and shows them. A URL's query string and user info are
 * credentials (a presigned signature, basic auth), so every place that shows a URL (status, UI summaries, failures,
 * logs) goes through this file. Pure string work: the workflow sandbox uses it too.
 */

/** A location that names a scheme (`https://`, `s3://`, ...): shown only through the URL parser, never as typed. */
const URL_SCHEME = /^[a-z][a-z0-9+.-]{0,30}:\/\//i;
// `scheme://authority` anywhere in a text; the authority's user info ends at its last `@` (WHATWG URL does the same).
const URL_AUTHORITIES = /\b([a-z][a-z0-9+.-]{0,30}:\/\/)([^\s/?#]*)/gi;
/** What a URL the parser refuses is shown as: its text may hold a credential the parser could not locate. */
export const UNPARSABLE_URL = '(unparsable URL)';

/**
 * Whether a location is read over http(s). Schemes are case-insensitive (RFC 3986 §3.1): `HTTPS://host/x` is a
 * URL, not a relative path named `HTTPS:`.
 */
export function isHttpLocation(location: string): boolean {
  return /^https?:\/\//i.test(location);
}

/** The name part of an input location (for its file name and format): a URL's path, without its query. */
export function locationName(location: string): string {
  return isHttpLocation(location) ? new URL(location).pathname : location;
}

/**
 * A URL without what can carry a credential: user info, query and fragment dropped, through `new URL()` so `@` in a
 * password or a userinfo of any length is cut where the fetch would cut it. A URL the parser refuses is shown as
 * UNPARSABLE_URL. A reference without a scheme (a redirect's `/path?query`) loses its query and fragment.
 */
export function redactUrl(url: string): string {
  if (URL_SCHEME.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return UNPARSABLE_URL;
    }
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  }
  const cut = url.search(/[?#]/);
  return cut < 0 ? url : url.slice(0, cut);
}

/**
 * How an input location is shown to people: a URL of any scheme redacted (an unsupported s3://key:secret@... is
 * shown in the error that refuses it), a plain path as is (`?` and `#` are legal in file names), at most 500
 * characters.
 */
export function displayLocation(location: string): string {
  const shown = URL_SCHEME.test(location) ? redactUrl(location) : location;
  return shown.length > 500 ? `${shown.slice(0, 497)}...` : shown;
}

/** Free text (a log line, an error message) with the user info of every URL in it replaced by `***`. */
export function scrubUrlCredentials(text: string): string {
  return text.replace(URL_AUTHORITIES, (whole, scheme: string, authority: string) => {
    const at = authority.lastIndexOf('@');
    return at < 0 ? whole : `${scheme}***@${authority.slice(at + 1)}`;
  });
}
