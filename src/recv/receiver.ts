// receiver.ts — the receiving side of jetrecv: answers authorized handshakes, runs the
// control channel of each session, opens transfers beneath the sandbox and tracks them
// until every file is finalized. Data packets never reach this file: the addon writes
// blocks to disk and reports file completion and errors as batched events.
import { realpathSync, mkdirSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import { DEFAULT_EVENT_QUEUE_CAPACITY, Endpoint, releaseFreeHeapMemory, removeStalePartial, sweepPartials, type NativeEvent, type CipherName } from '../engine/endpoint.js';
import { HandshakeResponder, type ResponderFailureReason } from '../handshake/index.js';
import { mac1Key } from '../handshake/packets.js';
import { sourceKey } from '../handshake/source-rate-limiter.js';
import { encodeKey, type KeyPair } from '../keys/key-encoding.js';
import { ReliableChannel } from '../control/reliable-channel.js';
import { decodeControl, encodeControl, TRANSFER_PROTOCOL, type ControlMessage, type ControlMessageInput } from '../proto/control.js';
import { ErrorCodes, type JetrecvError } from '../errors.js';
import { RateLimitedLog } from '../log.js';
import { SendPolicy, type SendErrorCounts } from '../engine/send-policy.js';
import { boundControlText } from './refusal.js';
import { OpenGate } from './open-gate.js';
import { kMaxFilesPerTransfer, validateManifest, type ValidatedManifest } from './manifest-check.js';
import { kSliceItems } from './sliced.js';
import { TransferRecord, nowUs, resumeExpired, type ReceiveTransferStructure } from './transfer-record.js';
import { RateWindow } from './rate-window.js';
import { DEFAULT_SESSION_CAPS, SessionAdmission, type SessionRefusal } from './session-admission.js';
import type { SourceStructure } from '../proto/api-structures.js';
import type { TransferStore, StoredFile, StoredTransfer } from './transfer-store.js';
import type { BlockRange } from '../proto/control.js';

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
}

/** Outcome of one handshake packet that reached the responder: a responder reason, or one of these. */
export type HandshakeOutcome = ResponderFailureReason | 'accepted' | SessionRefusal;
const kHandshakeOutcomes: readonly HandshakeOutcome[] = [
  'accepted', 'malformed', 'mac1', 'cookie-sent', 'bad-mac2', 'rate-limited', 'decrypt', 'bad-key', 'unauthorized', 'replay', 'cipher',
  'max-sessions', 'max-sessions-per-key', 'max-sessions-per-source',
];
/** Why a session over a cap is refused, as its goodbye says it. */
const kRefusalText: Record<SessionRefusal, string> = {
  'max-sessions': 'too many sessions at this receiver',
  'max-sessions-per-key': 'too many sessions of this sender key',
  'max-sessions-per-source': 'too many sessions from this address',
};

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

/** One authenticated sender connection (one handshake). */
interface ReceiveSession {
  localIndex: number;
  peerKey: string;
  address: string;
  port: number;
  channel: ReliableChannel;
  transfers: Map<number, TransferRecord>;
  pendingFilesDone: Map<number, number[]>;
  /** Transfer ids whose request's manifest is being checked (not yet in `transfers`). */
  validating: Set<number>;
  flushScheduled: boolean;
  lastRecvUs: number;
  /** Last time (Date.now()) the session was seen with a transfer open or being opened; its start before that. */
  lastOpenTransferMs: number;
  closed: boolean;
  /** Refused over a cap: it only carries its final goodbye (retransmitted until acked) and ends after kRefusalLingerMs. */
  refusing: boolean;
  /** Counted in SessionAdmission (a refused session gives its count back at once). */
  admitted: boolean;
}

/** Per sending server (per client public key): what getSourcesAsync reports. */
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

const kFilesDoneBatch = 512;
/** Default of ReceiverOptions.maxTransfersPerSession (docs/PROTOCOL-control.md). */
export const kMaxTransfersPerSession = 8;
/** Native opens at a time (OpenGate), and the keep-alive period toward a sender whose open runs. */
const kConcurrentOpens = 2;
const kOpenKeepAliveMs = 1000;
/**
 * A session refused over a cap lives this long so its final goodbye is retransmitted until the
 * sender has it: sent at once and the session removed, the goodbye could reach the sender before
 * it had installed the session's keys and be dropped, and the sender waited out its silence rule.
 */
const kRefusalLingerMs = 2000;
/** After this many sessions closed, freed heap memory is handed back to the kernel (next tick). */
const kTrimAfterClosedSessions = 64;
/** Resume retention sweeps run at most this far apart (and at least 1 s apart). */
const kMaxRetentionSweepMs = 3_600_000;
export const kDefaultResumeRetentionMs = 7 * 86_400_000;
/** Most TransferAccept.have ranges announced (keeps the accept message small). */
const kMaxHaveRanges = 100_000;

export class Receiver {
  readonly endpoint: Endpoint;
  readonly sandboxRoot: string;
  private readonly responder: HandshakeResponder;
  private readonly sessions = new Map<number, ReceiveSession>();
  private readonly sources = new Map<string, SourceRecord>();
  private readonly transferLog: TransferRecord[] = [];
  private readonly log: Logger;
  private readonly limited: RateLimitedLog;
  /** Every native send of the receiver goes through it (see send-policy.ts). */
  private readonly sends: SendPolicy;
  private readonly tick: NodeJS.Timeout;
  private nextIndex = 1;
  private closed = false;
  /** Set once the native event queue overflowed: onTick then reconciles transfers with the addon. */
  private nativeEventsLost = false;
  private readonly admission: SessionAdmission;
  private closedSinceTrim = 0;
  private readonly opts: Required<Omit<ReceiverOptions, 'logger' | 'authorization' | 'serverKeys' | 'transferStore' | 'restoredTransfers' | 'handshakeLoadThreshold' | 'maxTransferMemory' | 'maxReceiveMemory'>> & ReceiverOptions;
  /** Resumable transfers by `${clientPublicKey}:${transferUid}`. */
  private readonly resumable = new Map<string, TransferRecord>();
  /** Checkpoints and record writes in flight (awaited by shutdown). */
  private readonly inFlight = new Set<Promise<void>>();
  /**
   * Transfers whose native open runs on a worker thread, with the file-done events that
   * arrived meanwhile (empty files, resumed complete files): replayed once the transfer is
   * accepted, so FilesDone never precedes TransferAccept.
   */
  private readonly opening = new Map<TransferRecord, number[]>();
  private readonly openGate = new OpenGate(kConcurrentOpens);
  private readonly checkpointTimer: NodeJS.Timeout;
  private retentionTimer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;
  private shutdownPromise: Promise<void> | null = null;
  private readonly handshakeOutcomes = new Map<HandshakeOutcome, number>(kHandshakeOutcomes.map((o) => [o, 0]));

