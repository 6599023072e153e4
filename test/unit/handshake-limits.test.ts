import { describe, expect, it } from 'vitest';
import { ReplayGuard } from '../../src/handshake/replay-guard.js';
import { SourceRateLimiter, sourceKey } from '../../src/handshake/source-rate-limiter.js';

describe('sourceKey', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:192.0.2.1', '192.0.2.1'],
    ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:DB8:0001:0002::ffff', '2001:db8:1:2::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['not-an-address', 'not-an-address'],
  ])('%s -> %s', (address, key) => {
    expect(sourceKey(address)).toBe(key);
  });
});

describe('SourceRateLimiter', () => {
  it('counts hosts of one IPv6 /64 against one bucket', () => {
    const limiter = new SourceRateLimiter({ perSecond: 1, burst: 2 });
    expect(limiter.allow('2001:db8::1', 0)).toBe(true);
    expect(limiter.allow('2001:db8::2', 0)).toBe(true);
    expect(limiter.allow('2001:db8::3', 0)).toBe(false);
    expect(limiter.allow('2001:db8:0:1::1', 0)).toBe(true); // another /64
  });

  it('never tracks more than maxSources, evicting the least recently used', () => {
    const limiter = new SourceRateLimiter({ perSecond: 1, burst: 1 }, 3);
    expect(limiter.allow('10.0.0.1', 0)).toBe(true);
    expect(limiter.allow('10.0.0.2', 0)).toBe(true);
    expect(limiter.allow('10.0.0.3', 0)).toBe(true);
    expect(limiter.allow('10.0.0.1', 0)).toBe(false); // touches 10.0.0.1: now most recent
    expect(limiter.allow('10.0.0.4', 0)).toBe(true); // evicts 10.0.0.2
    expect(limiter.size).toBe(3);
    expect(limiter.allow('10.0.0.1', 0)).toBe(false); // still tracked, still empty
    for (let i = 0; i < 1000; i++) limiter.allow(`10.1.${i >> 8}.${i & 255}`, 0);
    expect(limiter.size).toBe(3);
  });

  it('does not refill when the clock steps backwards', () => {
    const limiter = new SourceRateLimiter({ perSecond: 10, burst: 1 });
    expect(limiter.allow('10.0.0.1', 10_000)).toBe(true);
    expect(limiter.allow('10.0.0.1', 5_000)).toBe(false);
    expect(limiter.allow('10.0.0.1', 5_100)).toBe(true); // refills from the last seen time
  });

  it('rejects nonsensical settings', () => {
    expect(() => new SourceRateLimiter({ perSecond: -1, burst: 1 })).toThrow(/perSecond/);
    expect(() => new SourceRateLimiter({ perSecond: 1, burst: 0.5 })).toThrow(/burst/);
    expect(() => new SourceRateLimiter({ perSecond: 1, burst: 1 }, 0)).toThrow(/maxSources/);
  });
});

describe('ReplayGuard', () => {
  const key = (n: number) => new Uint8Array(32).fill(n);
  const ts = (n: number) => Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n);

  it('accepts only strictly increasing timestamps per key', () => {
    const guard = new ReplayGuard();
    expect(guard.isFresh(key(1), ts(5))).toBe(true);
    guard.accept(key(1), ts(5));
    expect(guard.isFresh(key(1), ts(5))).toBe(false);
    expect(guard.isFresh(key(1), ts(4))).toBe(false);
    expect(guard.isFresh(key(1), ts(6))).toBe(true);
    expect(guard.isFresh(key(2), ts(1))).toBe(true);
  });

  it('is bounded, forgetting the least recently accepted key first', () => {
    const guard = new ReplayGuard(2);
    guard.accept(key(1), ts(9));
    guard.accept(key(2), ts(9));
    guard.accept(key(1), ts(10)); // key 1 becomes most recent
    guard.accept(key(3), ts(9)); // evicts key 2
    expect(guard.size).toBe(2);
    expect(guard.isFresh(key(2), ts(1))).toBe(true);
    expect(guard.isFresh(key(1), ts(10))).toBe(false);
    expect(guard.isFresh(key(3), ts(9))).toBe(false);
  });
});
