// receiver.ts — the receiving side of jetrecv: answers authorized handshakes, runs the
// control channel of each session, opens transfers beneath the sandbox and tracks them
// until every file is finalized. Data packets never reach this file: the addon writes
// blocks to disk and reports file completion and errors as batched events. The Receiver
// owns the endpoint, dispatches its events and control messages, runs the timers and the
// stop; the work is done by its parts, a file per concern (assembled in receiver-parts.ts):
// handshake-intake (responder, outcomes), session-table (caps, lingering refusals,
// liveness), transfer-opener (request to accept), transfer-progress (accept to end),
// resume-table and resume-retention (checkpoints, partials), transfer-log (the API's views),
// rate-caps (receive rate limits: each transfer's cap, sent to its sender in FEEDBACK).
// They reach the addon only through the port of endpoint-port.ts.
import { realpathSync, mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import {
  DEFAULT_EARLY_BLOCK_BYTES,
  DEFAULT_EVENT_QUEUE_CAPACITY,
  Endpoint,
  releaseFreeHeapMemory,
  removeStalePartial,
  sweepPartials,
  type ReceiverEvent,
  type CipherName,
} from '../addon/endpoint.js';
import { mac1Key } from '../handshake/packets.js';
import { encodeKey, type KeyPair } from '../keys/key-encoding.js';
import { decodeControl, loadControlCodec, type ControlMessage } from '../proto/control.js';
import type { SendErrorCounts } from '../addon/send-policy.js';
import { kMaxDatagram } from '../addon/limits.js';
import { TransferRecord, type ReceiveTransferStructure } from './transfer-record.js';
import type { HandshakeOutcome } from './handshake-intake.js';
import type { ReceiveSession } from './session-table.js';
import { kDefaultResumeRetentionMs } from './resume-retention.js';
import { assembleReceiverParts, type ReceiverParts } from './receiver-parts.js';
import type { SourceStructure } from '../proto/api-structures.js';
import type { TransferStore, StoredTransfer } from './transfer-store.js';
import type { BandwidthLimits } from './rate-caps.js';
import type { TransferEventSource } from './transfer-events.js';

/** The slice of the authorized-clients store the handshake needs. */
export interface SenderAuthorization {
  isAllowed(publicKey: Uint8Array): boolean;
}

export interface ReceiverOptions {
  sandboxDir: string;
  recvHost: string;
  recvPort: number;
  rxThreads: number;
  rcvbufBytes: number;
  /** O_DIRECT writes of large files on disk file systems (default 'auto'); see EndpointOptions.directIo. */
  directIo?: 'auto' | 'off';
  /** O_DIRECT writer threads, 1..16 (default 2); see EndpointOptions.directIoThreads. */
  directIoThreads?: number;
  /** Bookkeeping memory one transfer / all live transfers may reserve (EndpointOptions; defaults 256 MiB / 1 GiB). */
  maxTransferMemory?: number;
  maxReceiveMemory?: number;
  /**
   * BLOCK bytes held per session for a transfer not accepted yet: a sender's first train sent
   * behind its TransferRequest (docs/PROTOCOL-control.md "Early blocks"). Default 2 MiB
   * (DEFAULT_EARLY_BLOCK_BYTES), 0 = off: senders are not told to send early and such blocks
   * are dropped.
   */
  earlyBlockBytes?: number;
  serverKeys: KeyPair;
  authorization: SenderAuthorization;
  minCipher: CipherName;
  logger: Logger;
  /** A session with no packet from its sender for this long is closed. */
  sessionTimeoutMs?: number;
  feedbackIntervalMs?: number;
  /** Completed or failed transfer records kept for the API. */
  maxTransferRecords?: number;
  /** Sessions in total, of one sender key, from one source (IPv4 address or IPv6 /64); see session-admission.ts. */
  maxSessions?: number;
  maxSessionsPerKey?: number;
  maxSessionsPerSource?: number;
  /** A session with no transfer open (never opened one, or all ended) for this long is closed (default 10 s). */
  noTransferTimeoutMs?: number;
  /**
   * Open (receiving) transfers one session may hold (default 8). `jetrecv send` opens one;
   * each open transfer costs a FEEDBACK stream, fd cache slots and a share of the budget.
   */
  maxTransfersPerSession?: number;
  /** A manifest listing more files is refused (default kMaxFilesPerTransfer, the protocol's limit). */
  maxFilesPerTransfer?: number;
  /** Where transfer records and checkpoints persist (none: memory only). */
  transferStore?: TransferStore;
  /** Records loaded from the store at start (see TransferStore.open). */
  restoredTransfers?: StoredTransfer[];
  /** Shortest checkpoint period honoured, whatever the sender asks (default 1 s). */
  minCheckpointSeconds?: number;
  /** INITs per second given the DH work before cookies are required (HandshakeResponderOptions.loadThreshold; default 50). */
  handshakeLoadThreshold?: number;
  /** Bound of the native event queue (default DEFAULT_EVENT_QUEUE_CAPACITY); tests set it low to force overflows. */
  eventQueueCapacity?: number;
  /**
   * A resumable transfer not running and idle this long is dropped with its partial files
   * (default 7 days; 0 = keep forever). Checked at start, then every min(1 h, retention).
   */
  resumeRetentionMs?: number;
  /**
   * Default true: a file is durable (data synced, renamed, directory synced) before it gets its final
   * name's fileDone and before TransferDone. false: rename only, for scratch space (--no-sync-on-finalize).
   */
  syncOnFinalize?: boolean;
  /** Receive rate limits at start (bits/s, 0 = none; see rate-caps.ts); changed live by setBandwidthLimits. */
  bandwidthLimits?: BandwidthLimits;
}

/** After this many sessions closed, freed heap memory is handed back to the kernel (next tick). */
const kTrimAfterClosedSessions = 64;

export class Receiver {
  readonly endpoint: Endpoint<'receiver'>;
  readonly sandboxRoot: string;
  private readonly parts: ReceiverParts;
  private readonly log: Logger;
  private readonly tick: NodeJS.Timeout;
  private readonly checkpointTimer: NodeJS.Timeout;
  private closed = false;
  /** Set once the native event queue overflowed: onTick then reconciles transfers with the addon. */
  private nativeEventsLost = false;
  private closedSinceTrim = 0;
  private shutdownPromise: Promise<void> | null = null;

  constructor(private readonly options: ReceiverOptions) {
    const o = options;
    this.log = o.logger.child({ component: 'receiver' });
    mkdirSync(o.sandboxDir, { recursive: true, mode: 0o750 });
    this.sandboxRoot = realpathSync(o.sandboxDir);
    loadControlCodec(); // now, not between a sender's handshake and its TransferRequest
    this.endpoint = new Endpoint(
      {
        role: 'receiver',
        bindAddress: o.recvHost,
        port: o.recvPort,
        sockets: o.rxThreads,
        rcvbufBytes: o.rcvbufBytes,
        sndbufBytes: 4 << 20,
        maxDatagram: kMaxDatagram,
        feedbackIntervalMs: o.feedbackIntervalMs ?? 10,
        directIo: o.directIo ?? 'auto',
        directIoThreads: o.directIoThreads ?? 2,
        txThreads: 1,
        eventQueueCapacity: o.eventQueueCapacity ?? DEFAULT_EVENT_QUEUE_CAPACITY,
        handshakeMac1Key: mac1Key(o.serverKeys.publicKey),
        ...(o.maxTransferMemory !== undefined ? { maxTransferMemory: o.maxTransferMemory } : {}),
        ...(o.maxReceiveMemory !== undefined ? { maxReceiveMemory: o.maxReceiveMemory } : {}),
        earlyBlockBytes: o.earlyBlockBytes ?? DEFAULT_EARLY_BLOCK_BYTES,
      },
      (ev) => this.onEvent(ev),
    );
    this.parts = assembleReceiverParts(
      {
        ...o,
        sandboxRoot: this.sandboxRoot,
        earlyBlockBytes: o.earlyBlockBytes ?? DEFAULT_EARLY_BLOCK_BYTES,
        handshake: {
          staticKeys: o.serverKeys,
          minCipher: o.minCipher,
          isAuthorized: (key) => o.authorization.isAllowed(key),
          loadThreshold: o.handshakeLoadThreshold,
        },
      },
      {
        endpoint: this.endpoint,
        partials: { removeStalePartial, sweepPartials },
        log: this.log,
        stopped: () => this.closed,
        onControl: (s, bytes) => this.onControl(s, bytes),
        onFault: (s, err) => this.onSessionFault(s, err),
        onSessionEnded: () => this.closedSinceTrim++,
      },
    );
    this.tick = setInterval(() => this.onTick(), 1000);
    this.tick.unref();
    if (o.bandwidthLimits) this.parts.rateCaps.set(o.bandwidthLimits);
    this.checkpointTimer = setInterval(() => this.checkpointDue(), 200);
    this.checkpointTimer.unref();
    for (const stored of o.restoredTransfers ?? []) this.restoreTransfer(stored);
    this.parts.retention.sweepOrphans();
    this.parts.retention.setRetention(o.resumeRetentionMs ?? kDefaultResumeRetentionMs);
  }

  /** The UDP data port actually bound. */
  get port(): number {
    return this.endpoint.localPort();
  }

  get publicKey(): string {
    return encodeKey(this.options.serverKeys.publicKey);
  }

  counters(): Record<string, number> {
    return this.endpoint.counters();
  }

  /** Handshake packets handled by the responder since start, by outcome (every outcome listed, 0 included). */
  handshakeCounts(): Record<HandshakeOutcome, number> {
    return this.parts.handshakes.counts();
  }

  /** Send errors of every native send since start (see send-policy.ts). */
  sendErrors(): SendErrorCounts {
    return this.parts.sends.stats();
  }

  // ---- events from the addon ------------------------------------------------

  private onEvent(ev: ReceiverEvent): void {
    switch (ev.type) {
      case 'handshake':
        if (!this.closed) this.parts.handshakes.consume(ev.address, ev.port, ev.packet);
        break;
      case 'control':
        this.parts.sessions.receive(ev.session, ev.payload);
        break;
      case 'fileDone': {
        const s = this.parts.sessions.get(ev.session);
        if (s) this.parts.progress.onFileDone(s, ev.transfer, ev.file);
        break;
      }
      case 'transferError': {
        const s = this.parts.sessions.get(ev.session);
        if (s) this.parts.progress.onError(s, ev.transfer, `${ev.message}`, ev.code);
        break;
      }
      case 'overflow':
        this.log.error({ dropped: ev.dropped }, 'native event queue overflowed; events were lost');
        this.nativeEventsLost = true;
        break;
    }
  }

  // ---- control messages -----------------------------------------------------

  private onControl(session: ReceiveSession, bytes: Uint8Array): void {
    if (session.refusing) return; // it only carries its goodbye: a request sent meanwhile opens nothing
    let msg: ControlMessage;
    try {
      msg = decodeControl(bytes);
    } catch (err) {
      this.parts.limited.warn(
        `badctl:${session.localIndex}`,
        { session: session.localIndex, err: (err as Error).message },
        'undecodable control message',
      );
      return;
    }
    switch (msg.kind) {
      case 'transferRequest':
        this.parts.opener.onRequest(session, msg);
        break;
      case 'cancel':
        this.parts.progress.cancel(session, msg.transferId, msg.reason);
        break;
      case 'goodbye':
        this.parts.sessions.end(session, `sender closed the session${msg.reason ? `: ${msg.reason}` : ''}`);
        break;
      default:
        this.parts.limited.warn(
          `unexpected:${msg.kind}`,
          { session: session.localIndex, kind: msg.kind },
          'unexpected control message from sender',
        );
    }
  }

  /**
   * A handler of this session threw (a bug or input nobody foresaw): logged (rate-limited)
   * and only this session ends; the process and every other session carry on.
   */
  private onSessionFault(session: ReceiveSession, err: unknown): void {
    const e = err as Error & { code?: string };
    this.parts.limited.warn(
      `fault:${e.code ?? e.name}`,
      { session: session.localIndex, clientPublicKey: session.peerKey, code: e.code, err: e.message, stack: e.stack },
      'session handler failed: ending the session',
    );
    try {
      this.parts.sessions.goodbye(session, `internal error handling this sender: ${e.message}`, true);
    } catch (err2) {
      this.log.error({ session: session.localIndex, err: (err2 as Error).message }, 'ending a faulty session failed');
    }
  }

  // ---- timers -------------------------------------------------------------------

  /** Once a second: rate samples, liveness of sessions, memory trim, source figures. */
  private onTick(): void {
    const now = Date.now();
    for (const session of this.parts.sessions.all()) {
      this.parts.progress.sample(session, now, this.nativeEventsLost);
      this.parts.sessions.checkLiveness(session, now, this.parts.opener.busy(session));
    }
    if (this.closedSinceTrim >= kTrimAfterClosedSessions) {
      this.closedSinceTrim = 0;
      releaseFreeHeapMemory();
    }
    this.parts.transferLog.sample(now);
  }

  /**
   * Every 200 ms: checkpoint each live resumable transfer whose period has passed, and divide
   * the rate limits again (transfers that ended leave their share to the others).
   */
  private checkpointDue(): void {
    if (this.closed) return;
    this.parts.rateCaps.apply();
    const now = Date.now();
    for (const s of this.parts.sessions.all())
      for (const t of s.transfers.values()) this.parts.resume.checkpointIfDue(s.localIndex, t, now);
  }

  private restoreTransfer(stored: StoredTransfer): void {
    const record = TransferRecord.restore(stored);
    if (record.status === 'receiving') {
      // The receiver stopped (or crashed) while this transfer ran.
      record.fail(record.resumable ? 'interrupted: the receiver stopped; the sender may resume it' : 'interrupted: the receiver stopped');
    }
    this.parts.transferLog.restore(record);
    this.parts.resume.add(record);
  }

  /** Ends the sessions of senders that are no longer allowed (after an API change). */
  enforceAuthorization(isAllowed: (key: Uint8Array) => boolean, decode: (key: string) => Uint8Array): void {
    for (const s of this.parts.sessions.all()) {
      if (!isAllowed(decode(s.peerKey))) this.parts.sessions.goodbye(s, 'sender key is no longer authorized', true);
    }
  }

  /** Transfer events (started, file complete, complete, failed, cancelled); see transfer-events.ts. */
  get events(): TransferEventSource {
    return this.parts.events;
  }

  // ---- API views --------------------------------------------------------------

  getTransfers(): ReceiveTransferStructure[] {
    for (const s of this.parts.sessions.all())
      for (const t of s.transfers.values()) if (t.status === 'receiving') this.parts.progress.refreshStats(s, t);
    return this.parts.transferLog.transfers();
  }

  getSources(): SourceStructure[] {
    const kbit = (bps: number): number => Math.floor(bps / 1000);
    return this.parts.transferLog
      .sourceViews(this.publicKey)
      .map((v) => ({ ...v, recvRateLimit: kbit(this.parts.rateCaps.sourceCapBps(v.clientPublicKey)) }));
  }

  /** The receive rate limits now (bits/s, 0 = none). */
  get bandwidthLimits(): BandwidthLimits {
    return this.parts.rateCaps.limits;
  }

  /** Changes the receive rate limits (validated by the caller); open transfers follow at once. */
  setBandwidthLimits(limits: BandwidthLimits): void {
    this.parts.rateCaps.set(limits);
    this.log.info(
      { incomingRateLimitBps: limits.incomingBps, incomingRateLimitPerSourceBps: limits.incomingPerSourceBps },
      'receive rate limits changed',
    );
  }

  /** Sessions, receiving transfers and the current receive rate (bits/s), for STATUS= lines. */
  status(): { sessions: number; receiving: number; recvRateBps: number } {
    let receiving = 0;
    let rate = 0;
    for (const s of this.parts.sessions.all()) {
      for (const t of s.transfers.values()) {
        if (t.status !== 'receiving') continue;
        receiving++;
        rate += t.rate.windowBitsPerSecond();
      }
    }
    return { sessions: this.parts.sessions.admittedCount(), receiving, recvRateBps: rate };
  }

  /** Transfers known to the API, by status. */
  transferCounts(): { receiving: number; complete: number; error: number } {
    return this.parts.transferLog.counts();
  }

  setSessionTimeout(ms: number): void {
    this.parts.sessions.opts.sessionTimeoutMs = ms;
  }

  /** Sets the resume retention (0 = keep forever), sweeps now and then periodically. */
  setResumeRetention(ms: number): void {
    this.parts.retention.setRetention(ms);
  }

  /** One retention sweep (see ResumeRetention.expire); resolves when it is done. */
  expireResumable(): Promise<void> {
    return this.parts.retention.expire();
  }

  // ---- stop -----------------------------------------------------------------------

  /** Stops accepting, ends every session, closes the endpoint. Idempotent. */
  close(reason = 'receiver shutting down'): void {
    if (!this.beginStop(reason)) return;
    this.endpoint.close();
  }

  /** Stops the timers and ends every session with a goodbye; false if already stopping. */
  private beginStop(reason: string): boolean {
    if (this.closed) return false;
    this.closed = true;
    clearInterval(this.tick);
    clearInterval(this.checkpointTimer);
    this.parts.retention.stop();
    for (const s of this.parts.sessions.all()) this.parts.sessions.goodbye(s, reason);
    return true;
  }

  /**
   * Graceful stop (SIGTERM): refuses new handshakes, says goodbye to every sender, takes a
   * final checkpoint of every live transfer and waits (at most `timeoutMs`) until the
   * checkpoints and records are on disk, then closes the endpoint. Senders that resume
   * after the next start continue from these checkpoints. Idempotent.
   */
  shutdown(reason = 'receiver shutting down', timeoutMs = 20_000): Promise<void> {
    this.shutdownPromise ??= (async () => {
      if (!this.beginStop(reason)) return;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
      const settled = (async () => {
        await this.parts.inFlight.settle();
        await this.options.transferStore?.flush();
      })();
      if ((await Promise.race([settled, timeout])) === 'timeout') {
        this.log.error({ timeoutMs }, 'shutdown: checkpoints did not finish in time; transfers resume from older checkpoints');
      }
      clearTimeout(timer);
      this.endpoint.close();
    })();
    return this.shutdownPromise;
  }
}