  constructor(options: ReceiverOptions) {
    this.opts = {
      sessionTimeoutMs: 30_000,
      feedbackIntervalMs: 10,
      maxTransferRecords: 10_000,
      maxSessions: DEFAULT_SESSION_CAPS.maxSessions,
      maxSessionsPerKey: DEFAULT_SESSION_CAPS.maxSessionsPerKey,
      maxSessionsPerSource: DEFAULT_SESSION_CAPS.maxSessionsPerSource,
      noTransferTimeoutMs: 10_000,
      maxTransfersPerSession: kMaxTransfersPerSession,
      maxFilesPerTransfer: kMaxFilesPerTransfer,
      minCheckpointSeconds: 1,
      resumeRetentionMs: kDefaultResumeRetentionMs,
      directIo: 'auto',
      directIoThreads: 2,
      eventQueueCapacity: DEFAULT_EVENT_QUEUE_CAPACITY,
      syncOnFinalize: true,
      ...options,
    };
    this.log = options.logger.child({ component: 'receiver' });
    this.limited = new RateLimitedLog(this.log);
    this.sends = new SendPolicy(this.log);
    this.admission = new SessionAdmission({ maxSessions: this.opts.maxSessions, maxSessionsPerKey: this.opts.maxSessionsPerKey, maxSessionsPerSource: this.opts.maxSessionsPerSource });
    mkdirSync(options.sandboxDir, { recursive: true, mode: 0o750 });
    this.sandboxRoot = realpathSync(options.sandboxDir);
    this.responder = new HandshakeResponder({
      staticKeys: options.serverKeys,
      minCipher: options.minCipher,
      isAuthorized: (key) => options.authorization.isAllowed(key),
      allocateIndex: () => this.allocateIndex(),
      loadThreshold: options.handshakeLoadThreshold,
    });
    this.endpoint = new Endpoint(
      {
        role: 'receiver',
        bindAddress: options.recvHost,
        port: options.recvPort,
        sockets: options.rxThreads,
        rcvbufBytes: options.rcvbufBytes,
        sndbufBytes: 4 << 20,
        maxDatagram: 65507,
        feedbackIntervalMs: this.opts.feedbackIntervalMs,
        directIo: this.opts.directIo,
        directIoThreads: this.opts.directIoThreads,
        eventQueueCapacity: this.opts.eventQueueCapacity,
        handshakeMac1Key: mac1Key(options.serverKeys.publicKey),
        ...(options.maxTransferMemory !== undefined ? { maxTransferMemory: options.maxTransferMemory } : {}),
        ...(options.maxReceiveMemory !== undefined ? { maxReceiveMemory: options.maxReceiveMemory } : {}),
      },
      (ev) => this.onEvent(ev),
    );
    this.tick = setInterval(() => this.onTick(), 1000);
    this.tick.unref();
    this.checkpointTimer = setInterval(() => this.checkpointDue(), 200);
    this.checkpointTimer.unref();
    for (const stored of options.restoredTransfers ?? []) this.restoreTransfer(stored);
    this.sweepOrphanPartials();
    this.setResumeRetention(options.resumeRetentionMs ?? kDefaultResumeRetentionMs);
  }

  /** The UDP data port actually bound. */
  get port(): number {
    return this.endpoint.native.localPort();
  }

  get publicKey(): string {
    return encodeKey(this.opts.serverKeys.publicKey);
  }

  counters(): Record<string, number> {
    return this.endpoint.counters();
  }

  /** Handshake packets handled by the responder since start, by outcome (every outcome listed, 0 included). */
  handshakeCounts(): Record<HandshakeOutcome, number> {
    return Object.fromEntries(this.handshakeOutcomes) as Record<HandshakeOutcome, number>;
  }

  private countHandshake(outcome: HandshakeOutcome): void {
    this.handshakeOutcomes.set(outcome, (this.handshakeOutcomes.get(outcome) ?? 0) + 1);
  }

  // ---- events from the addon ------------------------------------------------

  private onEvent(ev: NativeEvent): void {
    switch (ev.type) {
      case 'handshake':
        this.onHandshake(ev.address, ev.port, ev.packet);
        break;
      case 'control': {
        const s = this.sessions.get(ev.session);
        if (s && !s.closed) {
          s.lastRecvUs = nowUs();
          s.channel.receive(ev.payload);
        }
        break;
      }
      case 'fileDone':
        this.onFileDone(ev.session, ev.transfer, ev.file);
        break;
      case 'transferError':
        this.onTransferError(ev.session, ev.transfer, `${ev.message}`, ev.code);
        break;
      case 'overflow':
        this.log.error({ dropped: ev.dropped }, 'native event queue overflowed; events were lost');
        this.nativeEventsLost = true;
        break;
      case 'receiverComplete':
        break; // sender-side event
    }
  }

  private allocateIndex(): number {
    for (;;) {
      const idx = this.nextIndex;
      this.nextIndex = this.nextIndex >= 0xfffffffe ? 1 : this.nextIndex + 1;
      if (!this.sessions.has(idx)) return idx;
    }
  }

