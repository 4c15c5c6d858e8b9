/** Failure types are public names (src/contracts/failures.ts): the throwers, retry options and tests share them. */
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { createActivities } from '../../src/worker';
import { causeChain, FailureType, IMPORT_NON_RETRYABLE, rootCause, WORKSPACE_NON_RETRYABLE } from '../../src/contracts/failures';

describe('failure types', () => {
  it('keep their released names (recorded histories and users match on them)', () => {
    // Literal on purpose: renaming a constant's value must fail here.
    expect(Object.values(FailureType).sort()).toEqual(
      [
        'ApprovalRefused',
        'ApprovalRequired',
        'ApproversConfigError',
        'BatchLimits',
        'ChunkSuperseded',
        'GuardRailRefused',
        'ImportFailed',
        'InputChanged',
        'InputInvalid',
        'InputNotAllowed',
        'InputUnreadable',
        'InvalidConfig',
        'InvalidCsvHeader',
        'InvalidJobId',
        'InvalidJobInput',
        'InvalidJobSpec',
        'InvalidReportDir',
        'MissingSecret',
        'PlanDrift',
        'PublicApiAuthError',
        'PublicApiError',
        'PublicApiNetworkError',
        'PublicApiNotFoundError',
        'PublicApiRateLimitError',
        'PublicApiRequestError',
        'PublicApiServerError',
        'PublicApiValidationError',
        'SegmentFatal',
        'SegmentRetryable',
        'StagingDiskFull',
        'TooManyRejects',
        'TrackingRequestFailed',
        'WorkspaceJobFailed',
        'WriteKeyNotConfirmed',
      ].sort(),
    );
    for (const [key, value] of Object.entries(FailureType)) expect(value).toBe(key);
  });

  it('retry options list the same type a missing secret raises, for both job kinds', () => {
    expect(IMPORT_NON_RETRYABLE).toContain(FailureType.MissingSecret);
    expect(WORKSPACE_NON_RETRYABLE).toContain(FailureType.MissingSecret);
  });

  it('a missing write key fails an import as MissingSecret, as a missing API token fails a workspace job', async () => {
    const activities = createActivities({});
    const importError = await activities.confirmWriteKey({ source: 'web' }).catch((error: unknown) => error);
    expect(importError).toBeInstanceOf(ApplicationFailure);
    expect((importError as ApplicationFailure).type).toBe(FailureType.MissingSecret);
    expect((importError as ApplicationFailure).nonRetryable).toBe(true);

    const spec = { name: 'j', steps: [{ name: 's', op: 'list-sources' }] };
    const workspaceError = await activities.workspacePreview({ jobId: 'j', runId: 'r', spec: spec as never }).catch((error: unknown) => error);
    expect((workspaceError as ApplicationFailure).type).toBe(FailureType.MissingSecret);
  });
});

describe('rootCause', () => {
  const root = ApplicationFailure.nonRetryable('the header has no type column', FailureType.InvalidCsvHeader);
  const activity = new ActivityFailure('activity failed', 'inspectInput', '1', RetryState.NON_RETRYABLE_FAILURE, 'worker', root);
  const workflow = ApplicationFailure.create({ message: 'import failed', type: FailureType.ImportFailed, cause: activity });

  it('walks .cause to the failure that says what happened', () => {
    expect(rootCause(workflow)).toBe(root);
    expect(causeChain(workflow)).toEqual([workflow, activity, root]);
  });

  it('returns a failure without a cause, and anything that is not an object, as it is', () => {
    expect(rootCause(root)).toBe(root);
    expect(rootCause('text')).toBe('text');
    expect(rootCause(undefined)).toBeUndefined();
    expect(causeChain(null)).toEqual([]);
  });

  it('stops on a cycle', () => {
    const a: { cause?: unknown } = {};
    const b = { cause: a };
    a.cause = b;
    expect(causeChain(a).length).toBe(64);
  });
});
