// login-limiter.ts — slows down password guessing. Failed logins are counted per key (the
// API uses one key per user name and one per source address); after `freeAttempts`
// failures a key must wait baseDelayMs * 2^(failures - freeAttempts), capped at maxDelayMs,
// after its last failure before the next attempt is even checked. A success clears the key;
// a key with no failure for `forgetAfterMs` is forgotten. Refused attempts do not count,
// so a locked-out user waiting out the delay is not punished further.

/** Tuning of {@link LoginLimiter}. */
export interface LoginLimiterOptions {
  /** Failures allowed before any delay (default 5). */
  freeAttempts?: number;
  /** First delay after the free attempts, ms (default 1000); doubles with each failure. */
  baseDelayMs?: number;
  /** Longest delay, ms (default 15 minutes). */
  maxDelayMs?: number;
  /** A key with no failure for this long is forgotten, ms (default 1 hour). */
  forgetAfterMs?: number;
  /** Most keys remembered; the oldest is dropped beyond it (default 10,000). */
  maxKeys?: number;
  /** Clock, ms (tests). */
  now?: () => number;
}

interface Entry {
  failures: number;
  lastFailureMs: number;
}

/** Counts failed logins per key and says when a key must wait. */
export class LoginLimiter {
  private readonly entries = new Map<string, Entry>();
  private readonly freeAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly forgetAfterMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(options: LoginLimiterOptions = {}) {
    this.freeAttempts = options.freeAttempts ?? 5;
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 15 * 60_000;
    this.forgetAfterMs = options.forgetAfterMs ?? 60 * 60_000;
    this.maxKeys = options.maxKeys ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * 0 if every key may try now, else the ms until the most restricted key may. Does not
   * change any count.
   */
  waitMs(keys: readonly string[]): number {
    const now = this.now();
    let wait = 0;
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (entry === undefined) continue;
      if (now - entry.lastFailureMs >= this.forgetAfterMs) {
        this.entries.delete(key);
        continue;
      }
      const excess = entry.failures - this.freeAttempts;
      if (excess < 0) continue;
      const delay = Math.min(this.baseDelayMs * 2 ** Math.min(excess, 30), this.maxDelayMs);
      wait = Math.max(wait, entry.lastFailureMs + delay - now);
    }
    return wait;
  }

  /** Counts one failed attempt against each key. */
  recordFailure(keys: readonly string[]): void {
    const now = this.now();
    for (const key of keys) {
      const entry = this.entries.get(key);
      this.entries.delete(key); // re-insert: Map order is then least recently failed first
      this.entries.set(key, { failures: (entry?.failures ?? 0) + 1, lastFailureMs: now });
    }
    while (this.entries.size > this.maxKeys) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  /** Clears the keys after a successful login. */
  recordSuccess(keys: readonly string[]): void {
    for (const key of keys) this.entries.delete(key);
  }

  /** Failures currently counted for a key (tests, diagnostics). */
  failures(key: string): number {
    return this.entries.get(key)?.failures ?? 0;
  }
}
