import { describe, expect, it } from 'vitest';
import { RateWindow, kRateWindowSeconds } from '../../src/recv/rate-window.js';

describe('RateWindow', () => {
  it('reports the rate over the recent window and the average over active time', () => {
    const r = new RateWindow();
    // 1 MB/s for 10 s, then idle for 10 s
    for (let s = 0; s <= 10; s++) r.sample(s * 1_000_000, s * 1000);
    expect(r.windowBitsPerSecond()).toBeCloseTo(8_000_000, 0);
    for (let s = 11; s <= 20; s++) r.sample(10_000_000, s * 1000);
    expect(r.windowBitsPerSecond()).toBe(0);
    expect(r.averageBitsPerSecond()).toBeCloseTo(8_000_000, 0);
  });

  it('keeps only the last window of samples', () => {
    const r = new RateWindow();
    r.sample(0, 0);
    r.sample(100_000_000, 1000); // a burst long ago
    for (let s = 2; s <= 2 + kRateWindowSeconds; s++) r.sample(100_000_000 + (s - 1) * 1000, s * 1000);
    expect(r.windowBitsPerSecond()).toBeCloseTo(8000, 0);
  });

  it('is zero before two samples', () => {
    const r = new RateWindow();
    expect(r.windowBitsPerSecond()).toBe(0);
    r.sample(5, 0);
    expect(r.windowBitsPerSecond()).toBe(0);
    expect(r.averageBitsPerSecond()).toBe(0);
  });
});
