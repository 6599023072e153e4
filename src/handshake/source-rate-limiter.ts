// source-rate-limiter.ts — per-source token buckets for handshake INITs.
// A source is an IPv4 address or an IPv6 /64 (one host usually owns a whole /64, so keying
// on full IPv6 addresses would hand an attacker 2^64 buckets). IPv4-mapped IPv6 addresses
// count as their IPv4 address. Memory is bounded: at most `maxSources` buckets; when full,
// the least recently used bucket is evicted (a full-refilled bucket equals a missing one).
import { isIPv4, isIPv6 } from 'node:net';

/** Token-bucket settings: sustained rate and burst size, in handshakes. */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

/** Defaults: 20 handshakes/s per source, bursts of 10. */
export const DEFAULT_HANDSHAKE_RATE_LIMIT: Readonly<RateLimit> = { perSecond: 20, burst: 10 };
/** Default cap on tracked sources. */
export const DEFAULT_MAX_RATE_LIMITED_SOURCES = 4096;

interface Bucket {
  tokens: number;
  updatedMs: number;
}

/** Token buckets keyed by source address. */
export class SourceRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limit: RateLimit = DEFAULT_HANDSHAKE_RATE_LIMIT,
    private readonly maxSources = DEFAULT_MAX_RATE_LIMITED_SOURCES,
  ) {
    if (!(limit.perSecond > 0) || !Number.isFinite(limit.perSecond)) {
      throw new RangeError(`rateLimit.perSecond must be a positive number, got ${limit.perSecond}`);
    }
    if (!(limit.burst >= 1) || !Number.isFinite(limit.burst)) {
      throw new RangeError(`rateLimit.burst must be a number >= 1, got ${limit.burst}`);
    }
    if (!Number.isInteger(maxSources) || maxSources < 1) {
      throw new RangeError(`maxSources must be a positive integer, got ${maxSources}`);
    }
  }

  /** Take one token for `address` at time `nowMs`; false if its bucket is empty. */
  allow(address: string, nowMs: number): boolean {
    const key = sourceKey(address);
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxSources) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
      bucket = { tokens: this.limit.burst, updatedMs: nowMs };
    } else {
      this.buckets.delete(key); // re-inserted below: Map order = least recently used first
      const elapsedMs = Math.max(0, nowMs - bucket.updatedMs); // a clock step back refills nothing
      bucket.tokens = Math.min(this.limit.burst, bucket.tokens + (elapsedMs * this.limit.perSecond) / 1000);
      bucket.updatedMs = nowMs;
    }
    this.buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Number of sources currently tracked (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }
}

/** The bucket key of an address: IPv4 as is, IPv6 as its /64 prefix, anything else as is. */
export function sourceKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const groups = expandIPv6(address.split('%')[0]!);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : address;
}

/** The eight 16-bit groups of an IPv6 address as lower-case hex, or undefined. */
function expandIPv6(address: string): string[] | undefined {
  let text = address.toLowerCase();
  const v4Tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4Tail) {
    const octets = v4Tail[1]!.split('.').map(Number);
    const hi = ((octets[0]! << 8) | octets[1]!).toString(16);
    const lo = ((octets[2]! << 8) | octets[3]!).toString(16);
    text = text.slice(0, v4Tail.index) + `${hi}:${lo}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 0) return undefined;
  return [...head, ...Array<string>(missing).fill('0'), ...tail].map((g) => parseInt(g, 16).toString(16));
}
