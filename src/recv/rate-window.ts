// rate-window.ts — byte totals sampled once a second, giving an average rate over the
// whole active life and a rate over a recent window (the API's aveRecvRate and
// aveRecvRateWindow).

/** Length of the "right now" window, in samples (one per second). */
export const kRateWindowSeconds = 5;

export class RateWindow {
  private samples: { atMs: number; bytes: number }[] = [];
  private firstAtMs: number | null = null;
  private firstBytes = 0;
  private lastBytes = 0;
  private activeEndMs: number | null = null;

  /** Records the cumulative byte count at time `atMs`. */
  sample(bytes: number, atMs = Date.now()): void {
    if (this.firstAtMs === null) {
      this.firstAtMs = atMs;
      this.firstBytes = 0;
    }
    if (bytes !== this.lastBytes) this.activeEndMs = atMs;
    this.lastBytes = bytes;
    this.samples.push({ atMs, bytes });
    while (this.samples.length > kRateWindowSeconds + 1) this.samples.shift();
  }

  /** Bits per second over the recent window (0 when idle or not enough samples). */
  windowBitsPerSecond(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.atMs <= first.atMs) return 0;
    return ((last.bytes - first.bytes) * 8 * 1000) / (last.atMs - first.atMs);
  }

  /** Bits per second from the first sample to the last time bytes moved. */
  averageBitsPerSecond(): number {
    if (this.firstAtMs === null || this.activeEndMs === null || this.activeEndMs <= this.firstAtMs) return 0;
    return ((this.lastBytes - this.firstBytes) * 8 * 1000) / (this.activeEndMs - this.firstAtMs);
  }
}
