/**
 * API versions as the double serves them (docs/segment-public-api.md, "Versions"): the version an `Accept` header
 * asks for, and which requested versions a route answers. Decisions are in index.ts's header.
 */

export type ApiVersion = 'stable' | 'beta' | 'alpha';

/** Which requested versions a route answers, by the most stable version it exists in (see header). */
export const SERVED_FOR: Record<ApiVersion, ReadonlySet<ApiVersion>> = {
  stable: new Set(['stable', 'beta', 'alpha']),
  beta: new Set(['beta', 'alpha']),
  alpha: new Set(['alpha']),
};

const VERSION_MEDIA_TYPE = /^application\/vnd\.segment\.(v1alpha|alpha|v1beta|beta|v1|stable)\+json$/;

/** The API version an Accept header asks for, or undefined when it asks for none. */
export function requestedApiVersion(accept: string | undefined): ApiVersion | undefined {
  if (!accept) return undefined;
  for (const part of accept.split(',')) {
    const mediaType = part.split(';')[0]?.trim().toLowerCase() ?? '';
    const match = VERSION_MEDIA_TYPE.exec(mediaType);
    if (!match) continue;
    const tag = match[1];
    if (tag === 'v1alpha' || tag === 'alpha') return 'alpha';
    if (tag === 'v1beta' || tag === 'beta') return 'beta';
    return 'stable';
  }
  return undefined;
}