  private onHandshake(address: string, port: number, packet: Uint8Array): void {
    if (this.closed) return;
    const result = this.responder.consumeInitiation(packet, { address, port });
    if (!result.ok) {
      this.countHandshake(result.reason);
      if (result.cookieReply) {
        // Under load: cheap answer, no DH. Counted; logged once per 10 s whatever the source.
        const reply = result.cookieReply;
        this.sends.send('cookie-reply', () => this.endpoint.native.sendRaw(address, port, reply), { sourceIP: address, sourcePort: port });
        this.limited.warn('hs:under-load', { sourceIP: address, sourcePort: port, reason: result.reason }, 'handshake load: answering INITs without a valid mac2 with a cookie');
        return;
      }
      const who = result.peerPublicKey ? encodeKey(result.peerPublicKey) : undefined;
      if (result.reason === 'unauthorized') {
        this.limited.warn(`unauth:${who}`, { sourceIP: address, sourcePort: port, clientPublicKey: who }, 'handshake refused: sender key is not authorized');
      } else {
        this.limited.warn(`hs:${result.reason}:${address}`, { sourceIP: address, sourcePort: port, reason: result.reason, clientPublicKey: who }, 'handshake dropped');
      }
      return;
    }
    const peerKey = encodeKey(result.peerPublicKey);
    // A sender that handshakes again from the same address and port replaces its session.
    for (const old of this.sessions.values()) {
      if (old.peerKey === peerKey && old.address === address && old.port === port) {
        this.endSession(old, 'replaced by a new handshake from the same sender');
      }
    }
    // Over a cap: the session opens only to carry a final goodbye saying why, then ends.
    const refusal = this.admission.check(peerKey, address);
    this.countHandshake(refusal ?? 'accepted');
    const session = this.openSession(result, peerKey, address, port);
    if (refusal) {
      const reason = `${kRefusalText[refusal]} (max ${this.admission.limitOf(refusal)})`;
      this.limited.warn(`${refusal}:${refusal === 'max-sessions-per-key' ? peerKey : sourceKey(address)}`, { sourceIP: address, sourcePort: port, clientPublicKey: peerKey, reason }, 'session refused');
      session.refusing = true;
      session.admitted = false;
      this.admission.remove(peerKey, address); // a refused session holds no cap slot while it lingers
      this.send(session, { kind: 'goodbye', reason, final: true });
      setTimeout(() => this.endSession(session, `refused: ${reason}`), kRefusalLingerMs).unref();
      return;
    }
    this.log.info({ session: session.localIndex, sourceIP: address, sourcePort: port, clientPublicKey: peerKey, cipher: result.cipher, lanes: result.lanes }, 'sender connected');
  }

  /** Adds the native session, counts it, answers the INIT with its RESP. */
  private openSession(result: Extract<ReturnType<HandshakeResponder['consumeInitiation']>, { ok: true }>, peerKey: string, address: string, port: number): ReceiveSession {
    const localIndex = result.localIndex;
    this.endpoint.native.addSession({
      localIndex,
      remoteIndex: result.remoteIndex,
      cipher: result.cipher,
      sendKey: result.keys.sendKey,
      recvKey: result.keys.recvKey,
      peerAddress: address,
      peerPort: port,
    });
    const session: ReceiveSession = {
      localIndex,
      peerKey,
      address,
      port,
      transfers: new Map(),
      pendingFilesDone: new Map(),
      validating: new Set(),
      flushScheduled: false,
      lastRecvUs: nowUs(),
      lastOpenTransferMs: Date.now(),
      closed: false,
      refusing: false,
      admitted: true,
      channel: new ReliableChannel({
        send: (payload) => {
          if (!session.closed) this.sends.send('control', () => this.endpoint.native.sendControl(localIndex, payload), { session: localIndex });
        },
        onMessage: (bytes) => this.onControl(session, bytes),
        onDead: (reason) => this.endSession(session, `control channel dead: ${reason}`),
        // Nothing one sender sends may throw out of a handler: that session ends, the daemon stays.
        onCallbackError: (err) => this.onSessionFault(session, err),
      }),
    };
    this.sessions.set(localIndex, session);
    this.admission.add(peerKey, address);
    const src = this.sourceFor(peerKey, address, port);
    src.sessions.add(localIndex);
    this.sends.send('handshake-response', () => this.endpoint.native.sendRaw(address, port, result.response), { sourceIP: address, sourcePort: port });
    return session;
  }

  private sourceFor(peerKey: string, address: string, port: number): SourceRecord {
    let src = this.sources.get(peerKey);
    if (!src) {
      src = { clientPublicKey: peerKey, sourceIP: address, sourcePort: port, sessions: new Set(), transfers: [], rate: new RateWindow(), bytesTotal: 0, lastRecvTime: null };
      this.sources.set(peerKey, src);
    }
    src.sourceIP = address;
    src.sourcePort = port;
    return src;
  }

  // ---- control messages -----------------------------------------------------

  /** Sends one control message; its free text is bounded first, so encoding cannot fail on it. */
  private send(session: ReceiveSession, msg: ControlMessageInput): void {
    if (session.closed) return;
    session.channel.sendMessage(encodeControl(boundControlText(msg)));
    // Send activity of the transfer the message is about (lastSendTime in the API).
    if ('transferId' in msg) {
      const t = session.transfers.get(msg.transferId);
      if (t) t.lastSendTime = nowUs();
    }
  }

  /** The one refusal path: logged, and a TransferRefuse with a bounded reason goes to the sender. */
  private refuse(session: ReceiveSession, transferId: number, code: string, reason: string): void {
    this.log.warn({ session: session.localIndex, sourceIP: session.address, clientPublicKey: session.peerKey, transfer: transferId, code, reason: reason.slice(0, 4096) }, 'transfer refused');
    this.send(session, { kind: 'transferRefuse', transferId, code, reason });
  }

  /**
   * A handler of this session threw (a bug or input nobody foresaw): logged (rate-limited)
   * and only this session ends; the process and every other session carry on.
   */
  private onSessionFault(session: ReceiveSession, err: unknown): void {
    const e = err as Error & { code?: string };
    this.limited.warn(`fault:${e.code ?? e.name}`, { session: session.localIndex, clientPublicKey: session.peerKey, code: e.code, err: e.message, stack: e.stack }, 'session handler failed: ending the session');
    try {
      const reason = `internal error handling this sender: ${e.message}`;
      this.send(session, { kind: 'goodbye', reason, final: true });
      this.endSession(session, reason);
    } catch (err2) {
      this.log.error({ session: session.localIndex, err: (err2 as Error).message }, 'ending a faulty session failed');
    }
  }

  /** Send errors of every native send since start (see send-policy.ts). */
  sendErrors(): SendErrorCounts {
    return this.sends.stats();
  }

