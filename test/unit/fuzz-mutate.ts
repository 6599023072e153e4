// fuzz-mutate.ts — a seeded PRNG and byte mutator for the TypeScript fuzz tests
// (test/unit/fuzz-*.test.ts). JETRECV_FUZZ_SEED picks the seed (default 1, so a
// failure reproduces); JETRECV_FUZZ_SCALE multiplies the iteration counts for a
// longer run (docs/TESTING.md).

/** mulberry32: small, fast, deterministic. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  below(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
}

export const fuzzSeed = Number(process.env.JETRECV_FUZZ_SEED ?? 1);
export const fuzzScale = Math.max(0.01, Number(process.env.JETRECV_FUZZ_SCALE ?? 1));
/** `n` scaled by JETRECV_FUZZ_SCALE, at least 1. */
export function iterations(n: number): number {
  return Math.max(1, Math.round(n * fuzzScale));
}

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x12, 0x1a, 0x22];
const INTERESTING_VARINTS = [
  [0xff, 0xff, 0xff, 0xff, 0x0f], // 2^32 - 1
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // 2^64 - 1
  [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], // overlong
  [0x80, 0x80, 0x80, 0x80, 0x08], // 2^31 (a huge length)
  [0x00],
];

/** Random edits: bit flips, interesting bytes and varints, inserts, deletes, splices, truncation. */
export function mutate(rng: Rng, input: Uint8Array, pool: readonly Uint8Array[] = [], maxLen = 4096): Uint8Array {
  let b = Array.from(input);
  const rounds = 1 + rng.below(6);
  for (let r = 0; r < rounds; r++) {
    switch (rng.below(8)) {
      case 0:
        if (b.length) b[rng.below(b.length)]! ^= 1 << rng.below(8);
        break;
      case 1:
        if (b.length) b[rng.below(b.length)] = rng.pick(INTERESTING_BYTES);
        break;
      case 2: {
        const at = rng.below(b.length + 1);
        b.splice(at, 0, ...rng.bytes(1 + rng.below(8)));
        break;
      }
      case 3:
        if (b.length) b.splice(rng.below(b.length), 1 + rng.below(16));
        break;
      case 4: {
        const other = pool.length ? rng.pick(pool) : rng.bytes(16);
        const from = rng.below(other.length);
        b.splice(rng.below(b.length + 1), 0, ...other.subarray(from, from + 1 + rng.below(64)));
        break;
      }
      case 5:
        b.splice(rng.below(b.length + 1), 0, ...rng.pick(INTERESTING_VARINTS));
        break;
      case 6:
        b = b.slice(0, rng.below(b.length + 1));
        break;
      default:
        if (b.length) b[rng.below(b.length)] = rng.u32() & 0xff;
        break;
    }
  }
  return Uint8Array.from(b.slice(0, maxLen));
}

/** Half random bytes, half mutations of `pool`. */
export function fuzzInput(rng: Rng, pool: readonly Uint8Array[], maxLen = 1500): Uint8Array {
  if (pool.length === 0 || rng.below(3) === 0) return rng.bytes(rng.below(maxLen));
  return mutate(rng, rng.pick(pool), pool, maxLen);
}
