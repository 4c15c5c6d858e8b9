/**
 * A message as segflow sends it to Segment's Tracking API (docs/segment-tracking-api.md): the records pipeline
 * builds it (src/core/row-to-message.ts), a workspace job's `send` item carries it through the workflow
 * (workspace-job.ts), the sender posts it (src/segment/tracking-client.ts).
 */

export const CALL_TYPES = ['identify', 'track', 'page', 'screen', 'group', 'alias'] as const;
export type CallType = (typeof CALL_TYPES)[number];

/** A Segment message ready to be serialized into a /v1/batch request (always has type, messageId, timestamp?). */
export interface SegmentMessage {
  type: CallType;
  messageId: string;
  userId?: string;
  anonymousId?: string;
  event?: string;
  name?: string;
  category?: string;
  groupId?: string;
  previousId?: string;
  timestamp?: string;
  properties?: Record<string, unknown>;
  traits?: Record<string, unknown>;
  context?: Record<string, unknown>;
  integrations?: Record<string, unknown>;
}
