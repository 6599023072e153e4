// transfer-record.ts — what the receiver knows about one incoming transfer, and how it
// is shown through the API (Receive Transfer Structure: timestamps in Unix µs or null).
import { randomBytes } from 'node:crypto';
import { RateWindow } from './rate-window.js';
import type { ReceiveTransferStatus, ReceiveTransferStructure } from '../api/structures.js';

export type TransferStatus = ReceiveTransferStatus;
export type { ReceiveTransferStructure };

/** Microseconds since the Unix epoch. */
export function nowUs(): number {
  return Date.now() * 1000;
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
  readonly rate = new RateWindow();

  constructor(
    readonly sessionIndex: number,
    readonly wireTransferId: number,
    readonly clientPublicKey: string,
    readonly sourceIP: string,
    readonly sourcePort: number,
    readonly destinationPath: string,
    readonly totalSize: number,
    readonly filesTotal: number,
  ) {}

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
      recvRate: Math.round(this.rate.windowBitsPerSecond() / 1000),
      startTime: this.startTime,
      endTime: this.endTime,
      clientPublicKey: this.clientPublicKey,
    };
  }
}
