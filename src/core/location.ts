/**
 * How an input location is shown to people (status, UI summaries, messages). A URL's query string and user
 * info are credentials (a presigned signature, basic auth), so they are dropped. Pure string work: the workflow
 * sandbox uses it too.
 */
export function displayLocation(location: string): string {
  const match = /^(https?:\/\/)(?:[^@/?#]*@)?([^?#]*)/i.exec(location);
  return match ? `${match[1]}${match[2]}` : location;
}
