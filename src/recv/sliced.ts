// sliced.ts — long loops over a manifest (up to a million entries) run in slices with a
// turn of the event loop between them, so API requests, handshakes and control messages
// are answered meanwhile (one slice of 10,000 entries takes a few ms).
import { setImmediate as nextTurn } from 'node:timers/promises';

export const kSliceItems = 10_000;

/** fn(item, i) for every item in order, yielding to the event loop after every `slice` items. */
export async function forEachSliced<T>(items: readonly T[], fn: (item: T, index: number) => void, slice = kSliceItems): Promise<void> {
  for (let start = 0; start < items.length; start += slice) {
    if (start > 0) await nextTurn();
    const end = Math.min(items.length, start + slice);
    for (let i = start; i < end; i++) fn(items[i]!, i);
  }
}

/** items.map(fn), yielding to the event loop after every `slice` items. */
export async function mapSliced<T, U>(items: readonly T[], fn: (item: T, index: number) => U, slice = kSliceItems): Promise<U[]> {
  const out = new Array<U>(items.length);
  await forEachSliced(items, (item, i) => (out[i] = fn(item, i)), slice);
  return out;
}

/** JSON.stringify(items) (same text, for items JSON.stringify maps one by one), built in slices. */
export async function jsonArraySliced(items: readonly unknown[], slice = kSliceItems): Promise<string> {
  const parts: string[] = [];
  for (let start = 0; start < items.length; start += slice) {
    if (start > 0) await nextTurn();
    parts.push(
      items
        .slice(start, start + slice)
        .map((x) => JSON.stringify(x))
        .join(','),
    );
  }
  return `[${parts.join(',')}]`;
}
