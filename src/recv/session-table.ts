// session-table.ts — the receiver's sessions (one per accepted handshake): admission under the
// caps of session-admission.ts, a refused session that lingers only to carry its goodbye, the
// control channel of each session, and the two liveness rules (sender silence, no transfer open).
// What a session's transfers do when it ends is the coordinator's (hooks.onEnding).
import type { Logger } from 'pino';
import type { HandshakeResponder } from '../handshake/index.js';
import { sourceKey } from '../handshake/source-rate-limiter.js';
import { ReliableChannel } from '../control/reliable-channel.js';
import { encodeControl, type ControlMessageInput } from '../proto/control.js';
import type { RateLimitedLog } from '../log.js';
import type { SendPolicy } from '../addon/send-policy.js';
import { boundControlText } from './refusal.js';
import { SessionAdmission, type SessionCaps, type SessionRefusal } from './session-admission.js';
import { nowUs, type TransferRecord } from './transfer-record.js';
import type { ReceiverEndpoint } from './endpoint-port.js';

/** A handshake the responder accepted. */
export type AcceptedHandshake = Extract<ReturnType<HandshakeResponder['consumeInitiation']>, { ok: true }>;

/** One authenticated sender connection (one handshake). */
export interface ReceiveSession {
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
  /** Refused over a cap: it only carries its final goodbye (retransmitted until acked) and ends after the linger. */
  refusing: boolean;
  /** Counted in SessionAdmission (a refused session gives its count back at once). */
  admitted: boolean;
  /** The sender's first packet arrived: sends the early-blocks advert once more and stops repeating it (unset when not repeating). */
  advertEarlyBlocks?: () => void;
}

export interface SessionTableOptions extends SessionCaps {
  /** A session with no packet from its sender for this long is closed (settable). */
  sessionTimeoutMs: number;
  /** A session with no transfer open (never opened one, or all ended) for this long is closed. */
  noTransferTimeoutMs: number;
  /** How long a session refused over a cap lives to retransmit its goodbye (default kRefusalLingerMs). */
  refusalLingerMs?: number;
  /**
   * Early blocks the addon holds per session (EndpointOptions.earlyBlockBytes; 0 = none): told
   * to each admitted sender in pure acks after its RESP (kEarlyBlockAdvertIntervalMs), and on
   * every pure ack after (Envelope.early_block_bytes).
   */
  earlyBlockBytes?: number;
}

export interface SessionHooks {
  onControl(session: ReceiveSession, bytes: Uint8Array): void;
  /** A handler of this session threw. */
  onFault(session: ReceiveSession, err: unknown): void;
  /** In the table (a refused one too, while it lingers). */
  onOpened(session: ReceiveSession): void;
  /** The session is ending: its transfers end with `reason` (it is still in the table, not yet closed). */
  onEnding(session: ReceiveSession, reason: string): void;
  /** The session left the table and the addon. */
  onEnded(session: ReceiveSession): void;
}

/**
 * The pure ack that tells a new session's sender it may send its first train early
 * (Envelope.early_block_bytes) goes every kEarlyBlockAdvertIntervalMs after the RESP until the
 * sender's first packet arrives (one more then), for at most kEarlyBlockAdvertMaxMs: one that
 * reaches the sender before it has handled the RESP and added the session is dropped there, and
 * that takes the sender 10-20 ms (measured on loopback), whatever the RTT. The first one after
 * that reaches it half an RTT later, so the train follows its TransferRequest by at most an
 * interval. Unacked: if all are lost, that transfer only misses its early train. At most 13
 * pure acks of ~60 bytes per session (a sender that sends nothing costs no more).
 */
export const kEarlyBlockAdvertIntervalMs = 5;
export const kEarlyBlockAdvertMaxMs = 60;

/**
 * A session refused over a cap lives this long so its final goodbye is retransmitted until the
 * sender has it: sent at once and the session removed, the goodbye could reach the sender before
 * it had installed the session's keys and be dropped, and the sender waited out its silence rule.
 */
