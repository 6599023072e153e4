// transfer-opener.ts — from a TransferRequest to a TransferAccept or a TransferRefuse: the
// per-session cap, the protocol check, the manifest check and hash (in slices), the resume
// decision (resume-table.ts), the native open through the open gate (destination claims,
// resource budget and partial files are the addon's), then the record is bound to the session.
import { createHash, randomBytes } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import { ErrorCodes, type JetrecvError } from '../errors.js';
import { MIN_TRANSFER_PROTOCOL, type BlockRange, type ControlMessage } from '../proto/control.js';
import { OpenGate } from './open-gate.js';
import { validateManifest, type ValidatedManifest } from './manifest-check.js';
import { kSliceItems } from './sliced.js';
import { nowUs, TransferRecord } from './transfer-record.js';
import { sendControl, type ReceiveSession } from './session-table.js';
import type { StoredCheckpoint, StoredFile, TransferStore } from './transfer-store.js';
import type { ReceiverEndpoint } from './endpoint-port.js';
import type { InFlight } from './in-flight.js';
import type { ResumeTable } from './resume-table.js';
import type { TransferProgress } from './transfer-progress.js';
import type { TransferEvents } from './transfer-events.js';
import type { TransferLog } from './transfer-log.js';
import type { RateCaps } from './rate-caps.js';

export type TransferRequest = Extract<ControlMessage, { kind: 'transferRequest' }>;

/** Default of ReceiverOptions.maxTransfersPerSession (docs/PROTOCOL-control.md). */
export const kMaxTransfersPerSession = 8;
/** Native opens at a time (OpenGate), and the keep-alive period toward a sender whose open runs. */
const kConcurrentOpens = 2;
const kOpenKeepAliveMs = 1000;
/** Most TransferAccept.have ranges announced (keeps the accept message small). */
const kMaxHaveRanges = 100_000;

export interface OpenerOptions {
  sandboxRoot: string;
  maxTransfersPerSession: number;
  maxFilesPerTransfer: number;
  /** Shortest checkpoint period honoured, whatever the sender asks. */
  minCheckpointSeconds: number;
  syncOnFinalize: boolean;
  store: TransferStore | undefined;
}

export interface OpenerContext {
  endpoint: ReceiverEndpoint;
  resume: ResumeTable;
  progress: TransferProgress;
  transferLog: TransferLog;
  events: TransferEvents;
  inFlight: InFlight;
  log: Logger;
  /** The session of that index, if it is still in the table. */
  session(localIndex: number): ReceiveSession | undefined;
  /** The receiver is stopping. */
  stopped(): boolean;
  /** A handler threw: the session ends. */
  onFault(session: ReceiveSession, err: unknown): void;
  /** Receive rate limits: refuses senders that cannot take a cap, caps each opened transfer. */
  rateCaps: Pick<RateCaps, 'refusal' | 'apply'>;
}

/**
 * sha256 of what identifies a manifest for resume: a resumed request must match it. The
 * hashed text is JSON.stringify({ d, b, f: [[relPath, size, mode, mtimeMs], ...], e }) (stored
 * records hold hashes of it), fed in slices that yield to the event loop.
 */
export async function manifestHash(m: ValidatedManifest, blockSize: number): Promise<string> {
  const hash = createHash('sha256').update(`{"d":${JSON.stringify(m.destinationPath)},"b":${JSON.stringify(blockSize)},"f":[`);
  for (let start = 0; start < m.files.length; start += kSliceItems) {
    if (start > 0) await nextTurn();
    const slice = m.files.slice(start, start + kSliceItems).map((f) => JSON.stringify([f.relPath, f.size, f.mode, f.mtimeMs]));
    hash.update((start > 0 ? ',' : '') + slice.join(','));
  }
  return hash.update(`],"e":${JSON.stringify(m.emptyDirs)}}`).digest('hex');
}

/** TransferAccept.have from a checkpoint: whole done files, then the held ranges. */
export function haveRanges(doneFiles: number[], ranges: number[], sizes: number[], blockSize: number): BlockRange[] {
  const out: BlockRange[] = [];
  for (const f of doneFiles) {
    const blocks = Math.ceil((sizes[f] ?? 0) / blockSize);
    if (blocks > 0) out.push({ fileIndex: f, firstBlock: 0, blockCount: blocks });
  }
  for (let i = 0; i + 2 < ranges.length; i += 3)
    out.push({ fileIndex: ranges[i]!, firstBlock: ranges[i + 1]!, blockCount: ranges[i + 2]! });
  return out;
}

