// resume-table.ts — which transfers a sender may resume, and their checkpoints. A transfer is
// resumable by the same sender key with the same transfer uid and the same manifest; while it
// runs, the addon syncs what it holds every checkpoint period and the record with those ranges
// is written to the state directory, so a later open (another session, or after a restart)
// continues from there. Expiry and partial-file removal are resume-retention.ts.
import type { Logger } from 'pino';
import { nowUs, type TransferRecord } from './transfer-record.js';
import type { TransferStore } from './transfer-store.js';
import type { ReceiverEndpoint } from './endpoint-port.js';
import type { InFlight } from './in-flight.js';

export class ResumeTable {
  /** Resumable transfers by `${clientPublicKey}:${transferUid}`. */
  private readonly byUid = new Map<string, TransferRecord>();

  constructor(
    private readonly endpoint: ReceiverEndpoint,
    private readonly store: TransferStore | undefined,
    private readonly inFlight: InFlight,
    private readonly log: Logger,
  ) {}

  /**
   * The transfer a request resumes: the same sender key, uid and manifest hash, still
   * resumable, and the request asks for checkpoints. A uid that comes back with another
   * manifest loses its entry (the request starts a new transfer).
   */
  lookup(peerKey: string, uid: string, hash: string, checkpointMs: number): TransferRecord | undefined {
    if (!uid) return undefined;
    const previous = this.byUid.get(`${peerKey}:${uid}`);
    if (previous && previous.manifestHash !== hash) {
      this.log.warn(
        { transferId: previous.transferId, clientPublicKey: peerKey },
        'a transfer uid came back with a different manifest: starting a new transfer',
      );
      this.byUid.delete(`${peerKey}:${uid}`);
      return undefined;
    }
    return previous && previous.resumable && checkpointMs > 0 ? previous : undefined;
  }

  /** Enters a resumable record (opened or restored) under its sender key and uid. */
  add(t: TransferRecord): void {
    if (t.resumable && t.transferUid) this.byUid.set(keyOf(t), t);
  }

  /** Takes the record out of the table (if it is there); true if it was. */
  delete(t: TransferRecord): boolean {
    if (this.byUid.get(keyOf(t)) !== t) return false;
    this.byUid.delete(keyOf(t));
    return true;
  }

  /** Every resumable record. */
  records(): TransferRecord[] {
    return [...new Set(this.byUid.values())];
  }

  /** The transfer is over for good (complete, failed, cancelled): no resume, record saved. */
  forget(t: TransferRecord): void {
    t.resumable = false;
    t.checkpoint = null;
    t.files = null;
    void this.store?.dropFiles(t.transferId).catch(() => {});
    this.delete(t);
    void this.persist(t);
  }

  /** Writes the record to the state directory (no-op without one, or for a placeholder). */
  persist(t: TransferRecord): Promise<void> {
    if (!this.store || !t.manifestHash) return Promise.resolve();
    return this.inFlight.track(this.store.save(t.transferId, () => t.toStored()));
  }

  /**
   * Checkpoints one open transfer of session `localIndex`: the addon syncs what its bitmaps
   * hold (on a worker thread), then the record with those ranges is written atomically. Must
   * be called while the transfer is still open in the addon; it may be closed right after
   * (the checkpoint then covers everything written before the close).
   */
  checkpoint(localIndex: number, t: TransferRecord): Promise<void> {
    const epoch = t.epoch;
    let native: ReturnType<ReceiverEndpoint['checkpointReceiveTransfer']>;
    try {
      native = this.endpoint.checkpointReceiveTransfer(localIndex, t.wireTransferId);
    } catch {
      return Promise.resolve(); // not open any more: nothing new to record
    }
    t.lastCheckpointMs = Date.now();
    const p = this.inFlight.track(
      native.then(
        async (cp) => {
          if (t.epoch !== epoch || !t.resumable) return;
          // Checkpoints of one open may finish out of order: blocks only accumulate.
          if (t.checkpoint && t.checkpointEpoch === epoch && cp.blocksHeld < t.checkpoint.blocksHeld) return;
          t.checkpoint = { time: nowUs(), ...cp };
          t.checkpointEpoch = epoch;
          await this.persist(t);
        },
        (err: Error & { code?: string }) => {
          // A failed sync also failed the transfer (transferError event): not resumable.
          this.log.error({ transferId: t.transferId, code: err.code, err: err.message }, 'checkpoint failed');
        },
      ),
    );
    t.checkpointing = p;
    void p.finally(() => {
      if (t.checkpointing === p) t.checkpointing = null;
    });
    return p;
  }

  /** Checkpoints `t` (open in session `localIndex`) if it is live, resumable, idle of checkpoints and its period has passed. */
  checkpointIfDue(localIndex: number, t: TransferRecord, nowMs: number): void {
    if (t.status !== 'receiving' || !t.resumable || t.checkpointing || nowMs - t.lastCheckpointMs < t.checkpointMs) return;
    void this.checkpoint(localIndex, t);
  }
}

function keyOf(t: TransferRecord): string {
  return `${t.clientPublicKey}:${t.transferUid}`;
}