export const kRefusalLingerMs = 2000;
/** Why a session over a cap is refused, as its goodbye says it. */
const kRefusalText: Record<SessionRefusal, string> = {
  'max-sessions': 'too many sessions at this receiver',
  'max-sessions-per-key': 'too many sessions of this sender key',
  'max-sessions-per-source': 'too many sessions from this address',
};

/** Sends one control message; its free text is bounded first, so encoding cannot fail on it. */
export function sendControl(session: ReceiveSession, msg: ControlMessageInput): void {
  if (session.closed) return;
  session.channel.sendMessage(encodeControl(boundControlText(msg)));
  // Send activity of the transfer the message is about (lastSendTime in the API).
  if ('transferId' in msg) {
    const t = session.transfers.get(msg.transferId);
    if (t) t.lastSendTime = nowUs();
  }
}

export class SessionTable {
  private readonly sessions = new Map<number, ReceiveSession>();
  private readonly admission: SessionAdmission;
  private nextIndex = 1;

  constructor(
    private readonly endpoint: ReceiverEndpoint,
    private readonly sends: SendPolicy,
    private readonly log: Logger,
    private readonly limited: RateLimitedLog,
    readonly opts: SessionTableOptions,
    private readonly hooks: SessionHooks,
  ) {
    this.admission = new SessionAdmission({
      maxSessions: opts.maxSessions,
      maxSessionsPerKey: opts.maxSessionsPerKey,
      maxSessionsPerSource: opts.maxSessionsPerSource,
    });
  }

  /** A free local index (u32, never 0 or 0xffffffff), for the handshake responder. */
  allocateIndex(): number {
    for (;;) {
      const idx = this.nextIndex;
      this.nextIndex = this.nextIndex >= 0xfffffffe ? 1 : this.nextIndex + 1;
      if (!this.sessions.has(idx)) return idx;
    }
  }

  get(localIndex: number): ReceiveSession | undefined {
    return this.sessions.get(localIndex);
  }

  /** Every session, refused ones included (a snapshot: ending sessions while iterating is safe). */
  all(): ReceiveSession[] {
    return [...this.sessions.values()];
  }

  /** Sessions counted against the caps (admitted, not refused). */
  admittedCount(): number {
    return this.admission.count();
  }

  /**
   * An accepted handshake becomes a session: the sender's older session from the same address
   * and port is replaced, the RESP is sent, and over a cap the session opens only to carry a
   * final goodbye saying why, then ends after the linger. Returns the cap refused, or null.
   */
  admit(
    hs: AcceptedHandshake,
    peerKey: string,
    address: string,
    port: number,
  ): { session: ReceiveSession; refusal: SessionRefusal | null } {
    for (const old of this.all()) {
      if (old.peerKey === peerKey && old.address === address && old.port === port)
        this.end(old, 'replaced by a new handshake from the same sender');
    }
    const refusal = this.admission.check(peerKey, address);
    const session = this.open(hs, peerKey, address, port);
    if (refusal) {
      const reason = `${kRefusalText[refusal]} (max ${this.admission.limitOf(refusal)})`;
      this.limited.warn(
        `${refusal}:${refusal === 'max-sessions-per-key' ? peerKey : sourceKey(address)}`,
        { sourceIP: address, sourcePort: port, clientPublicKey: peerKey, reason },
        'session refused',
      );
      session.refusing = true;
      session.admitted = false;
      this.admission.remove(peerKey, address); // a refused session holds no cap slot while it lingers
      sendControl(session, { kind: 'goodbye', reason, final: true });
      setTimeout(() => this.end(session, `refused: ${reason}`), this.opts.refusalLingerMs ?? kRefusalLingerMs).unref();
    }
    return { session, refusal };
  }

