/**
 * The double's rate limit: a fixed window of points, one per request, and the headers every answer carries
 * (`X-RateLimit-Reset` an RFC 5322 date, docs/segment-public-api.md "Rate limits").
 */
export class RateWindow {
  private windowStart = 0;
  private consumed = 0;

  constructor(
    private readonly points: number,
    private readonly windowMs: number,
  ) {}

  /** Returns the wait in ms when the window is exhausted, undefined when the request may proceed. */
  consume(now: number): number | undefined {
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now;
      this.consumed = 0;
    }
    if (this.consumed >= this.points) return this.windowStart + this.windowMs - now;
    this.consumed += 1;
    return undefined;
  }

  get consumedPoints(): number {
    return this.consumed;
  }

  headers(): Record<string, string> {
    return {
      'X-RateLimit-Consumed': String(this.consumed),
      'X-RateLimit-Remaining': String(Math.max(0, this.points - this.consumed)),
      'X-RateLimit-Reset': new Date(this.windowStart + this.windowMs).toUTCString(),
    };
  }
}
