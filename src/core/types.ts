/**
 * Types shared by the pure core, the activities, the workflows and the CLI.
 * This file must stay free of Node imports: workflow code imports it.
 */

// What a message sent to Segment looks like is part of the contracts (src/contracts/segment-message.ts).
export { CALL_TYPES, type CallType, type SegmentMessage } from '../contracts/segment-message';

// The import job's contract names the formats (src/contracts/import-job.ts).
export type { InputFormat } from '../contracts/import-job';

/**
 * Fields Segment (or the library that sent the event) set beside the message, found in every kind of Segment
 * export; the importer drops them (message-schema.ts). `context.library` sits inside `context`.
 */
export const SERVER_SET_FIELDS = ['receivedAt', 'sentAt', 'originalTimestamp', 'version', 'channel', 'projectId', 'writeKey', '_metadata'] as const;
export const SERVER_SET_CONTEXT_FIELD = 'context.library';

/** Why a row was not sent. `line` is the 1-based physical line of the file where the row starts. */
export interface RejectedRow {
  /** For many-file jobs: the file (relative to the directory, glob base or manifest, or a URL without query). */
  file?: string;
  line: number;
  field: string;
  reason: string;
  raw: string;
}
