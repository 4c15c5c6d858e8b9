/** Which workflow code a worker runs (src/worker.ts, workflowCode); the built layout is covered by production-install. */
import { describe, expect, it } from 'vitest';
import { workflowCode, workflowsPath } from '../../src/worker';

describe('workflowCode', () => {
  it('runs the bundle SEGFLOW_WORKFLOW_BUNDLE names', () => {
    expect(workflowCode({ SEGFLOW_WORKFLOW_BUNDLE: '/opt/bundle.js' })).toEqual({ workflowBundle: { codePath: '/opt/bundle.js' } });
  });

  it('from sources, with no bundle built next to them, bundles the workflow sources at start', () => {
    expect(workflowCode({})).toEqual({ workflowsPath: workflowsPath() });
    expect(workflowsPath()).toMatch(/src[\\/]workflows[\\/]index\.ts$/);
  });
});