  private onControl(session: ReceiveSession, bytes: Uint8Array): void {
    if (session.refusing) return; // it only carries its goodbye: a request sent meanwhile opens nothing
    let msg: ControlMessage;
    try {
      msg = decodeControl(bytes);
    } catch (err) {
      this.limited.warn(`badctl:${session.localIndex}`, { session: session.localIndex, err: (err as Error).message }, 'undecodable control message');
      return;
    }
    switch (msg.kind) {
      case 'transferRequest':
        this.onTransferRequest(session, msg);
        break;
      case 'cancel': {
        const t = session.transfers.get(msg.transferId);
        if (t && t.status === 'receiving') {
          this.closeTransfer(session, t, true);
          t.fail(`cancelled by sender: ${msg.reason || 'no reason given'}`);
          this.forgetResume(t);
          this.log.info({ transferId: t.transferId, reason: msg.reason }, 'transfer cancelled by sender');
        }
        break;
      }
      case 'goodbye':
        this.endSession(session, `sender closed the session${msg.reason ? `: ${msg.reason}` : ''}`);
        break;
      default:
        this.limited.warn(`unexpected:${msg.kind}`, { session: session.localIndex, kind: msg.kind }, 'unexpected control message from sender');
    }
  }

  private onTransferRequest(session: ReceiveSession, req: Extract<ControlMessage, { kind: 'transferRequest' }>): void {
    const refuse = (code: string, reason: string) => this.refuse(session, req.transferId, code, reason);
    const existing = session.transfers.get(req.transferId);
    if (session.validating.has(req.transferId)) return; // retransmitted while its manifest is checked
    if (existing) {
      // A retransmitted request for a transfer we already accepted: answer again.
      // (While a resume is being prepared, the answer comes when it is ready.)
      if (existing.status === 'receiving' && existing.wireTransferId === req.transferId && existing.sessionIndex === session.localIndex && existing.manifestHash) {
        this.send(session, { kind: 'transferAccept', transferId: req.transferId, have: existing.acceptedHave });
      } else if (existing.status === 'receiving') return;
      else refuse(ErrorCodes.PROTOCOL, `transfer id ${req.transferId} was already used in this session`);
      return;
    }
    // Open transfers and requests still being checked count toward the session's cap.
    let open = session.validating.size;
    for (const t of session.transfers.values()) if (t.status === 'receiving') open++;
    if (open >= this.opts.maxTransfersPerSession) {
      refuse(ErrorCodes.REFUSED, `too many open transfers in one session (max ${this.opts.maxTransfersPerSession})`);
      return;
    }
    if (req.transferProtocol < TRANSFER_PROTOCOL) {
      refuse(
        ErrorCodes.PROTOCOL,
        `the sender speaks transfer protocol ${req.transferProtocol}; this receiver needs ${TRANSFER_PROTOCOL} (rate control with path timing): upgrade jetrecv on the sender`,
      );
      return;
    }
    // The manifest check and its hash run in slices (a million files take seconds).
    session.validating.add(req.transferId);
    void this.track(
      (async () => {
        let manifest: ValidatedManifest;
        let hash: string;
        try {
          manifest = await validateManifest(req, this.opts.maxFilesPerTransfer);
          hash = await manifestHash(manifest, req.blockSize);
        } catch (err) {
          if (session.closed || this.closed) return;
          const e = err as JetrecvError;
          refuse(e.code ?? ErrorCodes.PATH_INVALID, e.message);
          return;
        } finally {
          session.validating.delete(req.transferId);
        }
        if (session.closed || this.closed) return;
        this.acceptRequest(session, req, manifest, hash);
      })().catch((err: unknown) => this.onSessionFault(session, err)),
    );
  }

  /** A checked manifest: resume or new transfer, native open, then TransferAccept. */
  private acceptRequest(session: ReceiveSession, req: Extract<ControlMessage, { kind: 'transferRequest' }>, manifest: ValidatedManifest, hash: string): void {
    const refuse = (code: string, reason: string) => this.refuse(session, req.transferId, code, reason);
    // Resume: the same sender key with the same transfer_uid and the same manifest.
    const uid = Buffer.from(req.transferUid).toString('hex');
    const checkpointMs = uid && req.checkpointFrequencySeconds > 0 ? Math.max(this.opts.minCheckpointSeconds, req.checkpointFrequencySeconds) * 1000 : 0;
    const key = `${session.peerKey}:${uid}`;
    const previous = uid ? this.resumable.get(key) : undefined;
    if (previous && previous.manifestHash !== hash) {
      this.log.warn({ transferId: previous.transferId, clientPublicKey: session.peerKey }, 'a transfer uid came back with a different manifest: starting a new transfer');
      this.resumable.delete(key);
    }
    const resumeFrom = previous && previous.manifestHash === hash && previous.resumable && checkpointMs > 0 ? previous : undefined;
    // The partials' owner: a resume keeps its own, a new transfer gets a fresh one.
    const partialTag = resumeFrom ? resumeFrom.partialTag : randomBytes(8).toString('hex');
    // Placeholder: a retransmitted request during the awaits below is answered as a duplicate.
    const placeholder = new TransferRecord(session.localIndex, req.transferId, session.peerKey, session.address, session.port, `/${manifest.destinationPath}`, manifest.totalSize, manifest.files.length);
    session.transfers.set(req.transferId, placeholder);
    void this.track(
      (async () => {
        if (resumeFrom) await this.detach(resumeFrom); // final checkpoint of an older session, if live
        if (session.closed || this.closed) return;
        const resume = resumeFrom?.checkpoint ?? undefined;
        try {
          await this.openNative(session, placeholder, () => this.endpoint.native.openReceiveTransfer(session.localIndex, req.transferId, {
            root: this.sandboxRoot,
            blockSize: req.blockSize,
            files: manifest.files.map((f) => ({ path: f.relPath, size: f.size, mode: f.mode, mtimeMs: f.mtimeMs })),
            emptyDirs: manifest.emptyDirs,
            resume: resume ? { doneFiles: resume.doneFiles, ranges: resume.ranges } : undefined,
            partialTag,
            resumable: checkpointMs > 0,
            syncOnFinalize: this.opts.syncOnFinalize,
          }));
          if (session.closed || this.closed) return; // ended during the open: the addon closed it with the session
        } catch (err) {
          if (session.closed || this.closed) return; // the session ended during the open
          session.transfers.delete(req.transferId);
          const e = err as Error & { code?: string; path?: string };
          if (!resumeFrom) {
            // Keep a record of the failure (disk full, path escape...) for getTransfersAsync.
            placeholder.fail(e.message);
            this.rememberTransfer(placeholder);
            this.sources.get(session.peerKey)?.transfers.push(placeholder);
          }
          refuse(e.code ?? ErrorCodes.DISK, e.message);
          return;
        }
        let record: TransferRecord;
        let have: BlockRange[] = [];
        if (resumeFrom) {
          record = resumeFrom;
          record.sessionIndex = session.localIndex;
          record.wireTransferId = req.transferId;
          record.sourceIP = session.address;
          record.sourcePort = session.port;
          record.reopen();
          const st = this.endpoint.native.receiveTransferStats(session.localIndex, req.transferId);
          record.rate.rebase(st?.bytesReceived ?? 0); // restored blocks were not received now
          have = resume ? haveRanges(resume.doneFiles, resume.ranges, manifest.files.map((f) => f.size), req.blockSize) : [];
          // The addon trusts only what still matches on disk: if it restored fewer blocks
          // than the checkpoint lists, announce nothing (the receiver NACKs what it lacks).
          const listed = have.reduce((a, r) => a + r.blockCount, 0);
          // A very fragmented checkpoint is announced in part: the addon already holds
          // every block it lists, so anything not announced is resent and dropped as a duplicate.
          if (have.length > kMaxHaveRanges) have = have.slice(0, kMaxHaveRanges);
          if (!st || st.blocksResumed !== listed) {
            this.log.warn({ transferId: record.transferId, listed, restored: st?.blocksResumed ?? 0 }, 'checkpoint no longer matches the partial files: those files restart from zero');
            have = [];
          }
          this.log.info({ transferId: record.transferId, session: session.localIndex, blocksResumed: st?.blocksResumed ?? 0, bytesHeld: resume?.bytesHeld ?? 0 }, 'transfer resumed');
        } else {
          record = placeholder;
          this.rememberTransfer(record);
        }
        record.transferUid = uid;
        record.manifestHash = hash;
        record.partialTag = partialTag;
        record.checkpointMs = checkpointMs;
        record.resumable = checkpointMs > 0;
        record.lastCheckpointMs = Date.now();
        record.files = manifest.files.map((f): StoredFile => ({ path: f.relPath, size: f.size }));
        // Resumable: its partials outlive the session; the file list lets retention remove them.
        if (record.resumable && this.opts.transferStore) void this.track(this.opts.transferStore.saveFiles(record.transferId, record.files));
        session.transfers.set(req.transferId, record);
        const src = this.sources.get(session.peerKey);
        if (src && !src.transfers.includes(record)) src.transfers.push(record);
        if (record.resumable) this.resumable.set(key, record);
        if (!resumeFrom) {
          this.log.info({ transferId: record.transferId, session: session.localIndex, destinationPath: manifest.destinationPath, files: manifest.files.length, totalSize: manifest.totalSize, checkpointSeconds: checkpointMs / 1000 }, 'transfer accepted');
        }
        record.acceptedHave = have;
        this.send(session, { kind: 'transferAccept', transferId: req.transferId, have });
        record.lastSendTime = nowUs();
        // The first checkpoint records what this open restored (or that it starts from zero).
        if (record.resumable) void this.checkpoint(session, record);
        else void this.persist(record);
        const early = this.opening.get(placeholder) ?? [];
        this.opening.delete(placeholder);
        for (const file of early) this.onFileDone(session.localIndex, req.transferId, file);
        if (manifest.files.length === 0) this.completeTransfer(session, record);
      })()
        .catch((err: unknown) => this.onSessionFault(session, err))
        .finally(() => this.opening.delete(placeholder)),
    );
  }

