/**
 * "Release 2" of segflow's workflows for test/integration/upgrade.test.ts: the current workflows plus one change
 * that issues a new command. Every run of an import now re-checks its input before it goes on, the way a real
 * release might add a step. The change sits behind patched() (docs/upgrades.md), so a run that started on
 * release 1 replays unchanged and only runs started on release 2 (after a continue-as-new too) take the new step.
 */
import { patched, proxyActivities } from '@temporalio/workflow';
import type { ImportActivities, ImportJobInput } from '../../../src/contracts/import-job';
import { importJob as releaseOneImportJob } from '../../../src/workflows/import-workflow';

export { workspaceJob } from '../../../src/workflows/workspace-job';

const { inspectInput } = proxyActivities<ImportActivities>({ startToCloseTimeout: '1 minute' });

export async function importJob(input: ImportJobInput): ReturnType<typeof releaseOneImportJob> {
  if (patched('recheck-input-each-run')) {
    await inspectInput({ file: input.options.file, format: input.options.format, ignoreColumns: input.options.ignoreColumns });
  }
  return releaseOneImportJob(input);
}
