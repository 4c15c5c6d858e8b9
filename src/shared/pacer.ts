/**
 * A token bucket that says how long to wait before spending `cost` tokens. Pure (time is passed in) so it can
 * be tested without clocks.
 *
 * The rate is a chunk's *share* of the job's cap, and it changes while the chunk runs: the import workflow
 * divides the cap by the chunks actually in flight (src/workflows/import-workflow.ts, query `rateShare`), so a
 * chunk running alone gets the whole cap and the tail of an import does not crawl. `setRate` applies a new share
 * from now on; a debt already reserved is then repaid at the new rate.
 */
export class Pacer {
  private tokens: number;
  private lastMs: number | undefined;
  private perSecond: number;

  /**
   * The bucket starts empty: every chunk activity makes a new Pacer, and a full bucket per chunk would let
   * each chunk's first second through unpaced, breaking the job's cap at every chunk boundary.
   */
  constructor(perSecond: number) {
    assertRate(perSecond);
    this.perSecond = perSecond;
    this.tokens = 0;
  }

  get rate(): number {
    return this.perSecond;
  }

  /** Milliseconds to wait before `cost` tokens are available; the tokens are taken now (callers then wait). */
  reserve(cost: number, nowMs: number): number {
    this.accrue(nowMs);
    this.tokens -= cost;
    return this.waitMs(nowMs);
  }

  /** Milliseconds until what was reserved is paid for, at the current rate (0 when nothing is owed). */
  waitMs(nowMs: number): number {
    this.accrue(nowMs);
    if (this.tokens >= 0) return 0;
    return Math.ceil((-this.tokens / this.perSecond) * 1000);
  }

  /** Switches to a new rate from `nowMs` on; time before it was earned at the old rate. */
  setRate(perSecond: number, nowMs: number): void {
    assertRate(perSecond);
    this.accrue(nowMs);
    this.perSecond = perSecond;
    // At most one second of burst at the *new* rate: a lowered share must not keep the old share's savings.
    this.tokens = Math.min(this.tokens, perSecond);
  }

  private accrue(nowMs: number): void {
    if (this.lastMs !== undefined && nowMs > this.lastMs) {
      // Up to one second of burst: an idle chunk may not save up more than that.
      this.tokens = Math.min(this.perSecond, this.tokens + ((nowMs - this.lastMs) / 1000) * this.perSecond);
    }
    if (this.lastMs === undefined || nowMs > this.lastMs) this.lastMs = nowMs;
  }
}

/** The one rule for a rate, a job's `--rate` cap or a chunk's share of it: a positive, finite number per second. */
export function isValidRate(perSecond: number): boolean {
  return perSecond > 0 && Number.isFinite(perSecond);
}

function assertRate(perSecond: number): void {
  if (!isValidRate(perSecond)) throw new RangeError(`rate must be > 0, got ${perSecond}`);
}

/**
 * A chunk's share of the job's cap when `inFlight` chunks send at once. Shared by the workflow (which answers the
 * `rateShare` query) and the tests, so both divide the same way.
 */
export function rateShare(jobRate: number, inFlight: number): number {
  return jobRate / Math.max(1, inFlight);
}

/**
 * Events per request when a job is rate-capped: about `seconds` of the chunk's share, so one request never owes more
 * than a few seconds of pacing and the events reach Segment as a steady stream rather than in rare large bursts.
 */
export function pacedBatchEvents(maxEventsPerBatch: number, sharePerSecond: number, seconds = 2): number {
  return Math.max(1, Math.min(maxEventsPerBatch, Math.floor(sharePerSecond * seconds)));
}
