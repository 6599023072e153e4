// thread-count.test.ts — resolveThreadCount: 'auto' is one thread per core, within 1..limit;
// a number passes through (the flag spec has already range-checked it).
import { describe, expect, it } from 'vitest';
import { resolveThreadCount } from '../../src/cli/thread-count.js';

describe('resolveThreadCount', () => {
  it("'auto' takes the core count, capped by the limit", () => {
    expect(resolveThreadCount('auto', 16, 2)).toBe(2);
    expect(resolveThreadCount('auto', 16, 64)).toBe(16);
    expect(resolveThreadCount('auto', 2, 8)).toBe(2); // e.g. --tx-threads auto with --lanes 2
    expect(resolveThreadCount('auto', 1, 8)).toBe(1);
    expect(resolveThreadCount('auto', 16, 0)).toBe(1);
  });
  it('keeps an explicit number', () => {
    expect(resolveThreadCount(3, 16, 2)).toBe(3);
  });
});
