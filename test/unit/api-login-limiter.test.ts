// LoginLimiter: per (user, address) and per address refusal buckets with doubling delays,
// a per-user pace that never refuses, no refusal from loopback, reset on success, forgetting.
import { describe, expect, it } from 'vitest';
import { LoginLimiter, addressBucket, isLoopbackAddress } from '../../src/api/login-limiter.js';

const A = '198.51.100.7';
const B = '203.0.113.9';

describe('LoginLimiter', () => {
  it('lets the free attempts of a (user, address) through, then doubles its delay up to the cap', () => {
    let now = 0;
    const limiter = new LoginLimiter({ freeAttempts: 2, baseDelayMs: 1000, maxDelayMs: 5000, now: () => now });
    limiter.recordFailure('a', A);
    expect(limiter.refusalMs('a', A)).toBe(0);
    limiter.recordFailure('a', A);
    expect(limiter.refusalMs('a', A)).toBe(1000);
    now += 1000;
    expect(limiter.refusalMs('a', A)).toBe(0);
    for (const expected of [2000, 4000, 5000, 5000]) {
      limiter.recordFailure('a', A);
      expect(limiter.refusalMs('a', A)).toBe(expected);
    }
  });

  it('never refuses a user at one address because of failures at another address', () => {
    const now = 0;
    const limiter = new LoginLimiter({ freeAttempts: 1, addressFreeAttempts: 3, baseDelayMs: 1000, now: () => now });
    for (let i = 0; i < 50; i++) limiter.recordFailure('admin', A);
    expect(limiter.refusalMs('admin', A)).toBeGreaterThan(0);
    expect(limiter.refusalMs('admin', B)).toBe(0); // same user, another address
    expect(limiter.refusalMs('bob', A)).toBeGreaterThan(0); // the address spent its allowance
    expect(limiter.refusalMs('bob', B)).toBe(0);
  });

  it('an address may try a few names before its address bucket refuses', () => {
    const limiter = new LoginLimiter({ freeAttempts: 5, addressFreeAttempts: 3, baseDelayMs: 1000, now: () => 0 });
    for (const name of ['u1', 'u2', 'u3']) limiter.recordFailure(name, A);
    expect(limiter.refusalMs('u4', A)).toBe(1000);
    expect(limiter.refusalMs('u4', B)).toBe(0);
  });

  it('never refuses from loopback; failures there and elsewhere pace the user instead', () => {
    let now = 0;
    const limiter = new LoginLimiter({ freeAttempts: 2, baseDelayMs: 100, paceMaxMs: 400, now: () => now });
    for (let i = 0; i < 100; i++) limiter.recordFailure('admin', '127.0.0.1');
    expect(limiter.refusalMs('admin', '127.0.0.1')).toBe(0);
    expect(limiter.refusalMs('admin', '::1')).toBe(0);
    // Paced: attempts take turns 400 ms apart (the cap), however many arrive at once.
    expect([0, 1, 2].map(() => limiter.reservePace('admin'))).toEqual([0, 400, 800]);
    now += 1200;
    expect(limiter.reservePace('admin')).toBe(0);
    expect(limiter.reservePace('other')).toBe(0);
    limiter.recordSuccess('admin', '127.0.0.1');
    expect(limiter.reservePace('admin')).toBe(0);
    expect(limiter.failures('admin')).toBe(0);
  });

  it('a success clears the pair and the user but not the address bucket', () => {
    const limiter = new LoginLimiter({ freeAttempts: 1, addressFreeAttempts: 2, baseDelayMs: 1000, now: () => 0 });
    limiter.recordFailure('a', A);
    limiter.recordFailure('b', A);
    // A login is counted as a failure before the check; its success takes that back.
    limiter.recordFailure('a', A);
    limiter.recordSuccess('a', A);
    expect(limiter.failures('a', A)).toBe(0);
    expect(limiter.refusalMs('c', A)).toBe(1000);
  });

  it('forgets a bucket after forgetAfterMs without failures and bounds the number of buckets', () => {
    let now = 0;
    const limiter = new LoginLimiter({
      freeAttempts: 0,
      addressFreeAttempts: 100,
      baseDelayMs: 1000,
      forgetAfterMs: 10_000,
      maxKeys: 4,
      now: () => now,
    });
    limiter.recordFailure('k1', A);
    now += 10_000;
    expect(limiter.refusalMs('k1', A)).toBe(0);
    expect(limiter.failures('k1', A)).toBe(0);
    limiter.recordFailure('a', B);
    limiter.recordFailure('b', B);
    limiter.recordFailure('c', B);
    expect(limiter.failures('a', B)).toBe(0);
    expect(limiter.failures('c', B)).toBe(1);
  });

  it('names addresses: loopback forms, IPv6 per /64', () => {
    expect(['127.0.0.1', '127.3.4.5', '::1', '::ffff:127.0.0.1'].every(isLoopbackAddress)).toBe(true);
    expect([A, '::ffff:198.51.100.7', '2001:db8::1'].some(isLoopbackAddress)).toBe(false);
    expect(addressBucket('::ffff:198.51.100.7')).toBe(A);
    expect(addressBucket('2001:db8:0:1::1')).toBe(addressBucket('2001:db8:0:1:ffff:1:2:3'));
    expect(addressBucket('2001:db8:0:1::1')).toBe('2001:db8:0:1::/64');
    expect(addressBucket('2001:db8:0:2::1')).not.toBe(addressBucket('2001:db8:0:1::1'));
  });
});
