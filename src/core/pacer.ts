/**
 * A token bucket that says how long to wait before spending `cost` tokens. Pure (time is passed in) so it can
 * be tested without clocks. Each chunk activity paces itself at the job's rate divided by the job's concurrency,
 * which keeps the whole job under its cap however many workers share the chunks — no shared counter needed.
 */
export class Pacer {
  private tokens: number;
  private lastMs: number | undefined;

  /**
   * The bucket starts empty: every chunk activity makes a new Pacer, and a full bucket per chunk would let
   * each chunk's first second through unpaced, breaking the job's cap at every chunk boundary.
   */
  constructor(private readonly perSecond: number, private readonly burst = Math.max(1, perSecond)) {
    if (!(perSecond > 0)) throw new RangeError(`rate must be > 0, got ${perSecond}`);
    this.tokens = 0;
  }

  /** Milliseconds to wait before `cost` tokens are available; the tokens are taken now (callers then wait). */
  reserve(cost: number, nowMs: number): number {
    if (this.lastMs !== undefined) {
      this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.lastMs) / 1000) * this.perSecond);
    }
    this.lastMs = nowMs;
    this.tokens -= cost;
    if (this.tokens >= 0) return 0;
    return Math.ceil((-this.tokens / this.perSecond) * 1000);
  }
}