export class TransferOpener {
  private readonly openGate = new OpenGate(kConcurrentOpens);

  constructor(
    private readonly opts: OpenerOptions,
    private readonly ctx: OpenerContext,
  ) {}

  /** The one refusal path: logged, and a TransferRefuse with a bounded reason goes to the sender. */
  refuse(session: ReceiveSession, transferId: number, code: string, reason: string): void {
    this.ctx.log.warn(
      {
        session: session.localIndex,
        sourceIP: session.address,
        clientPublicKey: session.peerKey,
        transfer: transferId,
        code,
        reason: reason.slice(0, 4096),
      },
      'transfer refused',
    );
    sendControl(session, { kind: 'transferRefuse', transferId, code, reason });
    this.ctx.endpoint.discardEarlyBlocks(session.localIndex, transferId); // its early train, if any
  }

  /** True while the session's sender waits for our answer to a request (its silence then counts from the answer). */
  busy(session: ReceiveSession): boolean {
    return session.validating.size > 0 || [...session.transfers.values()].some((t) => this.ctx.progress.isOpening(t));
  }

  onRequest(session: ReceiveSession, req: TransferRequest): void {
    const refuse = (code: string, reason: string) => this.refuse(session, req.transferId, code, reason);
    if (session.validating.has(req.transferId)) return; // retransmitted while its manifest is checked
    const existing = session.transfers.get(req.transferId);
    if (existing) {
      // A retransmitted request for a transfer we already accepted: answer again.
      // (While a resume is being prepared, the answer comes when it is ready.)
      if (
        existing.status === 'receiving' &&
        existing.wireTransferId === req.transferId &&
        existing.sessionIndex === session.localIndex &&
        existing.manifestHash
      ) {
        sendControl(session, { kind: 'transferAccept', transferId: req.transferId, have: existing.acceptedHave });
      } else if (existing.status !== 'receiving')
        refuse(ErrorCodes.PROTOCOL, `transfer id ${req.transferId} was already used in this session`);
      return;
    }
    // Open transfers and requests still being checked count toward the session's cap.
    let open = session.validating.size;
    for (const t of session.transfers.values()) if (t.status === 'receiving') open++;
    if (open >= this.opts.maxTransfersPerSession) {
      refuse(ErrorCodes.REFUSED, `too many open transfers in one session (max ${this.opts.maxTransfersPerSession})`);
      return;
    }
    if (req.transferProtocol < MIN_TRANSFER_PROTOCOL) {
      refuse(
        ErrorCodes.PROTOCOL,
        `the sender speaks transfer protocol ${req.transferProtocol}; this receiver needs ${MIN_TRANSFER_PROTOCOL} (rate control with path timing): upgrade jetrecv on the sender`,
      );
      return;
    }
    const capRefusal = this.ctx.rateCaps.refusal(req.transferProtocol);
    if (capRefusal !== undefined) {
      refuse(ErrorCodes.PROTOCOL, capRefusal);
      return;
    }
    // The manifest check and its hash run in slices (a million files take seconds).
    session.validating.add(req.transferId);
    void this.ctx.inFlight.track(
      (async () => {
        let manifest: ValidatedManifest;
        let hash: string;
        try {
          manifest = await validateManifest(req, this.opts.maxFilesPerTransfer);
          hash = await manifestHash(manifest, req.blockSize);
        } catch (err) {
          if (this.gone(session)) return;
          const e = err as JetrecvError;
          refuse(e.code ?? ErrorCodes.PATH_INVALID, e.message);
          return;
        } finally {
          session.validating.delete(req.transferId);
        }
        if (this.gone(session)) return;
        this.accept(session, req, manifest, hash);
      })().catch((err: unknown) => this.ctx.onFault(session, err)),
    );
  }

  private gone(session: ReceiveSession): boolean {
    return session.closed || this.ctx.stopped();
  }

