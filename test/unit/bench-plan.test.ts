// bench-plan.test.ts — the bench's interleaved rounds (bench/run.mjs createPlan): N rounds of
// every configuration in the order added (A B C A B C, not A A B B), a failed run recorded
// without stopping the others, rows kept in the order added with their runs and summaries,
// and the after-steps run once, after the last round. Runs no transfer.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

interface Summary {
  runs: number;
  failed: number;
  gbitPerSecond: { median: number; min: number; max: number; n: number } | null;
}
interface Row {
  name: string;
  runsDetail?: ({ gbitPerSecond: number } | { error: string })[];
  summary?: Summary;
  skipped?: string;
}
interface Plan {
  add(results: Row[], row: Row, fields: string[], once: (round: number) => Promise<{ gbitPerSecond: number }>): void;
  after(fn: () => void): void;
  run(): Promise<void>;
}

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// A computed specifier: the bench is plain ESM without type declarations.
const benchUrl = pathToFileURL(path.join(repo, 'bench', 'run.mjs')).href;
const { createPlan } = (await import(benchUrl)) as { createPlan: (opts: { runs: number }) => Plan };

describe('bench createPlan', () => {
  it('runs N rounds of every configuration interleaved, records failures, keeps row order', async () => {
    const plan = createPlan({ runs: 3 });
    const results: Row[] = [];
    const order: string[] = [];
    const config = (name: string, rate: (round: number) => number) =>
      plan.add(results, { name }, ['gbitPerSecond'], (round) => {
        order.push(`${name}${round}`);
        if (name === 'B' && round === 1) return Promise.reject(new Error('B failed once'));
        return Promise.resolve({ gbitPerSecond: rate(round) });
      });
    config('A', (round) => [3, 1, 2][round] ?? 0);
    results.push({ name: 'skipped', skipped: 'not installed' });
    config('B', (round) => round + 10);
    config('C', () => 5);
    let afterRan = 0;
    plan.after(() => {
      afterRan++;
      expect(order).toHaveLength(9);
    });
    expect(order).toEqual([]); // adding measures nothing

    await plan.run();

    expect(order).toEqual(['A0', 'B0', 'C0', 'A1', 'B1', 'C1', 'A2', 'B2', 'C2']);
    expect(results.map((r) => r.name)).toEqual(['A', 'skipped', 'B', 'C']);
    expect(afterRan).toBe(1);
    const [a, , b] = results;
    expect(a?.runsDetail).toEqual([{ gbitPerSecond: 3 }, { gbitPerSecond: 1 }, { gbitPerSecond: 2 }]);
    expect(a?.summary).toMatchObject({ runs: 3, failed: 0, gbitPerSecond: { median: 2, min: 1, max: 3, n: 3 } });
    expect(b?.runsDetail?.[1]).toEqual({ error: 'B failed once' });
    expect(b?.summary).toMatchObject({ runs: 3, failed: 1, gbitPerSecond: { median: 11, min: 10, max: 12, n: 2 } });
  });
});
