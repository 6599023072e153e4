// transfer-progress.ts — an open transfer from its TransferAccept to its end: file-done events
// (batched into FilesDone), completion, data-path errors, cancellation, the figures the addon
// keeps (bytes, last receive and send times, rate), and the end of the transfers of an ending
// session. Transfers of a session live in session.transfers, keyed by wire id.
import type { Logger } from 'pino';
import { ErrorCodes } from '../errors.js';
import { nowUs, type TransferRecord } from './transfer-record.js';
import { sendControl, type ReceiveSession } from './session-table.js';
import type { ReceiverEndpoint } from './endpoint-port.js';
import type { ResumeTable } from './resume-table.js';
import type { TransferEvents } from './transfer-events.js';

/** Most file indexes in one FilesDone message. */
const kFilesDoneBatch = 512;

export class TransferProgress {
  /**
   * Transfers whose native open runs, with the file-done events that arrived meanwhile (empty
   * files, resumed complete files): replayed once the transfer is accepted, so FilesDone never
   * precedes TransferAccept.
   */
  private readonly opening = new Map<TransferRecord, number[]>();

  constructor(
    private readonly endpoint: ReceiverEndpoint,
    private readonly resume: ResumeTable,
    private readonly log: Logger,
    private readonly events: TransferEvents,
  ) {}

  /** The native open of `placeholder` starts: its file-done events are held back. */
  holdFileDones(placeholder: TransferRecord): void {
    this.opening.set(placeholder, []);
  }

  isOpening(t: TransferRecord): boolean {
    return this.opening.has(t);
  }

  /** The open is over; `record` was accepted in its place (or null): the held-back events are replayed for it. */
  releaseFileDones(session: ReceiveSession, placeholder: TransferRecord, record: TransferRecord | null): void {
    const early = this.opening.get(placeholder) ?? [];
    this.opening.delete(placeholder);
    if (record) for (const file of early) this.onFileDone(session, record.wireTransferId, file);
  }

  onFileDone(session: ReceiveSession, wireTransferId: number, file: number): void {
    const t = session.transfers.get(wireTransferId);
    if (!t || t.status !== 'receiving') return;
    const early = this.opening.get(t);
    if (early) {
      early.push(file); // the open has not answered yet: replayed after TransferAccept
      return;
    }
    t.filesDone++;
    this.events.fileComplete(t, file);
    let pending = session.pendingFilesDone.get(wireTransferId);
    if (!pending) session.pendingFilesDone.set(wireTransferId, (pending = []));
    pending.push(file);
    this.scheduleFlush(session);
    if (t.filesDone >= t.filesTotal) this.complete(session, t);
  }

  /** One flush per turn of the event loop, however many files finished in it. */
  private scheduleFlush(session: ReceiveSession): void {
    if (session.flushScheduled) return;
    session.flushScheduled = true;
    setImmediate(() => {
      session.flushScheduled = false;
      this.flushFilesDone(session);
    });
  }

  /** Sends FilesDone for every file finalized since the last flush, in batches. */
  flushFilesDone(session: ReceiveSession): void {
    for (const [transferId, files] of session.pendingFilesDone) {
      for (let i = 0; i < files.length; i += kFilesDoneBatch) {
        sendControl(session, { kind: 'filesDone', transferId, fileIndex: files.slice(i, i + kFilesDoneBatch) });
      }
    }
    session.pendingFilesDone.clear();
  }

  /** Every file is final: the transfer closes (partials none), TransferDone goes out. */
  complete(session: ReceiveSession, t: TransferRecord): void {
    this.refreshStats(session, t);
    this.flushFilesDone(session);
    this.close(session, t, false);
    t.complete();
    this.resume.forget(t);
    sendControl(session, { kind: 'transferDone', transferId: t.wireTransferId, bytes: t.totalSize, files: t.filesTotal });
    t.lastSendTime = nowUs();
    this.events.complete(t);
    this.log.info(
      { transferId: t.transferId, bytes: t.totalSize, files: t.filesTotal, seconds: ((t.endTime ?? 0) - t.startTime) / 1e6 },
      'transfer complete',
    );
  }