  /** A checked manifest: resume or new transfer, native open, then TransferAccept. */
  private accept(session: ReceiveSession, req: TransferRequest, manifest: ValidatedManifest, hash: string): void {
    const uid = Buffer.from(req.transferUid).toString('hex');
    const checkpointMs =
      uid && req.checkpointFrequencySeconds > 0 ? Math.max(this.opts.minCheckpointSeconds, req.checkpointFrequencySeconds) * 1000 : 0;
    const resumeFrom = this.ctx.resume.lookup(session.peerKey, uid, hash, checkpointMs);
    // Placeholder: a retransmitted request during the awaits below is answered as a duplicate.
    const placeholder = new TransferRecord(
      session.localIndex,
      req.transferId,
      session.peerKey,
      session.address,
      session.port,
      `/${manifest.destinationPath}`,
      manifest.totalSize,
      manifest.files.length,
    );
    session.transfers.set(req.transferId, placeholder);
    void this.ctx.inFlight.track(
      (async () => {
        if (resumeFrom) await this.detach(resumeFrom); // final checkpoint of an older session, if live
        if (this.gone(session)) return;
        // The partials' owner: a resume keeps its own, a new transfer gets a fresh one.
        const partialTag = resumeFrom ? resumeFrom.partialTag : randomBytes(8).toString('hex');
        const resume = resumeFrom?.checkpoint ?? undefined;
        try {
          await this.openNative(session, placeholder, () =>
            this.ctx.endpoint.openReceiveTransfer(session.localIndex, req.transferId, {
              root: this.opts.sandboxRoot,
              blockSize: req.blockSize,
              files: manifest.files.map((f) => ({ path: f.relPath, size: f.size, mode: f.mode, mtimeMs: f.mtimeMs })),
              emptyDirs: manifest.emptyDirs,
              resume: resume ? { doneFiles: resume.doneFiles, ranges: resume.ranges } : undefined,
              partialTag,
              resumable: checkpointMs > 0,
              syncOnFinalize: this.opts.syncOnFinalize,
            }),
          );
          if (this.gone(session)) return; // ended during the open: the addon closed it with the session
        } catch (err) {
          if (this.gone(session)) return; // the session ended during the open
          session.transfers.delete(req.transferId);
          const e = err as Error & { code?: string };
          if (!resumeFrom) {
            // Keep a record of the failure (disk full, path escape...) for getTransfers.
            placeholder.fail(e.message);
            this.ctx.transferLog.remember(placeholder);
            this.ctx.transferLog.attach(placeholder);
            this.ctx.events.failed(placeholder);
          }
          this.refuse(session, req.transferId, e.code ?? ErrorCodes.DISK, e.message);
          return;
        }
        if (placeholder.status !== 'receiving') {
          // Cancelled (or failed) while the open ran: over for good, nothing is accepted.
          this.ctx.progress.close(session, placeholder, true);
          if (resumeFrom) this.ctx.resume.forget(resumeFrom);
          else {
            this.ctx.transferLog.remember(placeholder);
            this.ctx.transferLog.attach(placeholder);
          }
          return;
        }
        const record = resumeFrom ?? placeholder;
        let have: BlockRange[] = [];
        if (resumeFrom) {
          resumeFrom.sessionIndex = session.localIndex;
          resumeFrom.wireTransferId = req.transferId;
          resumeFrom.sourceIP = session.address;
          resumeFrom.sourcePort = session.port;
          resumeFrom.reopen();
          have = this.trustedHave(resumeFrom, resume, session, req, manifest);
        } else {
          this.ctx.transferLog.remember(record);
        }
        record.transferUid = uid;
        record.manifestHash = hash;
        record.partialTag = partialTag;
        record.checkpointMs = checkpointMs;
        record.resumable = checkpointMs > 0;
        record.lastCheckpointMs = Date.now();
        record.files = manifest.files.map((f): StoredFile => ({ path: f.relPath, size: f.size }));
        record.transferProtocol = req.transferProtocol;
        record.rateCapBps = 0; // the native transfer is new: no cap yet
        // Resumable: its partials outlive the session; the file list lets retention remove them.
        if (record.resumable && this.opts.store) void this.ctx.inFlight.track(this.opts.store.saveFiles(record.transferId, record.files));
        session.transfers.set(req.transferId, record);
        this.ctx.transferLog.attach(record);
        this.ctx.resume.add(record);
        if (!resumeFrom) {
          this.ctx.log.info(
            {
              transferId: record.transferId,
              session: session.localIndex,
              destinationPath: manifest.destinationPath,
              files: manifest.files.length,
              totalSize: manifest.totalSize,
              checkpointSeconds: checkpointMs / 1000,
            },
            'transfer accepted',
          );
        }
        record.acceptedHave = have;
        this.ctx.rateCaps.apply(); // the first FEEDBACK already carries this transfer's cap
        sendControl(session, { kind: 'transferAccept', transferId: req.transferId, have });
        record.lastSendTime = nowUs();
        // The first checkpoint records what this open restored (or that it starts from zero).
        if (record.resumable) void this.ctx.resume.checkpoint(session.localIndex, record);
        else void this.ctx.resume.persist(record);
        this.ctx.events.started(record, resumeFrom !== undefined);
        this.ctx.progress.releaseFileDones(session, placeholder, record);
        if (manifest.files.length === 0) this.ctx.progress.complete(session, record);
      })()
        .catch((err: unknown) => this.ctx.onFault(session, err))
        .finally(() => this.ctx.progress.releaseFileDones(session, placeholder, null)), // a failed open: held events dropped
    );
  }

