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

  it('averages over the seconds bytes moved, not over idle time since first contact (issue 12, finding 11)', () => {
    const r = new RateWindow();
    for (let s = 0; s <= 60; s++) r.sample(0, s * 1000); // known for a minute, nothing sent
    for (let s = 61; s <= 65; s++) r.sample((s - 60) * 1_000_000, s * 1000); // 1 MB/s for 5 s
    for (let s = 66; s <= 120; s++) r.sample(5_000_000, s * 1000); // idle again
    for (let s = 121; s <= 125; s++) r.sample(5_000_000 + (s - 120) * 1_000_000, s * 1000); // 1 MB/s for 5 s
    expect(r.averageBitsPerSecond()).toBeCloseTo(8_000_000, 0);
  });

  it('a total that drops (records forgotten) counts as no movement, never as a negative rate', () => {
    const r = new RateWindow();
    r.sample(0, 0);
    r.sample(10_000_000, 1000);
    r.sample(2_000_000, 2000); // a finished transfer left the sum
    r.sample(3_000_000, 3000);
    expect(r.windowBitsPerSecond()).toBeGreaterThan(0);
    expect(r.averageBitsPerSecond()).toBeCloseTo((11_000_000 * 8) / 2, 0);
  });

  it('counts bytes before the first sample from the start time given', () => {
    const r = new RateWindow(0);
    r.sample(2_000_000, 1000);
    expect(r.averageBitsPerSecond()).toBeCloseTo(16_000_000, 0);
  });
});
