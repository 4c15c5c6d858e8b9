/** The names and digests a plan carries: write-key fingerprints, the plan hash an approval names, job messageIds. */
import { messageIdNamespace, uuidV5 } from '../message-id';
import { canonicalJson, sha256Hex } from '../plan-hash';
import type { WorkspacePlan } from '../../contracts/workspace-job';

/** How write keys are shown everywhere: 12 hex characters of a sha256, enough to tell a source's keys apart. */
export function writeKeyFingerprint(writeKey: string): string {
  return sha256Hex(`segflow-write-key\0${writeKey}`).slice(0, 12);
}

export function planHash(plan: WorkspacePlan): string {
  return sha256Hex(canonicalJson(plan));
}

/**
 * Deterministic messageId of a job's message: a UUIDv5 under a namespace of its own, so an activity retried after a
 * crash re-sends the same ids and Segment drops the duplicates (dedupe window ≥ 24 h, docs/segment-tracking-api.md,
 * "Deduplication").
 */
export function jobMessageId(jobId: string, step: number, index: number): string {
  return uuidV5(`${jobId}\n${step}\n${index}`, messageIdNamespace('workspace-job'));
}