  /** The data path failed the transfer: partials removed (a full disk gets its space back), the sender told. */
  onError(session: ReceiveSession, wireTransferId: number, message: string, code: string): void {
    const t = session.transfers.get(wireTransferId);
    if (!t || t.status !== 'receiving') return;
    this.refreshStats(session, t);
    this.close(session, t, true);
    t.fail(message);
    this.resume.forget(t);
    this.events.failed(t);
    this.log.error({ transferId: t.transferId, code, err: message }, 'transfer failed');
    sendControl(session, { kind: 'transferError', transferId: wireTransferId, code, message });
  }

  /** The sender cancelled: partials removed, no resume. */
  cancel(session: ReceiveSession, wireTransferId: number, reason: string): void {
    const t = session.transfers.get(wireTransferId);
    if (!t || t.status !== 'receiving') return;
    this.close(session, t, true);
    t.fail(`cancelled by sender: ${reason || 'no reason given'}`);
    this.resume.forget(t);
    this.events.cancelled(t);
    this.log.info({ transferId: t.transferId, reason }, 'transfer cancelled by sender');
  }

  /** Closes the transfer in the addon (a failure is logged: it may be gone already). */
  close(session: ReceiveSession, t: TransferRecord, removePartials: boolean): void {
    try {
      this.endpoint.closeReceiveTransfer(session.localIndex, t.wireTransferId, removePartials);
    } catch (err) {
      this.log.warn({ transferId: t.transferId, err: (err as Error).message }, 'closing transfer failed');
    }
  }

  /** Bytes, last receive and send times from the addon. */
  refreshStats(session: ReceiveSession, t: TransferRecord): void {
    const st = this.endpoint.receiveTransferStats(session.localIndex, t.wireTransferId);
    if (!st) return;
    t.bytesReceived = st.bytesReceived;
    if (st.lastRecvUs > 0) t.lastRecvTime = st.lastRecvUs;
    // The addon sends this open transfer's feedback (NACK, rate) on its session: send activity.
    const lastSendUs = this.endpoint.sessionStats(session.localIndex)?.lastSendUs ?? 0;
    if (lastSendUs > (t.lastSendTime ?? 0)) t.lastSendTime = lastSendUs;
  }

  /** Once a second per session: figures and rate samples; after an event-queue overflow, the addon's state decides. */
  sample(session: ReceiveSession, nowMs: number, eventsLost: boolean): void {
    for (const t of session.transfers.values()) {
      if (t.status !== 'receiving') continue;
      this.refreshStats(session, t);
      t.rate.sample(t.bytesReceived, nowMs);
      if (eventsLost) this.recoverLostEvents(session, t);
    }
  }

  /**
   * The session ends: its unfinished transfers fail with `reason`. A resumable one gets a final
   * checkpoint first (it completes after the addon closed the transfer) and stays resumable:
   * its sender may come back with the same transfer uid.
   */
  endWithSession(session: ReceiveSession, reason: string): void {
    this.flushFilesDone(session);
    for (const t of session.transfers.values()) {
      if (t.status !== 'receiving' || t.sessionIndex !== session.localIndex) continue;
      this.refreshStats(session, t);
      if (t.resumable) void this.resume.checkpoint(session.localIndex, t);
      t.fail(reason);
      if (!t.resumable) void this.resume.persist(t);
      this.events.failed(t);
      this.log.warn({ transferId: t.transferId, reason, resumable: t.resumable }, 'transfer ended with its session');
    }
  }

  /**
   * Backstop once the native event queue has overflowed (file-done or error events may be
   * gone): the addon's own figures decide. A transfer whose files the addon has all
   * finalized completes; one the addon marked failed fails.
   */
  private recoverLostEvents(session: ReceiveSession, t: TransferRecord): void {
    const st = this.endpoint.receiveTransferStats(session.localIndex, t.wireTransferId);
    if (!st || t.status !== 'receiving') return;
    if (st.failed) {
      this.log.warn({ transferId: t.transferId }, 'transfer failed in the data path and its error event was lost');
      this.onError(
        session,
        t.wireTransferId,
        'the transfer failed in the data path (its error event was lost when the native event queue overflowed)',
        ErrorCodes.DISK,
      );
    } else if (st.filesDone >= t.filesTotal && t.filesDone < t.filesTotal) {
      this.log.warn(
        { transferId: t.transferId, filesDone: t.filesDone, filesTotal: t.filesTotal },
        'every file is final but file-done events were lost: completing the transfer',
      );
      this.flushFilesDone(session);
      t.filesDone = t.filesTotal;
      this.complete(session, t);
    }
  }
}
