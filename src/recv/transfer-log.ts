// transfer-log.ts — the transfers and sending servers the API shows (getTransfers,
// getSources): every transfer record up to a count (the oldest finished ones go first), and
// per sender key its sessions, transfers and receive rate.
import { RateWindow } from './rate-window.js';
import { nowUs, type ReceiveTransferStructure, type TransferRecord } from './transfer-record.js';
import type { SourceStructure } from '../proto/api-structures.js';

/** Per sending server (per client public key): what getSources reports. */
interface SourceRecord {
  clientPublicKey: string;
  sourceIP: string;
  sourcePort: number;
  sessions: Set<number>;
  transfers: TransferRecord[];
  rate: RateWindow;
  bytesTotal: number;
  lastRecvTime: number | null;
}

/** A receiving transfer with no block for this long counts as inactive in getSources. */
const kInactiveAfterUs = 5_000_000;

export class TransferLog {
  private readonly records: TransferRecord[] = [];
  private readonly sources = new Map<string, SourceRecord>();

  /** `onEvicted`: a finished record left the log by count (its stored record and partials are the caller's). */
  constructor(
    private readonly maxRecords: number,
    private readonly onEvicted: (t: TransferRecord) => void,
  ) {}

  /** A session of `peerKey` opened from address:port (the source's address is the latest). */
  sessionOpened(peerKey: string, localIndex: number, address: string, port: number): void {
    this.sourceFor(peerKey, address, port).sessions.add(localIndex);
  }

  /** A sender that never had a transfer leaves nothing behind (no record per key ever seen). */
  sessionEnded(peerKey: string, localIndex: number): void {
    const src = this.sources.get(peerKey);
    src?.sessions.delete(localIndex);
    if (src && src.sessions.size === 0 && src.transfers.length === 0) this.sources.delete(peerKey);
  }

  /** A record loaded from the state directory. */
  restore(t: TransferRecord): void {
    this.records.push(t);
    this.sourceFor(t.clientPublicKey, t.sourceIP, t.sourcePort).transfers.push(t);
  }

  /** A new transfer (or a failed open) enters the log; the oldest finished records beyond the count leave it. */
  remember(t: TransferRecord): void {
    this.records.push(t);
    while (this.records.length > this.maxRecords) {
      const idx = this.records.findIndex((r) => r.status !== 'receiving');
      if (idx < 0) break;
      const [gone] = this.records.splice(idx, 1);
      if (!gone) break;
      this.dropFromSources(gone);
      this.onEvicted(gone);
    }
  }

  /** Shows the transfer under its sender (once), if the sender is known. */
  attach(t: TransferRecord): void {
    const src = this.sources.get(t.clientPublicKey);
    if (src && !src.transfers.includes(t)) src.transfers.push(t);
  }

  /** Removes a record from both views. */
  forget(t: TransferRecord): void {
    const i = this.records.indexOf(t);
    if (i >= 0) this.records.splice(i, 1);
    this.dropFromSources(t);
  }

  /** Once a second: each source's bytes, last receive time and rate sample. */
  sample(nowMs: number): void {
    for (const src of this.sources.values()) {
      let bytes = 0;
      let last: number | null = null;
      for (const t of src.transfers) {
        bytes += t.bytesReceived;
        if (t.lastRecvTime !== null && (last === null || t.lastRecvTime > last)) last = t.lastRecvTime;
      }
      src.bytesTotal = bytes;
      src.lastRecvTime = last;
      src.rate.sample(bytes, nowMs);
    }
  }

  transfers(): ReceiveTransferStructure[] {
    return this.records.map((t) => t.toStructure());
  }

  /** Each source's figures; the receiver adds its rate limit (rate-caps.ts). */
  sourceViews(destinationPublicKey: string): Omit<SourceStructure, 'recvRateLimit'>[] {
    const out: Omit<SourceStructure, 'recvRateLimit'>[] = [];
    const idleCutoff = nowUs() - kInactiveAfterUs;
    for (const src of this.sources.values()) {
      const count = (st: string) => src.transfers.filter((t) => t.status === st).length;
      const receiving = src.transfers.filter((t) => t.status === 'receiving');
      const inactive = receiving.filter((t) => (t.lastRecvTime ?? t.startTime) < idleCutoff).length;
      out.push({
        activeTransferCount: receiving.length - inactive,
        inactiveTransferCount: inactive,
        completeTransferCount: count('complete'),
        errorTransferCount: count('error'),
        aveRecvRate: Math.round(src.rate.averageBitsPerSecond() / 1000),
        aveRecvRateWindow: Math.round(src.rate.windowBitsPerSecond() / 1000),
        destinationPublicKey,
        encryptedConnectionState: src.sessions.size > 0 ? 'connected' : 'disconnected',
        encryptionEnabled: true,
        sourceIP: src.sourceIP,
        sourcePort: src.sourcePort,
        clientPublicKey: src.clientPublicKey,
        bytesReceived: src.bytesTotal,
        lastRecvTime: src.lastRecvTime,
      });
    }
    return out;
  }

  /** Records by status. */
  counts(): { receiving: number; complete: number; error: number } {
    const out = { receiving: 0, complete: 0, error: 0 };
    for (const t of this.records) out[t.status]++;
    return out;
  }

  private sourceFor(peerKey: string, address: string, port: number): SourceRecord {
    let src = this.sources.get(peerKey);
    if (!src) {
      src = {
        clientPublicKey: peerKey,
        sourceIP: address,
        sourcePort: port,
        sessions: new Set(),
        transfers: [],
        rate: new RateWindow(),
        bytesTotal: 0,
        lastRecvTime: null,
      };
      this.sources.set(peerKey, src);
    }
    src.sourceIP = address;
    src.sourcePort = port;
    return src;
  }

  private dropFromSources(t: TransferRecord): void {
    for (const src of this.sources.values()) {
      const i = src.transfers.indexOf(t);
      if (i >= 0) src.transfers.splice(i, 1);
    }
  }
}