  /**
   * Runs a native open (on a worker thread: a huge manifest takes minutes) through the open
   * gate. Meanwhile the session's sender gets a keep-alive every second (its silence rule
   * would otherwise make it reconnect and offer the transfer again), and file-done events of
   * the transfer are held back in `opening`.
   */
  private async openNative(session: ReceiveSession, placeholder: TransferRecord, open: () => Promise<void>): Promise<void> {
    this.opening.set(placeholder, []);
    const keepAlive = setInterval(() => session.channel.keepAlive(), kOpenKeepAliveMs);
    try {
      await this.openGate.run(() => (session.closed || this.closed ? Promise.resolve() : open()));
    } finally {
      clearInterval(keepAlive);
    }
  }

  // ---- checkpoints and resume -------------------------------------------------

  /** Keeps `p` in the set shutdown waits for; failures are logged, never thrown. */
  private track(p: Promise<void>): Promise<void> {
    const q = p.catch((err: Error) => this.log.error({ err: err.message }, 'checkpoint or record write failed'));
    this.inFlight.add(q);
    void q.finally(() => this.inFlight.delete(q));
    return q;
  }

  /** Writes the record to the state directory (no-op without one). */
  private persist(t: TransferRecord): Promise<void> {
    const store = this.opts.transferStore;
    if (!store || !t.manifestHash) return Promise.resolve(); // no store, or a placeholder
    return this.track(store.save(t.transferId, () => t.toStored()));
  }

