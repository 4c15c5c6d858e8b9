// Every workflow the segflow worker runs. The worker bundles this file for the deterministic sandbox.
export { importJob } from './import-workflow';
export { workspaceJob } from './workspace-job';