  /**
   * What a resumed open announces as held. The addon trusts only what still matches on disk:
   * if it restored fewer blocks than the checkpoint lists, nothing is announced (the receiver
   * NACKs what it lacks). A very fragmented checkpoint is announced in part: the addon holds
   * every block it lists, so anything not announced is resent and dropped as a duplicate.
   */
  private trustedHave(
    record: TransferRecord,
    resume: StoredCheckpoint | undefined,
    session: ReceiveSession,
    req: TransferRequest,
    manifest: ValidatedManifest,
  ): BlockRange[] {
    const st = this.ctx.endpoint.receiveTransferStats(session.localIndex, req.transferId);
    record.rate.rebase(st?.bytesReceived ?? 0); // restored blocks were not received now
    let have = resume
      ? haveRanges(
          resume.doneFiles,
          resume.ranges,
          manifest.files.map((f) => f.size),
          req.blockSize,
        )
      : [];
    const listed = have.reduce((a, r) => a + r.blockCount, 0);
    if (have.length > kMaxHaveRanges) have = have.slice(0, kMaxHaveRanges);
    if (!st || st.blocksResumed !== listed) {
      this.ctx.log.warn(
        { transferId: record.transferId, listed, restored: st?.blocksResumed ?? 0 },
        'checkpoint no longer matches the partial files: those files restart from zero',
      );
      have = [];
    }
    this.ctx.log.info(
      {
        transferId: record.transferId,
        session: session.localIndex,
        blocksResumed: st?.blocksResumed ?? 0,
        bytesHeld: resume?.bytesHeld ?? 0,
      },
      'transfer resumed',
    );
    return have;
  }

  /**
   * Runs a native open (on a worker thread: a huge manifest takes minutes) through the open
   * gate. Meanwhile the session's sender gets a keep-alive every second (its silence rule
   * would otherwise make it reconnect and offer the transfer again), and file-done events of
   * the transfer are held back.
   */
  private async openNative(session: ReceiveSession, placeholder: TransferRecord, open: () => Promise<void>): Promise<void> {
    this.ctx.progress.holdFileDones(placeholder);
    const keepAlive = setInterval(() => session.channel.keepAlive(), kOpenKeepAliveMs);
    try {
      await this.openGate.run(() => (this.gone(session) ? Promise.resolve() : open()));
    } finally {
      clearInterval(keepAlive);
    }
  }

  /**
   * A resumable transfer that is still open in another session (its sender came back before
   * the old session timed out): final checkpoint, then close it there, partials kept.
   */
  private async detach(t: TransferRecord): Promise<void> {
    const old = this.ctx.session(t.sessionIndex);
    if (old && old.transfers.get(t.wireTransferId) === t && t.status === 'receiving') {
      const cp = this.ctx.resume.checkpoint(old.localIndex, t);
      this.ctx.progress.close(old, t, false);
      old.transfers.delete(t.wireTransferId);
      t.fail('the sender resumed this transfer in a new session');
      await cp;
    }
    if (t.checkpointing) await t.checkpointing;
  }
}
