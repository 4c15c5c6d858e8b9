/**
 * A command following a job until it ends (`import --wait`, `watch`, `job run --wait`, `approve --wait`): the
 * polling is client.ts's followJob; here, what is shown while it runs, the final status (JSON, or the command's
 * text), and the exit code the final state maps to (README "Exit codes").
 */
import { followJob, type JobStatus, type SegflowClient } from '../client';
import { terminalText } from '../shared/safe-text';
import { exitCodeForState, printJson } from './common';

export interface FollowView {
  /** Each status while the job runs. */
  update?(status: JobStatus): void;
  /** Once the job ended, before the final status is printed (e.g. to end a repainted line). */
  done?(): void;
  /** The final status, for people. */
  text(final: JobStatus): string;
  /** With --json, print the final status as one document (default); false when the updates were the JSON. */
  finalJson?: boolean;
}

export async function followToEnd(sc: SegflowClient, jobId: string, json: boolean, view: FollowView): Promise<number> {
  const final = await followJob(sc, jobId, (status) => view.update?.(status));
  view.done?.();
  if (!json) process.stdout.write(terminalText(view.text(final)));
  else if (view.finalJson ?? true) printJson(final);
  return exitCodeForState(String(final.state));
}
