// session-admission.ts — how many sessions the receiver holds, in total, per sender key and
// per source (an IPv4 address or an IPv6 /64, the key the handshake rate limits use). A
// handshake that passed every cryptographic check is admitted only below all three caps, so
// neither one key nor one host (however many keys it makes up) can fill the session table.
import { sourceKey } from '../handshake/source-rate-limiter.js';

/** Why a handshake was not given a session; these are also handshake outcomes. */
export type SessionRefusal = 'max-sessions' | 'max-sessions-per-key' | 'max-sessions-per-source';

export interface SessionCaps {
  /** Sessions in total. */
  maxSessions: number;
  /** Sessions of one sender public key. */
  maxSessionsPerKey: number;
  /** Sessions from one source (IPv4 address or IPv6 /64), whatever their keys. */
  maxSessionsPerSource: number;
}

/** Defaults; see docs/OPERATIONS.md for why they never hurt a legitimate sender. */
export const DEFAULT_SESSION_CAPS: Readonly<SessionCaps> = Object.freeze({
  maxSessions: 4096,
  maxSessionsPerKey: 32,
  maxSessionsPerSource: 64,
});

/** Session counts by key and by source; the caller adds and removes each session exactly once. */
export class SessionAdmission {
  private total = 0;
  private readonly byKey = new Map<string, number>();
  private readonly bySource = new Map<string, number>();

  constructor(readonly caps: Readonly<SessionCaps>) {}

  /** null if one more session of `peerKey` from `address` fits every cap, else the cap it would exceed. */
  check(peerKey: string, address: string): SessionRefusal | null {
    if (this.total >= this.caps.maxSessions) return 'max-sessions';
    if ((this.byKey.get(peerKey) ?? 0) >= this.caps.maxSessionsPerKey) return 'max-sessions-per-key';
    if ((this.bySource.get(sourceKey(address)) ?? 0) >= this.caps.maxSessionsPerSource) return 'max-sessions-per-source';
    return null;
  }

  add(peerKey: string, address: string): void {
    this.total++;
    bump(this.byKey, peerKey, 1);
    bump(this.bySource, sourceKey(address), 1);
  }

  remove(peerKey: string, address: string): void {
    this.total--;
    bump(this.byKey, peerKey, -1);
    bump(this.bySource, sourceKey(address), -1);
  }

  /** The cap behind a refusal, for messages. */
  limitOf(refusal: SessionRefusal): number {
    return refusal === 'max-sessions'
      ? this.caps.maxSessions
      : refusal === 'max-sessions-per-key'
        ? this.caps.maxSessionsPerKey
        : this.caps.maxSessionsPerSource;
  }

  /** Sessions counted (for tests): in total, of one key, from one address's source. */
  count(): number {
    return this.total;
  }
  countOfKey(peerKey: string): number {
    return this.byKey.get(peerKey) ?? 0;
  }
  countOfSource(address: string): number {
    return this.bySource.get(sourceKey(address)) ?? 0;
  }
}

/** Adds `delta` to a count; a count reaching 0 leaves the map (bounded by live sessions). */
function bump(m: Map<string, number>, k: string, delta: number): void {
  const n = (m.get(k) ?? 0) + delta;
  if (n > 0) m.set(k, n);
  else m.delete(k);
}
