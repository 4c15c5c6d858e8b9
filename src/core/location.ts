/**
 * How an input location is shown to people (status, UI summaries, messages). A URL's query string and user
 * info are credentials (a presigned signature, basic auth), so they are dropped. Pure string work: the workflow
 * sandbox uses it too.
 */
export function displayLocation(location: string): string {
  // Any scheme (an unsupported s3://key:secret@... is shown in the error that refuses it); a plain path as is.
  const match = /^([a-z][a-z0-9+.-]{0,20}:\/\/)(?:[^@/?#]*@)?([^?#]*)/i.exec(location);
  const shown = match ? `${match[1]!.toLowerCase()}${match[2]}` : location;
  return shown.length > 500 ? `${shown.slice(0, 497)}...` : shown;
}