  /** Adds the native session, counts it, answers the INIT with its RESP. */
  private open(hs: AcceptedHandshake, peerKey: string, address: string, port: number): ReceiveSession {
    const localIndex = hs.localIndex;
    this.endpoint.addSession({
      localIndex,
      remoteIndex: hs.remoteIndex,
      cipher: hs.cipher,
      sendKey: hs.keys.sendKey,
      recvKey: hs.keys.recvKey,
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
          if (!session.closed) this.sends.send('control', () => this.endpoint.sendControl(localIndex, payload), { session: localIndex });
        },
        onMessage: (bytes) => this.hooks.onControl(session, bytes),
        onDead: (reason) => this.end(session, `control channel dead: ${reason}`),
        // Nothing one sender sends may throw out of a handler: that session ends, the daemon stays.
        onCallbackError: (err) => this.hooks.onFault(session, err),
        earlyBlockBytes: this.opts.earlyBlockBytes ?? 0,
      }),
    };
    this.sessions.set(localIndex, session);
    this.admission.add(peerKey, address);
    this.hooks.onOpened(session);
    this.sends.send('handshake-response', () => this.endpoint.sendRaw(address, port, hs.response), { sourceIP: address, sourcePort: port });
    if ((this.opts.earlyBlockBytes ?? 0) > 0) this.advertEarlyBlocks(session);
    return session;
  }

  /** Sends the early-blocks advert to a new session's sender (see kEarlyBlockAdvertIntervalMs). */
  private advertEarlyBlocks(session: ReceiveSession): void {
    const advert = () => {
      if (!session.closed && !session.refusing) session.channel.keepAlive();
    };
    const timer = setInterval(advert, kEarlyBlockAdvertIntervalMs);
    timer.unref();
    const stop = setTimeout(() => clearInterval(timer), kEarlyBlockAdvertMaxMs);
    stop.unref();
    session.advertEarlyBlocks = () => {
      clearInterval(timer);
      clearTimeout(stop);
      delete session.advertEarlyBlocks;
      advert();
    };
  }

  /** A control packet of the session arrived (dropped once it is closed). */
  receive(localIndex: number, payload: Uint8Array): void {
    const s = this.sessions.get(localIndex);
    if (!s || s.closed) return;
    s.lastRecvUs = nowUs();
    s.advertEarlyBlocks?.();
    s.channel.receive(payload);
  }

  /**
   * The liveness rules, once a second. `busy`: the sender waits for our answer to a request
   * (manifest check, native open: minutes for a huge manifest) and sends nothing meanwhile, so
   * its silence counts from now. A session with no receiving transfer (a placeholder being
   * opened counts as one) for noTransferTimeoutMs gets a goodbye and ends.
   */
  checkLiveness(session: ReceiveSession, nowMs: number, busy: boolean): void {
    const stats = this.endpoint.sessionStats(session.localIndex);
    if (stats && stats.lastRecvUs > session.lastRecvUs) session.lastRecvUs = stats.lastRecvUs;
    if (busy) session.lastRecvUs = Math.max(session.lastRecvUs, nowMs * 1000);
    const timeoutMs = this.opts.sessionTimeoutMs;
    if (nowMs * 1000 - session.lastRecvUs > timeoutMs * 1000) {
      this.end(session, `no packet from the sender for ${Math.round(timeoutMs / 1000)} s`);
      return;
    }
    if ([...session.transfers.values()].some((t) => t.status === 'receiving')) session.lastOpenTransferMs = nowMs;
    else if (nowMs - session.lastOpenTransferMs > this.opts.noTransferTimeoutMs) {
      const reason = `no transfer open for ${this.opts.noTransferTimeoutMs / 1000} s`;
      sendControl(session, { kind: 'goodbye', reason });
      this.end(session, reason);
    }
  }

  /** Ends a session (idempotent): its transfers first (hooks.onEnding), then the channel, the addon's session, its cap slot. */
  end(session: ReceiveSession, reason: string): void {
    if (session.closed) return;
    this.hooks.onEnding(session, reason);
    session.closed = true;
    session.channel.close();
    this.endpoint.removeSession(session.localIndex);
    this.sessions.delete(session.localIndex);
    if (session.admitted) this.admission.remove(session.peerKey, session.address);
    this.hooks.onEnded(session);
    this.log.info({ session: session.localIndex, clientPublicKey: session.peerKey, reason }, 'session closed');
  }

  /** Sends a goodbye and ends the session. */
  goodbye(session: ReceiveSession, reason: string, final = false): void {
    sendControl(session, final ? { kind: 'goodbye', reason, final: true } : { kind: 'goodbye', reason });
    this.end(session, reason);
  }
}
