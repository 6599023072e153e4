// transfer-record.ts — what the receiver knows about one incoming transfer, and how it
// is shown through the API (Receive Transfer Structure: timestamps in Unix µs or null).
import { randomBytes } from 'node:crypto';
import { RateWindow } from './rate-window.js';
import type { StoredCheckpoint, StoredFile, StoredTransfer } from './transfer-store.js';
import type { ReceiveTransferStatus, ReceiveTransferStructure } from '../proto/api-structures.js';
import type { BlockRange } from '../proto/control.js';

export type TransferStatus = ReceiveTransferStatus;
export type { ReceiveTransferStructure };

/** Microseconds since the Unix epoch. */
export function nowUs(): number {
  return Date.now() * 1000;
}

/** Latest activity of a transfer (Unix µs): start, last block, last message, error, end or checkpoint. */
export function lastActivityTime(
  t: Pick<StoredTransfer, 'startTime' | 'endTime' | 'lastRecvTime' | 'lastSendTime' | 'lastErrorTime' | 'checkpoint'>,
): number {
  return Math.max(t.startTime, t.endTime ?? 0, t.lastRecvTime ?? 0, t.lastSendTime ?? 0, t.lastErrorTime ?? 0, t.checkpoint?.time ?? 0);
}

/**
 * Resume retention: true when a resumable transfer that is not running has had no activity
 * for longer than `retentionMs` (0 = keep forever). Receiving or non-resumable records never
 * expire this way (finished ones are bounded by the record count instead).
 */
export function resumeExpired(
  t: Pick<
    StoredTransfer,
    'status' | 'resumable' | 'startTime' | 'endTime' | 'lastRecvTime' | 'lastSendTime' | 'lastErrorTime' | 'checkpoint'
  >,
  nowMicros: number,
  retentionMs: number,
): boolean {
  if (retentionMs <= 0 || !t.resumable || t.status === 'receiving') return false;
  return nowMicros - lastActivityTime(t) > retentionMs * 1000;
}

export class TransferRecord {
  /** API-visible id: 32 hex characters, unique per receiver. */
  readonly transferId = randomBytes(16).toString('hex');
  status: TransferStatus = 'receiving';
  errorMessage = '';
  filesDone = 0;
  bytesReceived = 0;
  lastErrorTime: number | null = null;
  lastRecvTime: number | null = null;
  lastSendTime: number | null = null;
  readonly startTime = nowUs();
  endTime: number | null = null;
  /** Sampled by the receiver while receiving; bytes count from the start. */
  readonly rate = new RateWindow(Math.floor(this.startTime / 1000));

  // ---- checkpoint / resume (src/recv/receiver.ts) ----
  /** Hex of the sender's transfer_uid ('' = not resumable). */
  transferUid = '';
  manifestHash = '';
  /** Owner tag of this transfer's partial files (`.name.<tag>.jrpart`); kept across resumes ('' = legacy untagged). */
  partialTag = '';
  /** The `have` ranges of the TransferAccept sent for this open (a repeated request gets the same answer). */
  acceptedHave: BlockRange[] = [];
  /** Checkpoint period in ms (0 = no checkpoints). */
  checkpointMs = 0;
  /** Partials are kept and `checkpoint` describes them: the sender may resume. */
  resumable = false;
  checkpoint: StoredCheckpoint | null = null;
  /** Bumped at each (re)open: checkpoint results of an older open are ignored. */
  epoch = 0;
  /** Epoch of the open that produced `checkpoint`. */
  checkpointEpoch = -1;
  lastCheckpointMs = 0;
  checkpointing: Promise<void> | null = null;
  /** Files of the open (paths beneath the sandbox root), while it may leave partials; null = unknown here. */
  files: StoredFile[] | null = null;

  // ---- receive-side rate limits (src/recv/rate-caps.ts), per open ----
  /** Transfer protocol of the sender of this open (0 = not open here). */
  transferProtocol = 0;
  /** The rate cap last pushed to the addon for this open, bits/s (0 = none). */
  rateCapBps = 0;

