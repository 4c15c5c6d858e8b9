/**
 * Public API calls segflow itself never makes, for tests of the double: replace a source's labels (#5b), delete a
 * label (#13b), create a source (#15) and the `GET /` sanity call (docs/segment-public-api.md numbers them). They
 * send what PublicApiClient sends (a stable `Accept`, the bearer token, JSON) and fail with the same typed errors.
 */
import type { LabelV1, SourceV1 } from '../../src/segment/public-api-shapes';
import { classifyFailure } from '../../src/segment/public-api-errors';

export interface CreateSourceInput {
  slug: string;
  enabled: boolean;
  metadataId: string;
  settings?: Record<string, unknown>;
  disconnectAllWarehouses?: boolean;
}

const enc = encodeURIComponent;

export function publicApiTestCalls(baseUrl: string, token: string) {
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(baseUrl.replace(/\/+$/, '') + path, {
      method,
      headers: {
        accept: 'application/vnd.segment.v1+json',
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw classifyFailure(response.status, Object.fromEntries(response.headers), text, { method, path }, Date.now());
    return ((JSON.parse(text) as { data?: unknown }).data ?? {}) as T;
  };
  return {
    async replaceLabelsInSource(sourceId: string, labels: LabelV1[]): Promise<LabelV1[]> {
      return (await call<{ labels: LabelV1[] }>('PUT', `/sources/${enc(sourceId)}/labels`, { labels })).labels;
    },
    async deleteLabel(key: string, value: string): Promise<void> {
      await call('DELETE', `/labels/${enc(key)}/${enc(value)}`);
    },
    async createSource(input: CreateSourceInput): Promise<SourceV1> {
      return (await call<{ source: SourceV1 }>('POST', '/sources', input)).source;
    },
    async getWorkspace(): Promise<{ id: string; slug: string; name: string }> {
      return (await call<{ workspace: { id: string; slug: string; name: string } }>('GET', '/')).workspace;
    },
  };
}
