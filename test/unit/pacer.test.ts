import { describe, expect, it } from 'vitest';
import { Pacer } from '../../src/core/pacer';

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
  });
});