  /**
   * Checkpoints one open transfer: the addon syncs what its bitmaps hold (on a worker
   * thread), then the record with those ranges is written atomically. Must be called
   * while the transfer is still open in the addon; it may be closed right after (the
   * checkpoint then covers everything written before the close).
   */
  private checkpoint(session: ReceiveSession, t: TransferRecord): Promise<void> {
    const epoch = t.epoch;
    let native: Promise<import('../native/binding.js').ReceiveCheckpoint>;
    try {
      native = this.endpoint.native.checkpointReceiveTransfer(session.localIndex, t.wireTransferId);
    } catch (err) {
      return Promise.resolve(); // not open any more: nothing new to record
    }
    t.lastCheckpointMs = Date.now();
    const p = this.track(
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

  /** Periodic: checkpoint every live resumable transfer whose period has passed. */
  private checkpointDue(): void {
    if (this.closed) return;
    const now = Date.now();
    for (const s of this.sessions.values()) {
      for (const t of s.transfers.values()) {
        if (t.status !== 'receiving' || !t.resumable || t.checkpointing || now - t.lastCheckpointMs < t.checkpointMs) continue;
        void this.checkpoint(s, t);
      }
    }
  }

  /**
   * A resumable transfer that is still open in another session (its sender came back
   * before the old session timed out): final checkpoint, then close it there, partials kept.
   */
  private async detach(t: TransferRecord): Promise<void> {
    const old = this.sessions.get(t.sessionIndex);
    if (old && old.transfers.get(t.wireTransferId) === t && t.status === 'receiving') {
      const cp = this.checkpoint(old, t);
      this.closeTransfer(old, t, false);
      old.transfers.delete(t.wireTransferId);
      t.fail('the sender resumed this transfer in a new session');
      await cp;
    }
    if (t.checkpointing) await t.checkpointing;
  }

  private restoreTransfer(stored: StoredTransfer): void {
    const record = TransferRecord.restore(stored);
    if (record.status === 'receiving') {
      // The receiver stopped (or crashed) while this transfer ran.
      record.fail(record.resumable ? 'interrupted: the receiver stopped; the sender may resume it' : 'interrupted: the receiver stopped');
    }
    this.transferLog.push(record);
    const src = this.sourceFor(record.clientPublicKey, record.sourceIP, record.sourcePort);
    src.transfers.push(record);
    if (record.resumable && record.transferUid) this.resumable.set(`${record.clientPublicKey}:${record.transferUid}`, record);
  }

  private rememberTransfer(record: TransferRecord): void {
    this.transferLog.push(record);
    // Forget the oldest finished records beyond the retention count.
    while (this.transferLog.length > this.opts.maxTransferRecords) {
      const idx = this.transferLog.findIndex((t) => t.status !== 'receiving');
      if (idx < 0) break;
      const [gone] = this.transferLog.splice(idx, 1);
      if (gone) {
        const key = `${gone.clientPublicKey}:${gone.transferUid}`;
        const wasResumable = this.resumable.get(key) === gone;
        if (wasResumable) this.resumable.delete(key);
        void this.track(this.evictRecord(gone, wasResumable));
      }
      for (const src of this.sources.values()) {
        const i = gone ? src.transfers.indexOf(gone) : -1;
        if (i >= 0) src.transfers.splice(i, 1);
      }
    }
  }

  // ---- transfer progress ----------------------------------------------------

  private onFileDone(sessionIndex: number, wireTransferId: number, file: number): void {
    const session = this.sessions.get(sessionIndex);
    const t = session?.transfers.get(wireTransferId);
    if (!session || !t || t.status !== 'receiving') return;
    const early = this.opening.get(t);
    if (early) {
      early.push(file); // the open has not answered yet: replayed after TransferAccept
      return;
    }
    t.filesDone++;
    let pending = session.pendingFilesDone.get(wireTransferId);
    if (!pending) session.pendingFilesDone.set(wireTransferId, (pending = []));
    pending.push(file);
    this.scheduleFlush(session);
    if (t.filesDone >= t.filesTotal) this.completeTransfer(session, t);
  }

  private scheduleFlush(session: ReceiveSession): void {
    if (session.flushScheduled) return;
    session.flushScheduled = true;
    setImmediate(() => {
      session.flushScheduled = false;
      this.flushFilesDone(session);
    });
  }

  /** Sends FilesDone for every file finalized since the last flush, in batches. */
  private flushFilesDone(session: ReceiveSession): void {
    for (const [transferId, files] of session.pendingFilesDone) {
      for (let i = 0; i < files.length; i += kFilesDoneBatch) {
        this.send(session, { kind: 'filesDone', transferId, fileIndex: files.slice(i, i + kFilesDoneBatch) });
      }
    }
    session.pendingFilesDone.clear();
  }

  private completeTransfer(session: ReceiveSession, t: TransferRecord): void {
    this.refreshStats(session, t);
    this.flushFilesDone(session);
    this.closeTransfer(session, t, false);
    t.complete();
    this.forgetResume(t);
    this.send(session, { kind: 'transferDone', transferId: t.wireTransferId, bytes: t.totalSize, files: t.filesTotal });
    t.lastSendTime = nowUs();
    this.log.info({ transferId: t.transferId, bytes: t.totalSize, files: t.filesTotal, seconds: ((t.endTime ?? 0) - t.startTime) / 1e6 }, 'transfer complete');
  }

  private onTransferError(sessionIndex: number, wireTransferId: number, message: string, code: string): void {
    const session = this.sessions.get(sessionIndex);
    const t = session?.transfers.get(wireTransferId);
    if (!session || !t || t.status !== 'receiving') return;
    this.refreshStats(session, t);
    // Partial files of a failed transfer are removed: a full disk gets its space back.
    this.closeTransfer(session, t, true);
    t.fail(message);
    this.forgetResume(t);
    this.log.error({ transferId: t.transferId, code, err: message }, 'transfer failed');
    this.send(session, { kind: 'transferError', transferId: wireTransferId, code, message });
  }

  /** The transfer is over for good (complete, failed, cancelled): no resume, record saved. */
  private forgetResume(t: TransferRecord): void {
    t.resumable = false;
    t.checkpoint = null;
    t.files = null;
    void this.opts.transferStore?.dropFiles(t.transferId).catch(() => {});
    const key = `${t.clientPublicKey}:${t.transferUid}`;
    if (this.resumable.get(key) === t) this.resumable.delete(key);
    void this.persist(t);
  }

  private closeTransfer(session: ReceiveSession, t: TransferRecord, removePartials: boolean): void {
    try {
      this.endpoint.native.closeReceiveTransfer(session.localIndex, t.wireTransferId, removePartials);
    } catch (err) {
      this.log.warn({ transferId: t.transferId, err: (err as Error).message }, 'closing transfer failed');
    }
  }

  /**
   * Backstop once the native event queue has overflowed (file-done or error events may be
   * gone): the addon's own figures decide. A transfer whose files the addon has all
   * finalized completes; one the addon marked failed fails.
   */
  private recoverLostEvents(session: ReceiveSession, t: TransferRecord): void {
    const st = this.endpoint.native.receiveTransferStats(session.localIndex, t.wireTransferId);
    if (!st || t.status !== 'receiving') return;
    if (st.failed) {
      this.log.warn({ transferId: t.transferId }, 'transfer failed in the data path and its error event was lost');
      this.onTransferError(session.localIndex, t.wireTransferId, 'the transfer failed in the data path (its error event was lost when the native event queue overflowed)', ErrorCodes.DISK);
    } else if (st.filesDone >= t.filesTotal && t.filesDone < t.filesTotal) {
      this.log.warn({ transferId: t.transferId, filesDone: t.filesDone, filesTotal: t.filesTotal }, 'every file is final but file-done events were lost: completing the transfer');
      this.flushFilesDone(session);
      t.filesDone = t.filesTotal;
      this.completeTransfer(session, t);
    }
  }

  private refreshStats(session: ReceiveSession, t: TransferRecord): void {
    const st = this.endpoint.native.receiveTransferStats(session.localIndex, t.wireTransferId);
    if (!st) return;
    t.bytesReceived = st.bytesReceived;
    if (st.lastRecvUs > 0) t.lastRecvTime = st.lastRecvUs;
    // The addon sends this open transfer's feedback (NACK, rate) on its session: send activity.
    const lastSendUs = this.endpoint.native.sessionStats(session.localIndex)?.lastSendUs ?? 0;
    if (lastSendUs > (t.lastSendTime ?? 0)) t.lastSendTime = lastSendUs;
  }

  /** Once a second: rate samples, liveness of sessions. */
  private onTick(): void {
    const now = Date.now();
    for (const session of [...this.sessions.values()]) {
      const stats = this.endpoint.native.sessionStats(session.localIndex);
      if (stats && stats.lastRecvUs > session.lastRecvUs) session.lastRecvUs = stats.lastRecvUs;
      // A sender waiting for our answer to its request (manifest check, native open: minutes for
      // a huge manifest) sends nothing meanwhile: its silence counts from the answer.
      if (session.validating.size > 0 || [...session.transfers.values()].some((t) => this.opening.has(t))) session.lastRecvUs = Math.max(session.lastRecvUs, now * 1000);
      for (const t of session.transfers.values()) {
        if (t.status !== 'receiving') continue;
        this.refreshStats(session, t);
        t.rate.sample(t.bytesReceived, now);
        if (this.nativeEventsLost) this.recoverLostEvents(session, t);
      }
      if (now * 1000 - session.lastRecvUs > this.opts.sessionTimeoutMs * 1000) {
        this.endSession(session, `no packet from the sender for ${Math.round(this.opts.sessionTimeoutMs / 1000)} s`);
        continue;
      }
      // A placeholder (a transfer being opened) counts as open.
      if ([...session.transfers.values()].some((t) => t.status === 'receiving')) session.lastOpenTransferMs = now;
      else if (now - session.lastOpenTransferMs > this.opts.noTransferTimeoutMs) {
        const reason = `no transfer open for ${this.opts.noTransferTimeoutMs / 1000} s`;
        this.send(session, { kind: 'goodbye', reason });
        this.endSession(session, reason);
      }
    }
    if (this.closedSinceTrim >= kTrimAfterClosedSessions) {
      this.closedSinceTrim = 0;
      releaseFreeHeapMemory();
    }
    for (const src of this.sources.values()) {
      let bytes = 0;
      let last: number | null = null;
      for (const t of src.transfers) {
        bytes += t.bytesReceived;
        if (t.lastRecvTime !== null && (last === null || t.lastRecvTime > last)) last = t.lastRecvTime;
      }
      src.bytesTotal = bytes;
      src.lastRecvTime = last;
      src.rate.sample(bytes, now);
    }
  }

  /**
   * Ends a session: its unfinished transfers fail with `reason`. A resumable one gets a
   * final checkpoint first (it completes after the addon closed the transfer) and stays
   * resumable: its sender may come back with the same transfer uid.
   */
  endSession(session: ReceiveSession, reason: string): void {
    if (session.closed) return;
    this.flushFilesDone(session);
    for (const t of session.transfers.values()) {
      if (t.status === 'receiving' && t.sessionIndex === session.localIndex) {
        this.refreshStats(session, t);
        if (t.resumable) void this.checkpoint(session, t);
        t.fail(reason);
        if (!t.resumable) void this.persist(t);
        this.log.warn({ transferId: t.transferId, reason, resumable: t.resumable }, 'transfer ended with its session');
      }
    }
    session.closed = true;
    session.channel.close();
    this.endpoint.native.removeSession(session.localIndex);
    this.sessions.delete(session.localIndex);
    if (session.admitted) this.admission.remove(session.peerKey, session.address);
    this.closedSinceTrim++;
    const src = this.sources.get(session.peerKey);
    src?.sessions.delete(session.localIndex);
    // A sender that never had a transfer leaves nothing behind (no record per key ever seen).
    if (src && src.sessions.size === 0 && src.transfers.length === 0) this.sources.delete(session.peerKey);
    this.log.info({ session: session.localIndex, clientPublicKey: session.peerKey, reason }, 'session closed');
  }

  /** Ends the sessions of senders that are no longer allowed (after an API change). */
  enforceAuthorization(isAllowed: (key: Uint8Array) => boolean, decode: (key: string) => Uint8Array): void {
    for (const s of [...this.sessions.values()]) {
      if (!isAllowed(decode(s.peerKey))) {
        this.send(s, { kind: 'goodbye', reason: 'sender key is no longer authorized', final: true });
        this.endSession(s, 'sender key is no longer authorized');
      }
    }
  }

  // ---- API views --------------------------------------------------------------

  getTransfers(): ReceiveTransferStructure[] {
    for (const s of this.sessions.values()) for (const t of s.transfers.values()) if (t.status === 'receiving') this.refreshStats(s, t);
    return this.transferLog.map((t) => t.toStructure());
  }

  getSources(): SourceStructure[] {
    const out: SourceStructure[] = [];
    for (const src of this.sources.values()) {
      const count = (st: string) => src.transfers.filter((t) => t.status === st).length;
      const receiving = src.transfers.filter((t) => t.status === 'receiving');
      const idleCutoff = nowUs() - 5_000_000;
      const inactive = receiving.filter((t) => (t.lastRecvTime ?? t.startTime) < idleCutoff).length;
      out.push({
        activeTransferCount: receiving.length - inactive,
        inactiveTransferCount: inactive,
        completeTransferCount: count('complete'),
        errorTransferCount: count('error'),
        aveRecvRate: Math.round(src.rate.averageBitsPerSecond() / 1000),
        aveRecvRateWindow: Math.round(src.rate.windowBitsPerSecond() / 1000),
        destinationPublicKey: this.publicKey,
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

  /** Sessions, receiving transfers and the current receive rate (bits/s), for STATUS= lines. */
  status(): { sessions: number; receiving: number; recvRateBps: number } {
    let receiving = 0;
    let rate = 0;
    for (const s of this.sessions.values()) {
      for (const t of s.transfers.values()) {
        if (t.status !== 'receiving') continue;
        receiving++;
        rate += t.rate.windowBitsPerSecond();
      }
    }
    let sessions = 0;
    for (const s of this.sessions.values()) if (!s.refusing) sessions++;
    return { sessions, receiving, recvRateBps: rate };
  }

  /** Transfers known to the API, by status. */
  transferCounts(): { receiving: number; complete: number; error: number } {
    const out = { receiving: 0, complete: 0, error: 0 };
    for (const t of this.transferLog) out[t.status]++;
    return out;
  }

  setSessionTimeout(ms: number): void {
    this.opts.sessionTimeoutMs = ms;
  }

  /** Sets the resume retention (0 = keep forever), sweeps now and then periodically. */
  setResumeRetention(ms: number): void {
    this.opts.resumeRetentionMs = ms;
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.retentionTimer = null;
    if (this.closed || ms <= 0) return;
    this.retentionTimer = setInterval(() => void this.expireResumable(), Math.max(1000, Math.min(kMaxRetentionSweepMs, ms)));
    this.retentionTimer.unref();
    void this.expireResumable();
  }

  /**
   * Resume retention: drops every resumable transfer that is not running and was idle longer
   * than the retention (see resumeExpired). Its record leaves the API and the state directory,
   * and the partial files it names are removed beneath the sandbox, except those a running
   * transfer uses and anything no longer looking like our partial (left alone, logged).
   * Resolves when the sweep is done (one sweep at a time).
   */
  expireResumable(): Promise<void> {
    this.sweeping ??= this.track(
      (async () => {
        const now = nowUs();
        const expired = [...new Set(this.resumable.values())].filter((t) => resumeExpired(t, now, this.opts.resumeRetentionMs));
        for (const t of expired) {
          // Gone from the resume table first: a sender coming back now starts a new transfer.
          const key = `${t.clientPublicKey}:${t.transferUid}`;
          if (this.resumable.get(key) !== t) continue;
          this.resumable.delete(key);
          t.resumable = false;
          const files = t.files ?? (await this.opts.transferStore?.loadFiles(t.transferId)) ?? null;
          this.forgetRecord(t);
          await this.opts.transferStore?.remove(t.transferId);
          if (this.closed) return;
          const { removed, leftAlone } = this.removePartialsOf(t, files);
          this.log.info(
            { transferId: t.transferId, clientPublicKey: t.clientPublicKey, destinationPath: t.destinationPath, partialsRemoved: removed, leftAlone: leftAlone.slice(0, 20), leftAloneCount: leftAlone.length, fileListKnown: files !== null, retentionMs: this.opts.resumeRetentionMs },
            'resumable transfer expired: record dropped, partial files removed',
          );
        }
      })().finally(() => {
        this.sweeping = null;
      }),
    );
    return this.sweeping;
  }

  /**
   * Removes the partial files of a transfer that will never resume (expired or evicted): those
   * `files` names beneath the sandbox with its partial tag, except files it finished, paths a
   * running transfer uses, and anything no longer looking like its partial (left alone, listed).
   * Synchronous: no transfer can open between the in-use check and the unlinks.
   */
  private removePartialsOf(t: TransferRecord, files: StoredFile[] | null): { removed: number; leftAlone: string[] } {
    const inUse = new Set<string>();
    for (const s of this.sessions.values()) for (const r of s.transfers.values()) if (r.status === 'receiving') for (const f of r.files ?? []) inUse.add(f.path);
    const done = new Set(t.checkpoint?.doneFiles ?? []);
    let removed = 0;
    const leftAlone: string[] = [];
    (files ?? []).forEach((f, i) => {
      if (done.has(i) || inUse.has(f.path)) return;
      try {
        const r = removeStalePartial(this.sandboxRoot, f.path, f.size, t.partialTag);
        if (r === 'removed') removed++;
        else if (r === 'replaced') leftAlone.push(f.path);
      } catch (err) {
        leftAlone.push(f.path);
        this.log.warn({ transferId: t.transferId, path: f.path, err: (err as Error).message }, 'partial file not removed');
      }
    });
    return { removed, leftAlone };
  }

  /**
   * Start-up sweep, before any transfer can open: removes every tagged partial beneath the
   * sandbox that no resumable record owns (left by transfers that could not resume when the
   * receiver was killed, or whose records are gone). Untagged names, symlinks and other file
   * systems are never touched.
   */
  private sweepOrphanPartials(): void {
    const keep = [...new Set([...this.resumable.values()].map((t) => t.partialTag).filter((tag) => tag !== ''))];
    try {
      const r = sweepPartials(this.sandboxRoot, keep);
      this.log.info({ removed: r.removed, bytesRemoved: r.bytesRemoved, kept: r.kept, leftAlone: r.leftAlone }, 'orphaned partial files swept');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'orphaned partial files not swept');
    }
  }

  /** A record evicted by count: gone from the state directory; a resumable one's partials go too. */
  private async evictRecord(t: TransferRecord, wasResumable: boolean): Promise<void> {
    t.resumable = false;
    const files = wasResumable ? (t.files ?? (await this.opts.transferStore?.loadFiles(t.transferId)) ?? null) : null;
    await this.opts.transferStore?.remove(t.transferId);
    if (!wasResumable || this.closed) return;
    const { removed, leftAlone } = this.removePartialsOf(t, files);
    this.log.info({ transferId: t.transferId, partialsRemoved: removed, leftAloneCount: leftAlone.length, fileListKnown: files !== null }, 'resumable transfer record evicted by count: partial files removed');
  }

  /** Removes a record from the API views (transfer log and its source). */
  private forgetRecord(t: TransferRecord): void {
    const i = this.transferLog.indexOf(t);
    if (i >= 0) this.transferLog.splice(i, 1);
    for (const src of this.sources.values()) {
      const j = src.transfers.indexOf(t);
      if (j >= 0) src.transfers.splice(j, 1);
    }
  }

  get activeTransferCount(): number {
    let n = 0;
    for (const s of this.sessions.values()) for (const t of s.transfers.values()) if (t.status === 'receiving') n++;
    return n;
  }

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
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    for (const s of [...this.sessions.values()]) {
      this.send(s, { kind: 'goodbye', reason });
      this.endSession(s, reason);
    }
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
        while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
        await this.opts.transferStore?.flush();
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

/** TransferAccept.have from a checkpoint: whole done files, then the held ranges. */
export function haveRanges(doneFiles: number[], ranges: number[], sizes: number[], blockSize: number): BlockRange[] {
  const out: BlockRange[] = [];
  for (const f of doneFiles) {
    const blocks = Math.ceil((sizes[f] ?? 0) / blockSize);
    if (blocks > 0) out.push({ fileIndex: f, firstBlock: 0, blockCount: blocks });
  }
  for (let i = 0; i + 2 < ranges.length; i += 3) out.push({ fileIndex: ranges[i]!, firstBlock: ranges[i + 1]!, blockCount: ranges[i + 2]! });
  return out;
}
