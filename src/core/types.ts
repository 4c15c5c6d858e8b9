/**
 * Types shared by the pure core, the activities, the workflows and the CLI.
 * This file must stay free of Node imports: workflow code imports it.
 */

export const CALL_TYPES = ['identify', 'track', 'page', 'screen', 'group', 'alias'] as const;
export type CallType = (typeof CALL_TYPES)[number];

// The import job's contract names the formats (src/contracts/import-job.ts).
export type { InputFormat } from '../contracts/import-job';

/**
 * Fields Segment (or the library that sent the event) set beside the message, found in every kind of Segment
 * export; the importer drops them (message-schema.ts). `context.library` sits inside `context`.
 */
export const SERVER_SET_FIELDS = [
  'receivedAt', 'sentAt', 'originalTimestamp', 'version', 'channel', 'projectId', 'writeKey', '_metadata',
] as const;
export const SERVER_SET_CONTEXT_FIELD = 'context.library';

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

/** Why a row was not sent. `line` is the 1-based physical line of the file where the row starts. */
export interface RejectedRow {
  /** For many-file jobs: the file (relative to the directory, glob base or manifest, or a URL without query). */
  file?: string;
  line: number;
  field: string;
  reason: string;
  raw: string;
}
