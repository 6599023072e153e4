// login-limiter.ts — slows down password guessing without letting anyone lock a user out.
// Failed logins are counted in three kinds of bucket:
//  - per (user, address): after `freeAttempts` failures that pair must wait
//    baseDelayMs * 2^(failures - freeAttempts), capped at maxDelayMs, after its last failure;
//    attempts during the wait are refused (429). An address locks out only itself.
//  - per address (all user names): the same with `addressFreeAttempts`, against one address
//    spraying many names. IPv6 addresses count per /64 (one host usually holds a whole /64).
//  - per user (all addresses): never refuses; it paces. Beyond `freeAttempts` failures,
//    attempts for that user are checked one after another, spaced by the same doubling delay
//    capped at paceMaxMs, so guessing from many addresses is slow, yet the right password
//    always gets checked after a bounded wait.
// Loopback addresses (every local process shares 127.0.0.1) get no refusal bucket, only the
// per-user pace: a local process cannot lock the local admin out.
// A success clears the pair and the user; a bucket with no failure for
// `forgetAfterMs` is forgotten. Refused attempts do not count, so a locked-out address
// waiting out the delay is not punished further.
import net from 'node:net';

/** Tuning of {@link LoginLimiter}. */
export interface LoginLimiterOptions {
  /** Failures of one (user, address) pair, and of one user, before any delay (default 5). */
  freeAttempts?: number;
  /** Failures of one address (any user names) before any delay (default 20). */
  addressFreeAttempts?: number;
  /** First delay after the free attempts, ms (default 1000); doubles with each failure. */
  baseDelayMs?: number;
  /** Longest refusal delay of a pair or an address, ms (default 15 minutes). */
  maxDelayMs?: number;
  /** Longest spacing of the per-user pace, ms (default 1000). */
  paceMaxMs?: number;
  /** A bucket with no failure for this long is forgotten, ms (default 1 hour). */
  forgetAfterMs?: number;
  /** Most buckets remembered; the oldest is dropped beyond it (default 10,000). */
  maxKeys?: number;
  /** Clock, ms (tests). */
  now?: () => number;
}

interface Entry {
  failures: number;
  lastFailureMs: number;
}

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopbackAddress(address: string): boolean {
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || (net.isIPv4(a) && a.startsWith('127.'));
}

/** The bucket name of an address: IPv4 as is, IPv6 by its /64 prefix. */
export function addressBucket(address: string): string {
  const a = address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
  if (!net.isIPv6(a)) return a;
  const [head = '', tail = ''] = a.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = a.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/** Counts failed logins and says when an attempt is refused or must wait its turn. */
export class LoginLimiter {
  private readonly entries = new Map<string, Entry>();
  /** Per user: when the next paced attempt may be checked, ms. */
  private readonly paceNext = new Map<string, number>();
  private readonly freeAttempts: number;
  private readonly addressFreeAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly paceMaxMs: number;
  private readonly forgetAfterMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(options: LoginLimiterOptions = {}) {
    this.freeAttempts = options.freeAttempts ?? 5;
    this.addressFreeAttempts = options.addressFreeAttempts ?? 20;
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 15 * 60_000;
    this.paceMaxMs = options.paceMaxMs ?? 1000;
    this.forgetAfterMs = options.forgetAfterMs ?? 60 * 60_000;
    this.maxKeys = options.maxKeys ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** Refusal buckets of an attempt, with their free attempts (none from loopback). */
  private refusalKeys(user: string, address: string): [string, number][] {
    if (isLoopbackAddress(address)) return [];
    const addr = addressBucket(address);
    return [
      [`pair:${user}@${addr}`, this.freeAttempts],
      [`addr:${addr}`, this.addressFreeAttempts],
    ];
  }

  private allKeys(user: string, address: string): string[] {
    return [`user:${user}`, ...this.refusalKeys(user, address).map(([k]) => k)];
  }

  private live(key: string, now: number): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry !== undefined && now - entry.lastFailureMs >= this.forgetAfterMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private delay(failures: number, free: number, cap: number): number {
    const excess = failures - free;
    return excess < 0 ? 0 : Math.min(this.baseDelayMs * 2 ** Math.min(excess, 30), cap);
  }

  /**
   * 0 if this user may try from this address now, else the ms until the pair or the address
   * may try again (the attempt is refused). Does not change any count.
   */
  refusalMs(user: string, address: string): number {
    const now = this.now();
    let wait = 0;
    for (const [key, free] of this.refusalKeys(user, address)) {
      const entry = this.live(key, now);
      if (entry === undefined) continue;
      const delay = this.delay(entry.failures, free, this.maxDelayMs);
      if (delay > 0) wait = Math.max(wait, entry.lastFailureMs + delay - now);
    }
    return wait;
  }

  /**
   * Reserves this attempt's turn in the user's pace and returns the ms to wait before the
   * password is checked (0 while the user has no more than the free failures).
   */
  reservePace(user: string): number {
    const now = this.now();
    const key = `user:${user}`;
    const entry = this.live(key, now);
    const spacing = entry === undefined ? 0 : this.delay(entry.failures, this.freeAttempts, this.paceMaxMs);
    if (spacing === 0) {
      this.paceNext.delete(key);
      return 0;
    }
    const slot = Math.max(now, this.paceNext.get(key) ?? now);
    this.paceNext.set(key, slot + spacing);
    return slot - now;
  }

  /** Counts one failed attempt of `user` from `address`. */
  recordFailure(user: string, address: string): void {
    const now = this.now();
    for (const key of this.allKeys(user, address)) {
      const entry = this.live(key, now);
      this.entries.delete(key); // re-insert: Map order is then least recently failed first
      this.entries.set(key, { failures: (entry?.failures ?? 0) + 1, lastFailureMs: now });
    }
    while (this.entries.size > this.maxKeys) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    if (this.paceNext.size > this.maxKeys) {
      for (const [key, next] of this.paceNext) if (next <= now) this.paceNext.delete(key);
    }
  }

  /**
   * After a successful login: clears the pair and the user, and takes back the failure this
   * attempt counted against its address (the rest of the address count stays: an account of
   * one's own must not reset a name-spraying count).
   */
  recordSuccess(user: string, address: string): void {
    this.entries.delete(`user:${user}`);
    if (!isLoopbackAddress(address)) {
      const addr = addressBucket(address);
      this.entries.delete(`pair:${user}@${addr}`);
      const entry = this.entries.get(`addr:${addr}`);
      if (entry !== undefined && --entry.failures <= 0) this.entries.delete(`addr:${addr}`);
    }
    this.paceNext.delete(`user:${user}`);
  }

  /** Failures counted for a user (all addresses), or for a user from one address. */
  failures(user: string, address?: string): number {
    if (address === undefined) return this.entries.get(`user:${user}`)?.failures ?? 0;
    if (isLoopbackAddress(address)) return 0;
    return this.entries.get(`pair:${user}@${addressBucket(address)}`)?.failures ?? 0;
  }
}
