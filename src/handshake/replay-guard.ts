// replay-guard.ts — the per-initiator-key timestamp check that refuses replayed INITs.
// Remembers the greatest accepted TAI64N timestamp per initiator static key. Bounded: at
// most `maxKeys` entries, least recently accepted evicted first. Eviction (or a restart)
// forgets a key's timestamp, after which an old INIT of that key could be accepted once
// more; that yields a session nobody but the real sender can use. Only authorized keys
// reach this table, so the default cap exceeds any realistic authorized-clients list.
import { compareBytes } from './packets.js';

/** Default number of initiator keys remembered. */
export const DEFAULT_MAX_REPLAY_KEYS = 65536;

export class ReplayGuard {
  private readonly latest = new Map<string, Uint8Array>();

  constructor(private readonly maxKeys = DEFAULT_MAX_REPLAY_KEYS) {
    if (!Number.isInteger(maxKeys) || maxKeys < 1) {
      throw new RangeError(`maxKeys must be a positive integer, got ${maxKeys}`);
    }
  }

  /** True if `timestamp` is strictly greater than every one accepted for `publicKey`. */
  isFresh(publicKey: Uint8Array, timestamp: Uint8Array): boolean {
    const seen = this.latest.get(keyOf(publicKey));
    return seen === undefined || compareBytes(timestamp, seen) > 0;
  }

  /** Record `timestamp` as the greatest accepted for `publicKey` (call only after isFresh). */
  accept(publicKey: Uint8Array, timestamp: Uint8Array): void {
    const key = keyOf(publicKey);
    this.latest.delete(key);
    if (this.latest.size >= this.maxKeys) {
      const oldest = this.latest.keys().next().value;
      if (oldest !== undefined) this.latest.delete(oldest);
    }
    this.latest.set(key, timestamp.slice());
  }

  get size(): number {
    return this.latest.size;
  }
}

function keyOf(publicKey: Uint8Array): string {
  return Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.length).toString('base64');
}
