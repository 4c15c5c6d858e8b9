/** Names clients and recorded histories rely on (src/contracts/job-status.ts, src/contracts/job-state.ts). */
import { describe, expect, it } from 'vitest';
import { kindOf } from '../../src/client/job-status';
import { importStatusQuery } from '../../src/contracts/import-job';
import { jobStatusQuery } from '../../src/contracts/job-status';
import { JOB_KINDS, JOB_STATES, TERMINAL_STATES } from '../../src/contracts/job-state';
import { workspaceJobStatusQuery } from '../../src/contracts/workspace-job';
import { importJob } from '../../src/workflows/import-workflow';
import { workspaceJob } from '../../src/workflows/workspace-job';

describe('job contracts', () => {
  it('both job kinds answer the one `status` query the client asks', () => {
    expect([jobStatusQuery.name, importStatusQuery.name, workspaceJobStatusQuery.name]).toEqual(['status', 'status', 'status']);
  });

  it('workflow types keep their released names, and the kind follows from them', () => {
    expect([importJob.name, workspaceJob.name]).toEqual(['importJob', 'workspaceJob']);
    expect(['importJob', 'workspaceJob', 'somethingElse'].map(kindOf)).toEqual(['import', 'workspace', 'somethingElse']);
    expect(JOB_KINDS).toEqual(['import', 'workspace']);
  });

  it('terminal states are job states', () => {
    for (const state of TERMINAL_STATES) expect(JOB_STATES).toContain(state);
    expect(TERMINAL_STATES.has('running')).toBe(false);
    expect(TERMINAL_STATES.has('awaiting_approval')).toBe(false);
  });
});
