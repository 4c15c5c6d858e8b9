/**
 * The same change as workflows-v2-patched.ts without patched(): a release that would wedge every running import.
 * test/integration/upgrade.test.ts proves the replay check catches it.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { ImportActivities, ImportJobInput } from '../../../src/contracts/import-job';
import { importJob as releaseOneImportJob } from '../../../src/workflows/import-workflow';

export { workspaceJob } from '../../../src/workflows/workspace-job';

const { inspectInput } = proxyActivities<ImportActivities>({ startToCloseTimeout: '1 minute' });

export async function importJob(input: ImportJobInput): ReturnType<typeof releaseOneImportJob> {
  await inspectInput({ file: input.options.file, format: input.options.format, ignoreColumns: input.options.ignoreColumns });
  return releaseOneImportJob(input);
}
