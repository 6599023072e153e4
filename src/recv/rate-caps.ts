// rate-caps.ts — receive-side bandwidth limits (JetStream's incoming rate limit): a global cap
// and a per-source cap (a source = a sender public key), enforced by the rate this receiver
// reports to each sender in FEEDBACK (docs/PROTOCOL-transfer.md §3), never by dropping.
// The global cap is shared among the sources with open transfers by max-min fairness (each
// source wants at most its per-source cap); a source's share is split evenly among its open
// transfers; each transfer's cap goes to the addon, which sends it in every FEEDBACK. Caps
// count UDP payload bits (datagram bytes incl. headers), the unit of `jetrecv send --rate-max`.
// Transfer protocol 2 senders cannot decode the cap: they are refused while a limit is set,
// and ones already open when a limit is set live stay uncapped (they never count).
import type { Logger } from 'pino';
import type { ReceiverEndpoint } from './endpoint-port.js';
import type { ReceiveSession } from './session-table.js';
import { TRANSFER_PROTOCOL } from '../proto/control.js';

/** Limits in bits/s; 0 = none. */
export interface BandwidthLimits {
  incomingBps: number;
  incomingPerSourceBps: number;
}

export const NO_LIMITS: BandwidthLimits = { incomingBps: 0, incomingPerSourceBps: 0 };

/**
 * Max-min fair division of `total` among claimants that each want at most `demands[i]`
 * (Infinity = no bound): the smallest demands are met in full, the rest share what remains
 * equally. total 0 = no limit (each gets its demand). Returns one share per demand.
 */
export function maxMinShares(total: number, demands: readonly number[]): number[] {
  if (total <= 0) return [...demands];
  const shares = new Array<number>(demands.length).fill(0);
  const order = demands.map((d, i) => i).sort((a, b) => demands[a]! - demands[b]!);
  let left = total;
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    const fair = left / (order.length - k);
    shares[i] = Math.min(demands[i]!, fair);
    left -= shares[i]!;
  }
  return shares;
}

export class RateCaps {
  private current: BandwidthLimits = NO_LIMITS;
  /** Each source's share (bits/s, Infinity = uncapped) at the last apply, by sender key. */
  private shares = new Map<string, number>();

  constructor(
    private readonly endpoint: Pick<ReceiverEndpoint, 'setReceiveRateCap'>,
    private readonly sessions: () => Iterable<ReceiveSession>,
    private readonly log: Logger,
  ) {}

  get limits(): BandwidthLimits {
    return this.current;
  }

  /** Sets the limits (validated by the caller) and pushes the new caps at once. */
  set(limits: BandwidthLimits): void {
    this.current = { ...limits };
    this.apply();
  }

  /** Why a sender speaking `protocol` is refused now, or undefined. */
  refusal(protocol: number): string | undefined {
    if (protocol >= TRANSFER_PROTOCOL) return undefined;
    if (this.current.incomingBps === 0 && this.current.incomingPerSourceBps === 0) return undefined;
    return `the sender speaks transfer protocol ${protocol}, which cannot take this receiver's rate limit (transfer protocol ${TRANSFER_PROTOCOL}): upgrade jetrecv on the sender`;
  }

  /**
   * Divides the limits among the open transfers and pushes each changed cap to the addon.
   * Called when the limits change, when a transfer opens, and periodically (transfers end).
   */
  apply(): void {
    const bySource = new Map<string, { session: ReceiveSession; transferId: number; capBps: number }[]>();
    for (const s of this.sessions()) {
      for (const [wireId, t] of s.transfers) {
        if (t.status !== 'receiving' || t.sessionIndex !== s.localIndex || t.transferProtocol < TRANSFER_PROTOCOL) continue;
        let list = bySource.get(s.peerKey);
        if (!list) bySource.set(s.peerKey, (list = []));
        list.push({ session: s, transferId: wireId, capBps: t.rateCapBps });
      }
    }
    const keys = [...bySource.keys()];
    const perSource = this.current.incomingPerSourceBps > 0 ? this.current.incomingPerSourceBps : Infinity;
    const shares = maxMinShares(
      this.current.incomingBps,
      keys.map(() => perSource),
    );
    this.shares = new Map(keys.map((k, i) => [k, shares[i]!]));
    keys.forEach((key, i) => {
      const list = bySource.get(key)!;
      const share = shares[i]!;
      // 0 on the wire means "no cap": a capped transfer gets at least 1 bit/s.
      const cap = Number.isFinite(share) ? Math.max(1, Math.floor(share / list.length)) : 0;
      for (const { session, transferId, capBps } of list) {
        if (cap === capBps) continue;
        try {
          this.endpoint.setReceiveRateCap(session.localIndex, transferId, cap);
          session.transfers.get(transferId)!.rateCapBps = cap;
        } catch (err) {
          // Closed natively a moment ago: its record ends with the next event.
          this.log.debug({ session: session.localIndex, transferId, err: (err as Error).message }, 'rate cap not set');
        }
      }
    });
  }

  /**
   * The cap of a source's receive rate now (bits/s; 0 = none): its share of the global cap
   * among the sources with open transfers, bounded by the per-source cap. A source without
   * an open transfer gets what one more source would.
   */
  sourceCapBps(peerKey: string): number {
    const share = this.shares.get(peerKey);
    if (share !== undefined) return Number.isFinite(share) ? Math.floor(share) : 0;
    const perSource = this.current.incomingPerSourceBps > 0 ? this.current.incomingPerSourceBps : Infinity;
    const demands = [...this.shares.keys()].map(() => perSource);
    const next = maxMinShares(this.current.incomingBps, [...demands, perSource]).at(-1)!;
    return Number.isFinite(next) ? Math.floor(next) : 0;
  }
}
