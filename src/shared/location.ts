/**
 * Input locations and URLs as segflow tells them apart and shows them. A URL's query string and user info are
 * credentials (a presigned signature, basic auth), so every place that shows a URL (status, UI summaries, failures,
 * logs) goes through this file. Pure string work: the workflow sandbox uses it too.
 */

/** Scheme, then user info (dropped), then the rest up to a query or fragment (dropped). Bounded: linear time. */
const URL_PARTS = /^([a-z][a-z0-9+.-]{0,20}:\/\/)(?:[^@/?#]*@)?([^?#]*)/i;
// `scheme://user:password@` anywhere in a text: bounded, linear pieces (no nested quantifiers).
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]{0,30}:\/\/)[^\s/@:]{0,256}(:[^\s/@]{0,256})?@/gi;

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
 * A URL without what can carry a credential: user info, query and fragment dropped, the scheme lower-cased. A
 * reference without a scheme (a redirect's `/path?query`) loses its query and fragment.
 */
export function redactUrl(url: string): string {
  const match = URL_PARTS.exec(url);
  if (match) return `${match[1]!.toLowerCase()}${match[2]}`;
  const cut = url.search(/[?#]/);
  return cut < 0 ? url : url.slice(0, cut);
}

/**
 * How an input location is shown to people: a URL of any scheme redacted (an unsupported s3://key:secret@... is
 * shown in the error that refuses it), a plain path as is (`?` and `#` are legal in file names), at most 500
 * characters.
 */
export function displayLocation(location: string): string {
  const shown = URL_PARTS.test(location) ? redactUrl(location) : location;
  return shown.length > 500 ? `${shown.slice(0, 497)}...` : shown;
}

/** Free text (a log line, an error message) with the user info of every URL in it replaced by `***`. */
export function scrubUrlCredentials(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1***@');
}
