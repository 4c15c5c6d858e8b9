/**
 * How a chunk activity keeps Temporal informed while it waits (heartbeat slices) and how it paces itself under the
 * job's rate cap, asking the workflow for its share as the chunks in flight come and go.
 */
import { activityInfo, Context } from '@temporalio/activity';
import { Pacer } from '../shared/pacer';
import { rateShareQuery, type ProcessChunkInput, type RateShare } from '../contracts/import-job';

/**
 * How often a chunk heartbeats while it waits (pacing, a slow request): a third of its heartbeat timeout, at most a
 * second, so a rate wait of any length never looks like a dead worker, and a cancellation is noticed within about a
 * second of reaching the worker.
 */
export function heartbeatSliceMs(info: { heartbeatTimeoutMs?: number }): number {
  const timeout = info.heartbeatTimeoutMs ?? 30_000;
  return Math.max(100, Math.min(1000, Math.floor(timeout / 3)));
}

/** How long a chunk waits for the workflow's answer about its share before using the always-safe share. */
const RATE_SHARE_QUERY_WAIT_MS = 2000;

/** How often a rate-capped chunk asks the workflow for its current share of the cap. */
export const RATE_SHARE_REFRESH_MS = 1000;

/**
 * A chunk's pacing under the job's rate cap. Temporal is the coordinator: the workflow knows which chunks are in
 * flight and answers the `rateShare` query with this chunk's share (cap ÷ chunks sending); the chunk asks again every
 * RATE_SHARE_REFRESH_MS. A share only drops when a sibling starts, and a starting chunk waits until every sibling has
 * had time to ask (`start`), so the shares in use never add up to more than the cap.
 */
export class ChunkPacing {
  private readonly pacer: Pacer;
  private lastAskedMs = 0;
  private readonly slice: number;

  constructor(
    private readonly input: ProcessChunkInput,
    private readonly info: ReturnType<typeof activityInfo>,
    private readonly ctx: Context,
  ) {
    this.pacer = new Pacer(input.rateLimit!.perSecond);
    this.slice = heartbeatSliceMs(info);
    this.lastAskedMs = Date.now();
  }

  /** Before the first request: learn the current share and, when siblings are sending, let them see this chunk. */
  async start(keepAlive: () => void): Promise<void> {
    const share = await this.ask();
    const siblings = share ? share.inFlight - 1 : (this.input.jobRate?.concurrency ?? 1) - 1;
    if (siblings > 0) await this.sleepSliced(RATE_SHARE_REFRESH_MS + 500, keepAlive);
  }

  /** Waits until `cost` tokens are paid for, heartbeating every slice and following the share as it changes. */
  async pay(cost: number, keepAlive: () => void): Promise<void> {
    this.pacer.reserve(cost, Date.now());
    for (;;) {
      if (Date.now() - this.lastAskedMs >= RATE_SHARE_REFRESH_MS) await this.ask();
      const waitMs = this.pacer.waitMs(Date.now());
      if (waitMs <= 0) return;
      await this.sleepSliced(Math.min(waitMs, RATE_SHARE_REFRESH_MS), keepAlive);
    }
  }

  private async sleepSliced(ms: number, keepAlive: () => void): Promise<void> {
    const until = Date.now() + ms;
    for (;;) {
      keepAlive();
      const left = until - Date.now();
      if (left <= 0) return;
      try {
        await this.ctx.sleep(Math.min(left, this.slice));
      } catch (error) {
        // A cancellation wakes the sleep early; keepAlive turns it into this chunk's partial result.
        if (this.ctx.cancellationSignal.aborted) keepAlive();
        throw error;
      }
    }
  }

  private async ask(): Promise<RateShare | undefined> {
    this.lastAskedMs = Date.now();
    const job = this.input.jobRate;
    let share: RateShare | undefined;
    try {
      const execution = this.info.workflowExecution;
      if (execution) {
        // Bounded: after a worker crash the query first goes to the dead worker's sticky queue and can hang for
        // longer than the heartbeat timeout, which timed out the resuming attempt (test/integration/worker-crash.test.ts).
        const query = this.ctx.client.workflow.getHandle(execution.workflowId, execution.runId).query(rateShareQuery);
        query.catch(() => undefined);
        let timer: NodeJS.Timeout | undefined;
        share = await Promise.race([query, new Promise<undefined>((done) => (timer = setTimeout(() => done(undefined), RATE_SHARE_QUERY_WAIT_MS)))]);
        clearTimeout(timer);
      }
    } catch {
      share = undefined; // the workflow's worker is busy or gone: fall back to a share that is always safe
    }
    const perSecond = share?.perSecond ?? (job ? job.perSecond / job.concurrency : this.pacer.rate);
    const capped = job ? Math.min(perSecond, job.perSecond) : perSecond;
    if (capped > 0 && capped !== this.pacer.rate) this.pacer.setRate(capped, Date.now());
    return share;
  }
}
