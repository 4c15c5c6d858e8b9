/**
 * Pause, resume and cancel: signals and cancellation sent to a running job.
 */
import { pauseSignal, resumeSignal } from '../contracts/import-job';
import type { SegflowClient } from './connection';

export async function pauseJob(sc: SegflowClient, jobId: string, by?: string): Promise<void> {
  await sc.client.workflow.getHandle(jobId).signal(pauseSignal, { by });
}

export async function resumeJob(sc: SegflowClient, jobId: string, by?: string): Promise<void> {
  await sc.client.workflow.getHandle(jobId).signal(resumeSignal, { by });
}

export async function cancelJob(sc: SegflowClient, jobId: string): Promise<void> {
  await sc.client.workflow.getHandle(jobId).cancel();
}
