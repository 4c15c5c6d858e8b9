/**
 * `segflow send`'s messages, before anything is sent: built from flags or read from a file, then checked by the
 * importer's own rules and Segment's size limits, each with a deterministic messageId.
 */
import { UsageError } from '../../client';
import { SEGMENT_LIMITS } from '../../shared/limits';
import { messageIdNamespace, uuidV5 } from '../../core/message-id';
import { validateMessage } from '../../core/message-schema';
import { canonicalJson } from '../../core/plan-hash';
import type { SegmentMessage } from '../../core/types';

export interface CallFlags {
  userId?: string;
  anonymousId?: string;
  event?: string;
  name?: string;
  category?: string;
  groupId?: string;
  previousId?: string;
  properties?: string;
  traits?: string;
  context?: string;
  integrations?: string;
  timestamp?: string;
  messageId?: string;
  data?: string;
}

function parseJsonFlag(flag: string, text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(`${flag} must be a JSON object, e.g. '{"plan":"pro"}'.`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`${flag} must be a JSON object.`);
  return value as Record<string, unknown>;
}

/** A single tracking call from flags (and `--data` JSON underneath them), before validation. */
export function buildCallFromFlags(type: string, flags: CallFlags): Record<string, unknown> {
  const message: Record<string, unknown> = { ...parseJsonFlag('--data', flags.data), type };
  const plain: Array<[keyof CallFlags, string]> = [
    ['userId', 'userId'],
    ['anonymousId', 'anonymousId'],
    ['event', 'event'],
    ['name', 'name'],
    ['category', 'category'],
    ['groupId', 'groupId'],
    ['previousId', 'previousId'],
    ['timestamp', 'timestamp'],
    ['messageId', 'messageId'],
  ];
  for (const [flag, field] of plain) if (flags[flag] !== undefined) message[field] = flags[flag];
  for (const field of ['properties', 'traits', 'context', 'integrations'] as const) {
    const value = parseJsonFlag(`--${field}`, flags[field]);
    if (value !== undefined) message[field] = value;
  }
  return message;
}

/**
 * Validates with the importer's rules and Segment's per-event size limit, and assigns a deterministic messageId
 * (UUIDv5 of the source name, the position and the message's canonical JSON); throws UsageError naming the
 * message and field.
 */
export function prepareMessages(raw: unknown[], now = new Date(), sourceName = 'default'): SegmentMessage[] {
  if (raw.length === 0) throw new UsageError('Nothing to send.');
  if (raw.length > SEGMENT_LIMITS.maxEventsPerBatch) {
    throw new UsageError(`${raw.length} messages is more than one request may carry (${SEGMENT_LIMITS.maxEventsPerBatch}); use \`segflow import\`.`);
  }
  const messages = raw.map((item, index) => {
    const result = validateMessage(item, { allowMissingTimestamp: true, now });
    const where = raw.length > 1 ? `message ${index + 1}: ` : '';
    if (!result.ok) throw new UsageError(`${where}${result.field}: ${result.reason}`);
    const messageId =
      result.message.messageId ?? uuidV5(`${sourceName}\n${index}\n${canonicalJson(result.message)}`, messageIdNamespace('segflow-send'));
    const message = { ...result.message, messageId } as SegmentMessage;
    const eventBytes = Buffer.byteLength(JSON.stringify(message));
    if (eventBytes > SEGMENT_LIMITS.maxEventBytes) {
      throw new UsageError(`${where}the message is ${eventBytes} bytes; Segment refuses events over ${SEGMENT_LIMITS.maxEventBytes} bytes (32 KB).`);
    }
    return message;
  });
  const bytes = Buffer.byteLength(JSON.stringify(messages));
  if (bytes > SEGMENT_LIMITS.maxBatchBytes) throw new UsageError(`${bytes} bytes is more than one request may carry; use \`segflow import\`.`);
  return messages;
}

/** JSON array, a single JSON object, or NDJSON. */
export function parseMessagesFile(text: string): unknown[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    const value = JSON.parse(trimmed) as unknown;
    if (!Array.isArray(value)) throw new UsageError('Expected a JSON array of messages.');
    return value;
  }
  const lines = trimmed.split(/\r?\n/).filter((line) => line.trim() !== '');
  return lines.map((line, index) => {
    try {
      return JSON.parse(line) as unknown;
    } catch {
      throw new UsageError(`line ${index + 1} is not JSON.`);
    }
  });
}
