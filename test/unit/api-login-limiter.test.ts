// LoginLimiter: free attempts, doubling delay with a cap, reset on success, forgetting.
import { describe, expect, it } from 'vitest';
import { LoginLimiter } from '../../src/api/login-limiter.js';

describe('LoginLimiter', () => {
  it('lets the free attempts through, then doubles the delay up to the cap', () => {
    let now = 0;
    const limiter = new LoginLimiter({ freeAttempts: 2, baseDelayMs: 1000, maxDelayMs: 5000, now: () => now });
    const keys = ['user:a', 'ip:1.2.3.4'];
    limiter.recordFailure(keys);
    expect(limiter.waitMs(keys)).toBe(0);
    limiter.recordFailure(keys);
    expect(limiter.waitMs(keys)).toBe(1000);
    now += 1000;
    expect(limiter.waitMs(keys)).toBe(0);
    limiter.recordFailure(keys);
    expect(limiter.waitMs(keys)).toBe(2000);
    limiter.recordFailure(keys);
    expect(limiter.waitMs(keys)).toBe(4000);
    limiter.recordFailure(keys);
    expect(limiter.waitMs(keys)).toBe(5000);
    limiter.recordFailure(keys);
    expect(limiter.waitMs(keys)).toBe(5000);
  });

  it('limits by any of the keys and clears them on success', () => {
    const now = 0;
    const limiter = new LoginLimiter({ freeAttempts: 1, baseDelayMs: 1000, now: () => now });
    limiter.recordFailure(['user:a', 'ip:x']);
    expect(limiter.waitMs(['user:b', 'ip:x'])).toBe(1000); // same address, another user
    expect(limiter.waitMs(['user:a', 'ip:y'])).toBe(1000); // same user, another address
    expect(limiter.waitMs(['user:b', 'ip:y'])).toBe(0);
    limiter.recordSuccess(['user:a', 'ip:x']);
    expect(limiter.waitMs(['user:a', 'ip:x'])).toBe(0);
    expect(limiter.failures('user:a')).toBe(0);
  });

  it('forgets a key after forgetAfterMs without failures and bounds the number of keys', () => {
    let now = 0;
    const limiter = new LoginLimiter({ freeAttempts: 0, baseDelayMs: 1000, forgetAfterMs: 10_000, maxKeys: 2, now: () => now });
    limiter.recordFailure(['k1']);
    now += 10_000;
    expect(limiter.waitMs(['k1'])).toBe(0);
    expect(limiter.failures('k1')).toBe(0);
    limiter.recordFailure(['a']);
    limiter.recordFailure(['b']);
    limiter.recordFailure(['c']);
    expect(limiter.failures('a')).toBe(0);
    expect(limiter.failures('c')).toBe(1);
  });
});
