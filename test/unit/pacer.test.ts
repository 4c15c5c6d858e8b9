import { describe, expect, it } from 'vitest';
import { Pacer, pacedBatchEvents, rateShare } from '../../src/shared/pacer';

describe('Pacer', () => {
  it('starts empty, so a fresh pacer (a new chunk) cannot burst past the rate', () => {
    const pacer = new Pacer(100);
    expect(pacer.reserve(50, 0)).toBe(500);
  });

  it('spends at the rate over time', () => {
    const pacer = new Pacer(100);
    let now = 0;
    let sent = 0;
    // Send 10 batches of 50 as fast as allowed: 500 events at 100/s take ~5 s.
    for (let i = 0; i < 10; i++) {
      now += pacer.reserve(50, now);
      sent += 50;
    }
    expect(sent / (now / 1000)).toBeLessThanOrEqual(100);
    expect(now).toBeGreaterThanOrEqual(5000);
  });

  it('lets tokens accumulate during idle time, up to one second of burst', () => {
    const pacer = new Pacer(100);
    pacer.reserve(0, 0);
    expect(pacer.reserve(100, 10_000)).toBe(0);
    expect(pacer.reserve(100, 10_000)).toBe(1000);
  });

  it('refuses a non-positive rate', () => {
    expect(() => new Pacer(0)).toThrow(RangeError);
    expect(() => new Pacer(10).setRate(-1, 0)).toThrow(RangeError);
  });

  it('repays a debt at the new rate once the share changes', () => {
    const pacer = new Pacer(100);
    expect(pacer.reserve(200, 0)).toBe(2000);
    // Half way through, a sibling starts: the share halves, and the remaining 100 tokens take 2 s instead of 1 s.
    expect(pacer.waitMs(1000)).toBe(1000);
    pacer.setRate(50, 1000);
    expect(pacer.waitMs(1000)).toBe(2000);
    // A share that grows again (the sibling finished) pays faster.
    pacer.setRate(200, 2000);
    expect(pacer.waitMs(2000)).toBe(250);
  });

  it("does not keep a bigger share's savings after the share drops", () => {
    const pacer = new Pacer(1000);
    pacer.reserve(0, 0);
    pacer.setRate(10, 5000); // a full second of 1000/s saved
    // Only one second at the new rate is left to spend without waiting.
    expect(pacer.reserve(10, 5000)).toBe(0);
    expect(pacer.reserve(10, 5000)).toBe(1000);
  });
});

describe('rate shares', () => {
  it('gives a chunk running alone the whole cap, and divides it among the chunks in flight', () => {
    expect(rateShare(300, 1)).toBe(300);
    expect(rateShare(300, 0)).toBe(300);
    expect(rateShare(300, 4)).toBe(75);
  });

  it('sizes paced batches to about two seconds of the share, within the batch limit', () => {
    expect(pacedBatchEvents(2500, 100)).toBe(200);
    expect(pacedBatchEvents(2500, 5000)).toBe(2500);
    expect(pacedBatchEvents(2500, 0.1)).toBe(1);
  });
});