  /** Session and wire id change when a sender resumes the transfer in a new session. */
  constructor(
    public sessionIndex: number,
    public wireTransferId: number,
    readonly clientPublicKey: string,
    public sourceIP: string,
    public sourcePort: number,
    readonly destinationPath: string,
    readonly totalSize: number,
    readonly filesTotal: number,
  ) {}

  /** A record loaded from the state directory (no session). */
  static restore(s: StoredTransfer): TransferRecord {
    const r = new TransferRecord(0, 0, s.clientPublicKey, s.sourceIP, s.sourcePort, s.destinationPath, s.totalSize, s.filesTotal);
    const w = r as unknown as { transferId: string; startTime: number };
    w.transferId = s.transferId;
    w.startTime = s.startTime;
    Object.assign(r, {
      status: s.status,
      errorMessage: s.errorMessage,
      filesDone: s.filesDone,
      bytesReceived: s.bytesReceived,
      endTime: s.endTime,
      lastErrorTime: s.lastErrorTime,
      lastRecvTime: s.lastRecvTime,
      lastSendTime: s.lastSendTime,
      transferUid: s.transferUid,
      manifestHash: s.manifestHash,
      partialTag: s.partialTag ?? '',
      resumable: s.resumable,
      checkpoint: s.checkpoint,
    });
    return r;
  }

  /** What the state directory keeps about this transfer. */
  toStored(): StoredTransfer {
    return {
      transferId: this.transferId,
      transferUid: this.transferUid,
      clientPublicKey: this.clientPublicKey,
      manifestHash: this.manifestHash,
      partialTag: this.partialTag,
      destinationPath: this.destinationPath,
      sourceIP: this.sourceIP,
      sourcePort: this.sourcePort,
      status: this.status,
      errorMessage: this.errorMessage,
      totalSize: this.totalSize,
      filesTotal: this.filesTotal,
      filesDone: this.filesDone,
      bytesReceived: this.bytesReceived,
      startTime: this.startTime,
      endTime: this.endTime,
      lastErrorTime: this.lastErrorTime,
      lastRecvTime: this.lastRecvTime,
      lastSendTime: this.lastSendTime,
      resumable: this.resumable,
      checkpoint: this.resumable ? this.checkpoint : null,
    };
  }

  /** A resumed transfer is receiving again: error state cleared. */
  reopen(): void {
    this.status = 'receiving';
    this.errorMessage = '';
    this.endTime = null;
    this.filesDone = 0; // recounted from the fileDone events of the new open
    this.epoch++;
  }

  fail(message: string): void {
    if (this.status !== 'receiving') return;
    this.status = 'error';
    this.errorMessage = message;
    this.lastErrorTime = nowUs();
    this.endTime = this.lastErrorTime;
  }

  /** Every file is finalized: every byte is in, whatever the last stats sample said. */
  complete(): void {
    if (this.status !== 'receiving') return;
    this.status = 'complete';
    this.bytesReceived = this.totalSize;
    this.endTime = nowUs();
  }

  toStructure(): ReceiveTransferStructure {
    return {
      transferId: this.transferId,
      destinationPath: this.destinationPath,
      sourceIP: this.sourceIP,
      sourcePort: this.sourcePort,
      status: this.status,
      totalSize: this.totalSize,
      lastErrorTime: this.lastErrorTime,
      lastRecvTime: this.lastRecvTime,
      lastSendTime: this.lastSendTime,
      errorMessage: this.errorMessage,
      bytesReceived: this.bytesReceived,
      filesTotal: this.filesTotal,
      filesDone: this.filesDone,
      // A live figure: the rate over the recent window while receiving, 0 once finished.
      recvRate: this.status === 'receiving' ? Math.round(this.rate.windowBitsPerSecond() / 1000) : 0,
      startTime: this.startTime,
      endTime: this.endTime,
      clientPublicKey: this.clientPublicKey,
    };
  }
}
