import { describe, expect, it } from 'vitest';
import { forEachSliced, jsonArraySliced, mapSliced } from '../../src/recv/sliced.js';

describe('sliced loops over large lists', () => {
  const items = Array.from({ length: 25_001 }, (_, i) => ({ path: `d/f${i}`, size: i }));

  it('mapSliced and forEachSliced visit every item in order and let the event loop turn between slices', async () => {
    let turns = 0;
    const tick = setInterval(() => turns++, 0);
    const seen: number[] = [];
    await forEachSliced(items, (x, i) => seen.push(i - x.size));
    const mapped = await mapSliced(items, (x) => x.size * 2);
    clearInterval(tick);
    expect(turns).toBeGreaterThan(0);
    expect(seen.every((d) => d === 0) && seen.length === items.length).toBe(true);
    expect(mapped).toEqual(items.map((x) => x.size * 2));
  });

  it('jsonArraySliced is the text JSON.stringify gives (stored file lists keep their checksums)', async () => {
    expect(await jsonArraySliced(items)).toBe(JSON.stringify(items));
    expect(await jsonArraySliced([])).toBe('[]');
    expect(await jsonArraySliced(items.slice(0, 10_000))).toBe(JSON.stringify(items.slice(0, 10_000)));
  });
});
