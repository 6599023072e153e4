// receiver.ts — the receiving side of jetrecv: answers authorized handshakes, runs the
// control channel of each session, opens transfers beneath the sandbox and tracks them
// until every file is finalized. Data packets never reach this file: the addon writes
// blocks to disk and reports file completion and errors as batched events.
import { realpathSync, mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import { Endpoint, type NativeEvent, type CipherName } from '../engine/endpoint.js';
import { HandshakeResponder } from '../handshake/index.js';
import { encodeKey, type KeyPair } from '../keys/key-encoding.js';
import { ReliableChannel } from '../control/reliable-channel.js';
import { decodeControl, encodeControl, type ControlMessage, type ControlMessageInput } from '../proto/control.js';
import { ErrorCodes, JetrecvError } from '../errors.js';
import { RateLimitedLog } from '../log.js';
import { validateManifest, type ValidatedManifest } from './manifest-check.js';
import { TransferRecord, nowUs, type ReceiveTransferStructure } from './transfer-record.js';
import { RateWindow } from './rate-window.js';
import type { SourceStructure } from '../api/structures.js';

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
  serverKeys: KeyPair;
  authorization: SenderAuthorization;
  minCipher: CipherName;
  logger: Logger;
  /** A session with no packet from its sender for this long is closed. */
  sessionTimeoutMs?: number;
  feedbackIntervalMs?: number;
  /** Completed or failed transfer records kept for the API. */
  maxTransferRecords?: number;
  maxSessions?: number;
  maxTransfersPerSession?: number;
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
  flushScheduled: boolean;
  lastRecvUs: number;
  closed: boolean;
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

export class Receiver {
  readonly endpoint: Endpoint;
  readonly sandboxRoot: string;
  private readonly responder: HandshakeResponder;
  private readonly sessions = new Map<number, ReceiveSession>();
  private readonly sources = new Map<string, SourceRecord>();
  private readonly transferLog: TransferRecord[] = [];
  private readonly log: Logger;
  private readonly limited: RateLimitedLog;
  private readonly tick: NodeJS.Timeout;
  private nextIndex = 1;
  private closed = false;
  private readonly opts: Required<Omit<ReceiverOptions, 'logger' | 'authorization' | 'serverKeys'>> & ReceiverOptions;

  constructor(options: ReceiverOptions) {
    this.opts = {
      sessionTimeoutMs: 30_000,
      feedbackIntervalMs: 10,
      maxTransferRecords: 10_000,
      maxSessions: 4096,
      maxTransfersPerSession: 64,
      ...options,
    };
    this.log = options.logger.child({ component: 'receiver' });
    this.limited = new RateLimitedLog(this.log);
    mkdirSync(options.sandboxDir, { recursive: true, mode: 0o750 });
    this.sandboxRoot = realpathSync(options.sandboxDir);
    this.responder = new HandshakeResponder({
      staticKeys: options.serverKeys,
      minCipher: options.minCipher,
      isAuthorized: (key) => options.authorization.isAllowed(key),
      allocateIndex: () => this.allocateIndex(),
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
      },
      (ev) => this.onEvent(ev),
    );
    this.tick = setInterval(() => this.onTick(), 1000);
    this.tick.unref();
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
      const who = result.peerPublicKey ? encodeKey(result.peerPublicKey) : undefined;
      if (result.reason === 'unauthorized') {
        this.limited.warn(`unauth:${who}`, { sourceIP: address, sourcePort: port, clientPublicKey: who }, 'handshake refused: sender key is not authorized');
      } else {
        this.limited.warn(`hs:${result.reason}:${address}`, { sourceIP: address, sourcePort: port, reason: result.reason, clientPublicKey: who }, 'handshake dropped');
      }
      return;
    }
    if (this.sessions.size >= this.opts.maxSessions) {
      this.limited.warn('max-sessions', { max: this.opts.maxSessions }, 'handshake dropped: too many sessions');
      return;
    }
    const peerKey = encodeKey(result.peerPublicKey);
    // A sender that handshakes again from the same address and port replaces its session.
    for (const old of this.sessions.values()) {
      if (old.peerKey === peerKey && old.address === address && old.port === port) {
        this.endSession(old, 'replaced by a new handshake from the same sender');
      }
    }
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
      flushScheduled: false,
      lastRecvUs: nowUs(),
      closed: false,
      channel: new ReliableChannel({
        send: (payload) => {
          if (!session.closed) this.endpoint.native.sendControl(localIndex, payload);
        },
        onMessage: (bytes) => this.onControl(session, bytes),
        onDead: (reason) => this.endSession(session, `control channel dead: ${reason}`),
      }),
    };
    this.sessions.set(localIndex, session);
    const src = this.sourceFor(peerKey, address, port);
    src.sessions.add(localIndex);
    this.endpoint.native.sendRaw(address, port, result.response);
    this.log.info({ session: localIndex, sourceIP: address, sourcePort: port, clientPublicKey: peerKey, cipher: result.cipher, lanes: result.lanes }, 'sender connected');
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

  private send(session: ReceiveSession, msg: ControlMessageInput): void {
    if (session.closed) return;
    session.channel.sendMessage(encodeControl(msg));
  }

  private onControl(session: ReceiveSession, bytes: Uint8Array): void {
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
    const refuse = (code: string, reason: string) => {
      this.log.warn({ session: session.localIndex, sourceIP: session.address, clientPublicKey: session.peerKey, transfer: req.transferId, code, reason }, 'transfer refused');
      this.send(session, { kind: 'transferRefuse', transferId: req.transferId, code, reason });
    };
    const existing = session.transfers.get(req.transferId);
    if (existing) {
      // A retransmitted request for a transfer we already accepted: answer again.
      if (existing.status === 'receiving') this.send(session, { kind: 'transferAccept', transferId: req.transferId });
      else refuse(ErrorCodes.PROTOCOL, `transfer id ${req.transferId} was already used in this session`);
      return;
    }
    if (session.transfers.size >= this.opts.maxTransfersPerSession) {
      refuse(ErrorCodes.REFUSED, `too many transfers in one session (max ${this.opts.maxTransfersPerSession})`);
      return;
    }
    let manifest: ValidatedManifest;
    try {
      manifest = validateManifest(req);
    } catch (err) {
      const e = err as JetrecvError;
      refuse(e.code ?? ErrorCodes.PATH_INVALID, e.message);
      return;
    }
    try {
      this.endpoint.native.openReceiveTransfer(session.localIndex, req.transferId, {
        root: this.sandboxRoot,
        blockSize: req.blockSize,
        files: manifest.files.map((f) => ({ path: f.relPath, size: f.size, mode: f.mode, mtimeMs: f.mtimeMs })),
        emptyDirs: manifest.emptyDirs,
      });
    } catch (err) {
      const e = err as Error & { code?: string; path?: string };
      refuse(e.code ?? ErrorCodes.DISK, e.message);
      return;
    }
    const record = new TransferRecord(session.localIndex, req.transferId, session.peerKey, session.address, session.port, `/${manifest.destinationPath}`, manifest.totalSize, manifest.files.length);
    session.transfers.set(req.transferId, record);
    this.rememberTransfer(record);
    this.sources.get(session.peerKey)?.transfers.push(record);
    this.log.info({ transferId: record.transferId, session: session.localIndex, destinationPath: manifest.destinationPath, files: manifest.files.length, totalSize: manifest.totalSize }, 'transfer accepted');
    this.send(session, { kind: 'transferAccept', transferId: req.transferId });
    record.lastSendTime = nowUs();
    if (manifest.files.length === 0) this.completeTransfer(session, record);
  }

  private rememberTransfer(record: TransferRecord): void {
    this.transferLog.push(record);
    // Forget the oldest finished records beyond the retention count.
    while (this.transferLog.length > this.opts.maxTransferRecords) {
      const idx = this.transferLog.findIndex((t) => t.status !== 'receiving');
      if (idx < 0) break;
      const [gone] = this.transferLog.splice(idx, 1);
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
    this.log.error({ transferId: t.transferId, code, err: message }, 'transfer failed');
    this.send(session, { kind: 'transferError', transferId: wireTransferId, code, message });
  }

  private closeTransfer(session: ReceiveSession, t: TransferRecord, removePartials: boolean): void {
    try {
      this.endpoint.native.closeReceiveTransfer(session.localIndex, t.wireTransferId, removePartials);
    } catch (err) {
      this.log.warn({ transferId: t.transferId, err: (err as Error).message }, 'closing transfer failed');
    }
  }

  private refreshStats(session: ReceiveSession, t: TransferRecord): void {
    const st = this.endpoint.native.receiveTransferStats(session.localIndex, t.wireTransferId);
    if (!st) return;
    t.bytesReceived = st.bytesReceived;
    if (st.lastRecvUs > 0) t.lastRecvTime = st.lastRecvUs;
  }

  /** Once a second: rate samples, liveness of sessions. */
  private onTick(): void {
    const now = Date.now();
    for (const session of [...this.sessions.values()]) {
      const stats = this.endpoint.native.sessionStats(session.localIndex);
      if (stats && stats.lastRecvUs > session.lastRecvUs) session.lastRecvUs = stats.lastRecvUs;
      for (const t of session.transfers.values()) {
        if (t.status !== 'receiving') continue;
        this.refreshStats(session, t);
        t.rate.sample(t.bytesReceived, now);
      }
      if (now * 1000 - session.lastRecvUs > this.opts.sessionTimeoutMs * 1000) {
        this.endSession(session, `no packet from the sender for ${Math.round(this.opts.sessionTimeoutMs / 1000)} s`);
      }
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

  /** Ends a session: its unfinished transfers fail with `reason`. */
  endSession(session: ReceiveSession, reason: string): void {
    if (session.closed) return;
    this.flushFilesDone(session);
    for (const t of session.transfers.values()) {
      if (t.status === 'receiving') {
        this.refreshStats(session, t);
        t.fail(reason);
        this.log.warn({ transferId: t.transferId, reason }, 'transfer ended with its session');
      }
    }
    session.closed = true;
    session.channel.close();
    this.endpoint.native.removeSession(session.localIndex);
    this.sessions.delete(session.localIndex);
    this.sources.get(session.peerKey)?.sessions.delete(session.localIndex);
    this.log.info({ session: session.localIndex, clientPublicKey: session.peerKey, reason }, 'session closed');
  }

  /** Ends the sessions of senders that are no longer allowed (after an API change). */
  enforceAuthorization(isAllowed: (key: Uint8Array) => boolean, decode: (key: string) => Uint8Array): void {
    for (const s of [...this.sessions.values()]) {
      if (!isAllowed(decode(s.peerKey))) {
        this.send(s, { kind: 'goodbye', reason: 'sender key is no longer authorized' });
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
    return { sessions: this.sessions.size, receiving, recvRateBps: rate };
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

  get activeTransferCount(): number {
    let n = 0;
    for (const s of this.sessions.values()) for (const t of s.transfers.values()) if (t.status === 'receiving') n++;
    return n;
  }

  /** Stops accepting, ends every session, closes the endpoint. Idempotent. */
  close(reason = 'receiver shutting down'): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.tick);
    for (const s of [...this.sessions.values()]) {
      this.send(s, { kind: 'goodbye', reason });
      this.endSession(s, reason);
    }
    this.endpoint.close();
  }
}
