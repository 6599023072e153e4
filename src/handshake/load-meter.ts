// load-meter.ts — decides when the handshake responder is "under load", i.e. answers INITs
// that lack a valid mac2 with a COOKIE REPLY instead of doing the X25519 work. Under load:
// in the last second, at least `threshold` INITs went on to the DH work, or more than
// BACKLOG_FACTOR × threshold INITs with a valid mac1 arrived (they come faster than the
// responder is willing to do DH: a backlog). Once the condition holds, the responder stays
// under load for LOAD_HOLD_MS after the last time it held. Memory does not depend on the
// rate: each count is ten 100 ms buckets. Time is whatever clock the caller passes (ms).

/** Default: at most 50 INITs per second get the DH work without a cookie. */
export const DEFAULT_HANDSHAKE_LOAD_THRESHOLD = 50;
/** Upper bound accepted for the threshold option. */
export const MAX_HANDSHAKE_LOAD_THRESHOLD = 1_000_000;
/** Valid-mac1 INIT arrivals per second, as a multiple of the threshold, that mean "backlog". */
export const BACKLOG_FACTOR = 4;
/** How long the responder stays under load after the condition last held. */
export const LOAD_HOLD_MS = 1000;

const BUCKET_MS = 100;
const BUCKETS = 10; // BUCKETS × BUCKET_MS = the 1 s window

/** Events in the last second, in 100 ms buckets (the current, partial one included). */
class WindowCounter {
  private readonly counts = new Float64Array(BUCKETS);
  private readonly ids = new Float64Array(BUCKETS).fill(-Infinity);

  add(nowMs: number): void {
    const id = Math.floor(nowMs / BUCKET_MS);
    const slot = ((id % BUCKETS) + BUCKETS) % BUCKETS;
    if (this.ids[slot] !== id) {
      this.ids[slot] = id;
      this.counts[slot] = 0;
    }
    this.counts[slot]! += 1;
  }

  count(nowMs: number): number {
    const id = Math.floor(nowMs / BUCKET_MS);
    let total = 0;
    for (let i = 0; i < BUCKETS; i++) {
      const bucketId = this.ids[i]!;
      if (bucketId <= id && bucketId > id - BUCKETS) total += this.counts[i]!;
    }
    return total;
  }
}

/** Load detector of one responder. Single-threaded. */
export class HandshakeLoadMeter {
  private readonly dh = new WindowCounter();
  private readonly arrivals = new WindowCounter();
  private underLoadUntilMs = -Infinity;

  /** Throws RangeError unless `threshold` is an integer from 1 to MAX_HANDSHAKE_LOAD_THRESHOLD. */
  constructor(readonly threshold: number = DEFAULT_HANDSHAKE_LOAD_THRESHOLD) {
    if (!Number.isInteger(threshold) || threshold < 1 || threshold > MAX_HANDSHAKE_LOAD_THRESHOLD) {
      throw new RangeError(`loadThreshold must be an integer from 1 to ${MAX_HANDSHAKE_LOAD_THRESHOLD}, got ${threshold}`);
    }
  }

  /** Records an INIT whose mac1 verified and returns whether the responder is under load now. */
  arrive(nowMs: number): boolean {
    this.arrivals.add(nowMs);
    const holdEnd = nowMs + LOAD_HOLD_MS;
    if (this.dh.count(nowMs) >= this.threshold || this.arrivals.count(nowMs) > BACKLOG_FACTOR * this.threshold) {
      this.underLoadUntilMs = holdEnd;
    } else if (this.underLoadUntilMs > holdEnd) {
      this.underLoadUntilMs = holdEnd; // the clock stepped back: never hold longer than LOAD_HOLD_MS
    }
    return nowMs < this.underLoadUntilMs;
  }

  /** Records an INIT that went on to the DH work. */
  dhStarted(nowMs: number): void {
    this.dh.add(nowMs);
  }
}
