/**
 * In-process test double for the subset of Segment's Public API (management API) that segflow uses
 * (docs/segment-public-api.md, whose catalogue numbers the routes). This file is its face: tests import
 * `test/support/public-api-double`, and each concern lives in a file of its own beside it (double.ts the server and
 * test hooks, routes.ts the catalogue, versions.ts, pagination.ts, rate-window.ts, faults.ts, validation.ts,
 * state.ts, types.ts).
 *
 * What it emulates:
 * - Real paths from the catalogue: #1-#15 incl. 5b, 6b, 7b, 13b, 14b, plus `GET /` (workspace).
 * - Envelopes: `{data: ...}` on success, `{errors: [{type, message, field?, data?, status}]}` on failure.
 * - Auth: `Authorization: Bearer <token>`; anything else is 401 (the docs fold permission problems into 401).
 * - Pagination on list endpoints: both query styles, `pagination.count` / `pagination.cursor` (docs) and
 *   `pagination[count]` / `pagination[cursor]` (SDKs); default count 200, allowed 1..1000 (422 otherwise);
 *   opaque cursors that are base64 of the offset, like the docs' examples (`MA==`); `next`/`previous` are null
 *   at the ends; `totalEntries` is set.
 * - Rate limits: every answer carries X-RateLimit-Consumed / -Remaining / -Reset (an RFC 5322 date). When the
 *   window's points run out, or when a `rate-limit` fault is injected, the answer is 429 with the documented body
 *   `{errors:[{type:'RequestError', message:'Too many requests', data:{remainingPoints, msBeforeNext, consumedPoints}}]}`.
 * - 404 for unknown ids and unknown routes; 422 for validation (missing delivery-metrics `sourceId`, a usage
 *   `period` that is not the first day of a month, bad pagination, bad bodies, labels unknown to the workspace);
 *   409 when creating a label that exists.
 *
 * Versioning — decisions:
 * - Accept `application/vnd.segment.{v1alpha|alpha|v1beta|beta|v1|stable}+json`; anything else (`application/json`,
 *   `*\/*`, no header) asks for no version, and the request goes to the most stable version the route has
 *   (stable -> beta -> alpha). So an alpha-only route (the write-key endpoints) answers a versionless request.
 * - Versions nest: a stable route is served for every requested version, a beta route for beta and alpha, an
 *   alpha route only for alpha. A route asked for a version it does not offer answers **404 like a missing
 *   route** (type `not-found`): the real API publishes a separate route table per version.
 *
 * Other behaviour the docs leave open, decided here:
 * - PATCH /sources/{id} replaces `settings` as a whole (the stricter reading: a client that sends the merged
 *   object works whatever Segment does). Unknown body fields are 422, so client typos show up in tests.
 * - DELETE /sources/{id} also removes the destinations connected to it and its warehouse connections.
 * - Delivery metrics: the DAY granularity defaults to 30 days back as the spec says, which its own 14-day limit
 *   refuses: clients must send a start (the SDK's destinationsApi.ts documents both).
 *
 * Test hooks: `injectFaults(...)` (429 / 5xx / hang / apply-then-hang / apply-then-fail, matched by method and
 * path), `auditLog()` (every write that was applied, in order), `requestLog()` (every request), `state` (live
 * state for assertions and direct edits).
 */
export { PublicApiDouble } from './double';
export { DEFAULT_PAGE_COUNT, encodeCursor } from './pagination';
export { requestedApiVersion } from './versions';
export type {
  AuditEntry,
  DeliveryMetricsRecord,
  DestinationRecord,
  DestinationSeed,
  FaultMatch,
  LabelRecord,
  PublicApiDoubleOptions,
  PublicApiDoubleState,
  PublicApiFault,
  PublicApiRequestLogEntry,
  SourceRecord,
  SourceSeed,
  UsageRecord,
  WarehouseRecord,
  WarehouseSeed,
} from './types';
