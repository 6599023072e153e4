// rate-window.ts — byte totals sampled once a second, giving an average rate over the
// time bytes actually moved and a rate over a recent window (the API's aveRecvRate,
// aveRecvRateWindow and recvRate).
//
// Contracts: a sample interval in which the total grew counts as active (its whole length,
// so the resolution is one sample period); idle intervals count for nothing in the
// average. A total that drops (a record left the sum) is no movement, never a negative
// rate: the figures follow a cumulative count that only grows.

/** Length of the "right now" window, in samples (one per second). */
export const kRateWindowSeconds = 5;

export class RateWindow {
  /** Cumulative bytes moved (only grows), at recent sample times. */
  private samples: { atMs: number; moved: number }[] = [];
  private last: { atMs: number; bytes: number } | null;
  private moved = 0;
  private activeMs = 0;
  private activeBytes = 0;

  /** `startMs`: when counting began at 0 bytes (bytes of the first sample count from then); default: the first sample. */
  constructor(startMs?: number) {
    this.last = startMs === undefined ? null : { atMs: startMs, bytes: 0 };
  }

  /** Records the cumulative byte count at time `atMs`. */
  sample(bytes: number, atMs = Date.now()): void {
    if (this.last !== null) {
      const delta = Math.max(0, bytes - this.last.bytes);
      const dt = Math.max(0, atMs - this.last.atMs);
      if (delta > 0 && dt > 0) {
        this.activeMs += dt;
        this.activeBytes += delta;
      }
      this.moved += delta;
    }
    this.last = { atMs, bytes };
    this.samples.push({ atMs, moved: this.moved });
    while (this.samples.length > kRateWindowSeconds + 1) this.samples.shift();
  }

  /** Bytes held from now on are the new baseline: what came before is not movement (a resumed transfer). */
  rebase(bytes: number, atMs = Date.now()): void {
    this.last = { atMs, bytes };
  }

  /** Bits per second over the recent window (0 when idle or not enough samples). */
  windowBitsPerSecond(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.atMs <= first.atMs) return 0;
    return ((last.moved - first.moved) * 8 * 1000) / (last.atMs - first.atMs);
  }

  /** Bits per second over the intervals in which bytes moved (0 before any did). */
  averageBitsPerSecond(): number {
    return this.activeMs > 0 ? (this.activeBytes * 8 * 1000) / this.activeMs : 0;
  }
}
