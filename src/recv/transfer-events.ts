// transfer-events.ts — the one typed source of transfer events: started, file complete,
// transfer complete, failed, cancelled. The receiver's parts emit at the points where the
// state changes (transfer-opener: accepted; transfer-progress: file done, complete, failed,
// cancelled, ended with its session); consumers outside src/recv (hooks, the API's event
// stream) subscribe. Each event carries the Receive Transfer Structure as the API shows it.
// Emitting is synchronous and cheap: a listener must only queue work, never block, and a
// listener that throws is logged and skipped, so no consumer can break or slow a transfer.
import type { Logger } from 'pino';
import { nowUs, type ReceiveTransferStructure, type TransferRecord } from './transfer-record.js';

/** Every event type, in lifecycle order. */
export const TRANSFER_EVENT_TYPES = ['transferStarted', 'fileComplete', 'transferComplete', 'transferFailed', 'transferCancelled'] as const;
export type TransferEventType = (typeof TRANSFER_EVENT_TYPES)[number];

/** The file a `fileComplete` event is about. */
export interface TransferEventFile {
  /** Index in the manifest. */
  index: number;
  /** Path beneath the sandbox root, as written (destinationPath included); null if not known here. */
  path: string | null;
  size: number | null;
}

/** One transfer event (JSON of hooks, webhooks and GET /api/v1/events; docs/API.md). */
export interface TransferEvent {
  type: TransferEventType;
  /** When it happened (Unix µs). */
  time: number;
  /** The transfer right after the change. */
  transfer: ReceiveTransferStructure;
  /** `fileComplete` only. */
  file?: TransferEventFile;
  /** `transferStarted` only: true when the sender resumed an earlier transfer. */
  resumed?: boolean;
}

export type TransferEventListener = (event: TransferEvent) => void;

/** Subscription side, as consumers see it. */
export interface TransferEventSource {
  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: TransferEventListener): () => void;
}

export class TransferEvents implements TransferEventSource {
  private readonly listeners = new Set<TransferEventListener>();

  constructor(private readonly log: Logger) {}

  subscribe(listener: TransferEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  started(t: TransferRecord, resumed: boolean): void {
    this.emit(t, 'transferStarted', { resumed });
  }

  fileComplete(t: TransferRecord, index: number): void {
    const f = t.files?.[index];
    this.emit(t, 'fileComplete', { file: { index, path: f ? f.path : null, size: f ? f.size : null } });
  }

  complete(t: TransferRecord): void {
    this.emit(t, 'transferComplete');
  }

  failed(t: TransferRecord): void {
    this.emit(t, 'transferFailed');
  }

  cancelled(t: TransferRecord): void {
    this.emit(t, 'transferCancelled');
  }

  private emit(t: TransferRecord, type: TransferEventType, extra: Pick<TransferEvent, 'file' | 'resumed'> = {}): void {
    if (this.listeners.size === 0) return;
    const event: TransferEvent = { type, time: nowUs(), transfer: t.toStructure(), ...extra };
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.log.error({ type, transferId: t.transferId, err: (err as Error).message }, 'a transfer event listener threw; skipped');
      }
    }
  }
}
