/**
 * Defaults that the client, the CLI and the workflows must agree on, each stated once.
 */

/** How long a job waits for approve/reject before it expires (`--approval-timeout`, job files' approvalTimeout). */
export const DEFAULT_APPROVAL_TIMEOUT_MS = 24 * 60 * 60 * 1000;
