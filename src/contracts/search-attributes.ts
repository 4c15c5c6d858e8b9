/**
 * Search attributes that let the Temporal UI's list filter segflow jobs. Plain text in visibility (never
 * encoded by a codec), so they carry only kinds, states and source *names*.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SEGFLOW_KIND = defineSearchAttributeKey('SegflowKind', SearchAttributeType.KEYWORD);
export const SEGFLOW_STATE = defineSearchAttributeKey('SegflowState', SearchAttributeType.KEYWORD);
export const SEGFLOW_SOURCE = defineSearchAttributeKey('SegflowSource', SearchAttributeType.KEYWORD);

export const SEGFLOW_SEARCH_ATTRIBUTES = [SEGFLOW_KIND, SEGFLOW_STATE, SEGFLOW_SOURCE];

/** `--search-attribute` arguments for `temporal server start-dev` and `temporal operator search-attribute create`. */
export function searchAttributeCliArgs(): string[] {
  return SEGFLOW_SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]);
}
