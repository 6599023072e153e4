// reliable-channel.ts — reliable, ordered delivery of arbitrary-size messages over an unreliable
// datagram hook (the encrypted CONTROL frames of one session). Messages are cut into Envelope
// fragments with consecutive seq numbers; the peer acks cumulatively plus selective ranges;
// unacked fragments are retransmitted on RTO (RFC 6298 estimate, clamped, exponential backoff)
// or earlier when a later-sent fragment was acked (RACK-style loss detection). Single-threaded:
// every method runs on the JS thread; timers and the clock are injectable for tests.

import { kMaxControlPayload } from '../addon/limits.js';
import { ErrorCodes, JetrecvError } from '../errors.js';
import { decodeEnvelope, encodeEnvelope, MAX_SACK_RANGES, type Envelope } from '../proto/control.js';

/** Timer functions the channel uses; inject a virtual clock in tests. */
export interface ChannelTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ReliableChannelOptions {
  /** Sends one CONTROL payload (Envelope bytes, <= maxPayload). Must not throw; losses are fine. */
  send: (payload: Uint8Array) => void;
  /** Called once per message, in order, with a private copy of its bytes. */
  onMessage: (msg: Uint8Array) => void;
  /**
   * Called at most once when the peer is dead (nothing acked for deadAfterMs while data is
   * outstanding) or broke the protocol (inconsistent fragments). The channel is closed after it.
   */
  onDead: (reason: string) => void;
  /** Largest Envelope the channel emits, bytes. Default kMaxControlPayload (the addon's CONTROL limit). Min 128. */
  maxPayload?: number;
  /** Most fragments sent but not yet acked; also how far ahead of in-order delivery we buffer. Default 128. */
  windowFragments?: number;
  /** Lower clamp of the retransmission timeout, ms. Default 100. */
  rtoMs?: number;
  /** Upper clamp of the retransmission timeout (also of backoff), ms. Default 2000. */
  maxRtoMs?: number;
  /** Largest message sendMessage accepts and the receiver reassembles. Default 64 MiB. */
  maxMessageBytes?: number;
  /** Declare the peer dead after this long without any new ack while data is outstanding. Default 15000. */
  deadAfterMs?: number;
  /** Delay before a pure ack is sent (an ack is sent at once after every 16 received fragments). Default 5. */
  ackDelayMs?: number;
  /** Monotonic clock in ms. Default performance.now. */
  now?: () => number;
  /** Default: the global setTimeout/clearTimeout. */
  timers?: ChannelTimers;
  /**
   * Receives exceptions thrown by onMessage/onDead. The channel's state stays consistent.
   * Default: rethrown asynchronously (so they surface as uncaught exceptions, never silently).
   */
  onCallbackError?: (err: unknown) => void;
  /**
   * Receiver: carried by every pure ack this side sends (Envelope.early_block_bytes: the early
   * blocks it holds per session, docs/PROTOCOL-control.md "Early blocks"). Default 0 (none).
   */
  earlyBlockBytes?: number;
  /** Sender: called with Envelope.early_block_bytes of each envelope from the peer that carries it. */
  onEarlyBlockBytes?: (bytes: number) => void;
}

/** Counters of one channel; see {@link ReliableChannel.stats}. */
export interface ReliableChannelStats {
  /** Data fragments sent for the first time. */
  sent: number;
  /** Data fragments sent again (RTO or loss detection). */
  retransmitted: number;
  /** Pure acks sent. */
  acksSent: number;
  /** New data fragments accepted from the peer. */
  received: number;
  /** Data fragments received again (acked and dropped). */
  duplicates: number;
  /** Data fragments beyond the receive window (dropped). */
  outOfWindow: number;
  /** Payloads that did not decode as an Envelope, or carried impossible acks (ignored). */
  garbage: number;
  /** Retransmissions the peer reported it had already received (reordering, not loss). */
  spuriousRetransmits: number;
  /** Messages handed to onMessage. */
  messagesDelivered: number;
  /** Calls of the send hook that threw (reported to onCallbackError; treated as a loss). */
  sendErrors: number;
  /** Fragments sent and not yet acked. */
  inFlight: number;
  /** Messages not yet fully handed to the window. */
  queued: number;
  /** Smoothed round-trip time, ms; null until the first sample. */
  srttMs: number | null;
  /** Current retransmission timeout (with backoff), ms. */
  rtoMs: number;
}

/** Every this many received fragments an ack goes out at once. */
const ACK_EVERY_FRAGMENTS = 16;
/**
 * Worst-case Envelope bytes besides fragment data and sack (see envelopeSize): four 53-bit
 * varints with tags (seq, ack, msgId, dup: 9 each), two uint32s (6 each), fragment tag + length.
 */
const ENVELOPE_OVERHEAD = 56;
/** Upper bound of the reordering-window multiplier (the window is also capped at srtt). */
const MAX_REORDER_MULT = 64;
/** Loss-detected retransmissions without a spurious one before the multiplier shrinks by 1. */
const REORDER_DECAY_AFTER = 64;
const MIN_MAX_PAYLOAD = 128;

interface OutFragment {
  seq: number;
  msgId: number;
  fragIndex: number;
  fragCount: number;
  data: Uint8Array;
  /** Time of the latest transmission. */
  sentAt: number;
  /** Order of the latest transmission among all transmissions (RACK "sent before"). */
  txOrder: number;
  transmissions: number;
  rtoDeadline: number;
  /** Set when a fragment sent later was acked: deemed lost at this time. */
  lossDeadline: number;
}

interface OutMessage {
  msgId: number;
  data: Uint8Array;
  fragCount: number;
  nextFrag: number;
}

interface Assembly {
  msgId: number;
  fragCount: number;
  parts: Uint8Array[];
  bytes: number;
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Exact encoded size of an Envelope (proto3 omits zero scalars and empty fields). */
function envelopeSize(e: Envelope): number {
  let size = 0;
  for (const v of [e.seq, e.ack, e.msgId, e.fragIndex, e.fragCount, e.dup]) if (v !== 0) size += 1 + varintSize(v);
  if (e.fragment.length > 0) size += 1 + varintSize(e.fragment.length) + e.fragment.length;
  if (e.earlyBlockBytes) size += 1 + varintSize(e.earlyBlockBytes);
  if (e.sack.length > 0) {
    let packed = 0;
    for (const v of e.sack) packed += varintSize(v);
    size += 1 + varintSize(packed) + packed;
  }
  return size;
}

function positiveOption(name: string, value: number | undefined, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < min) {
    throw new JetrecvError(ErrorCodes.CONFIG, `ReliableChannel: ${name} must be a number >= ${min}, got ${String(value)}`);
  }
  return v;
}

/**
 * One direction pair of the control channel of a session. Feed every incoming CONTROL payload
 * to {@link receive}; send messages with {@link sendMessage}; {@link close} when the session ends.
 */
export class ReliableChannel {
  private readonly sendPayload: (payload: Uint8Array) => void;
  private readonly onMessage: (msg: Uint8Array) => void;
  private readonly onDead: (reason: string) => void;
  private readonly onCallbackError: (err: unknown) => void;
  private readonly earlyBlockBytes: number;
  private readonly onEarlyBlockBytes: ((bytes: number) => void) | undefined;
  private readonly now: () => number;
  private readonly timers: ChannelTimers;
  private readonly maxPayload: number;
  private readonly fragmentBytes: number;
  private readonly window: number;
  private readonly minRto: number;
  private readonly maxRto: number;
  private readonly maxMessageBytes: number;
  private readonly deadAfterMs: number;
  private readonly ackDelayMs: number;

  private closed = false;

  // ---- sending side ----
  private nextSeq = 1;
  private nextMsgId = 1;
  private readonly queue: OutMessage[] = [];
  /** Unacked fragments in seq order (Map keeps insertion order; seqs are inserted ascending). */
  private readonly inFlight = new Map<number, OutFragment>();
  /** Counts transmissions; a fragment's txOrder says which transmission was later. */
  private txCounter = 0;
  private srtt: number | null = null;
  private rttvar = 0;
  private minRtt = Infinity;
  private rto: number;
  /** RACK: the latest transmission (by order) known to be delivered, and its RTT. */
  private rackTxOrder = 0;
  private rackRtt = 0;
  /** RACK reordering window = min(srtt, reorderMult x max(1 ms, minRtt / 4)); grows on spurious resends. */
  private reorderMult = 1;
  private lossResendsSinceSpurious = 0;
  /** Recently retransmitted seqs (bounded FIFO), to recognise a peer's dup report as spurious. */
  private readonly resent = new Set<number>();
  private readonly resentOrder: number[] = [];
  private lastProgressAt = 0;
  private timer: unknown = undefined;
  private timerAt = Infinity;
  private idleWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];

  // ---- receiving side ----
  private cumAck = 0;
  private readonly outOfOrder = new Map<number, Envelope>();
  private assembly: Assembly | null = null;
  private lastDeliveredMsgId = 0;
  private ackPending = false;
  private receivedSinceAck = 0;
  /** A duplicate seq to report in the next envelope (0 = none). */
  private dupToReport = 0;
  private ackTimer: unknown = undefined;

  private readonly counters = {
    sent: 0,
    retransmitted: 0,
    acksSent: 0,
    received: 0,
    duplicates: 0,
    outOfWindow: 0,
    garbage: 0,
    spuriousRetransmits: 0,
    messagesDelivered: 0,
    sendErrors: 0,
  };

  constructor(opts: ReliableChannelOptions) {
    this.sendPayload = opts.send;
    this.onMessage = opts.onMessage;
    this.onDead = opts.onDead;
    this.onCallbackError =
      opts.onCallbackError ??
      ((err: unknown) => {
        queueMicrotask(() => {
          throw err;
        });
      });
    this.earlyBlockBytes = opts.earlyBlockBytes ?? 0;
    this.onEarlyBlockBytes = opts.onEarlyBlockBytes;
    this.now = opts.now ?? (() => performance.now());
    this.timers = opts.timers ?? {
      setTimeout: (fn, ms) => setTimeout(fn, ms),
      clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
    };
    this.maxPayload = positiveOption('maxPayload', opts.maxPayload, kMaxControlPayload, MIN_MAX_PAYLOAD);
    this.fragmentBytes = this.maxPayload - ENVELOPE_OVERHEAD;
    this.window = Math.floor(positiveOption('windowFragments', opts.windowFragments, 128));
    this.minRto = positiveOption('rtoMs', opts.rtoMs, 100);
    this.maxRto = positiveOption('maxRtoMs', opts.maxRtoMs, 2000, this.minRto);
    this.maxMessageBytes = positiveOption('maxMessageBytes', opts.maxMessageBytes, 64 * 1024 * 1024);
    this.deadAfterMs = positiveOption('deadAfterMs', opts.deadAfterMs, 15_000);
    this.ackDelayMs = positiveOption('ackDelayMs', opts.ackDelayMs, 5, 0);
    // Before the first RTT sample: 3 x the minimum (RFC 6298 says 1 s; control is cheap to resend).
    this.rto = Math.min(this.maxRto, this.minRto * 3);
  }

  /**
   * Queues one message (copied) for reliable, ordered delivery. Throws JetrecvError STATE if the
   * channel is closed or dead, PROTOCOL if the message exceeds maxMessageBytes.
   */
  sendMessage(bytes: Uint8Array): void {
    if (this.closed) throw new JetrecvError(ErrorCodes.STATE, 'reliable channel is closed');
    if (bytes.length > this.maxMessageBytes) {
      throw new JetrecvError(
        ErrorCodes.PROTOCOL,
        `control message of ${bytes.length} bytes exceeds the ${this.maxMessageBytes}-byte limit`,
      );
    }
    const fragCount = Math.max(1, Math.ceil(bytes.length / this.fragmentBytes));
    this.queue.push({ msgId: this.nextMsgId++, data: bytes.slice(), fragCount, nextFrag: 0 });
    this.pump();
  }

  /** Handles one incoming CONTROL payload. Never throws; garbage is counted and ignored. */
  receive(payload: Uint8Array): void {
    if (this.closed) return;
    let env: Envelope;
    try {
      env = decodeEnvelope(payload);
    } catch {
      this.counters.garbage++;
      return;
    }
    if (env.ack >= this.nextSeq) {
      // The peer acks fragments we never sent: not a believable envelope.
      this.counters.garbage++;
      return;
    }
    this.processAck(env);
    if (env.earlyBlockBytes !== undefined && this.onEarlyBlockBytes) {
      try {
        this.onEarlyBlockBytes(env.earlyBlockBytes);
      } catch (err) {
        this.onCallbackError(err);
      }
      if (this.closed) return;
    }
    const delivered: Uint8Array[] = [];
    if (env.seq !== 0 && !this.processData(env, delivered)) return; // died on a protocol violation
    for (const msg of delivered) {
      if (this.closed) break; // onMessage closed the channel
      this.counters.messagesDelivered++;
      try {
        this.onMessage(msg);
      } catch (err) {
        this.onCallbackError(err);
      }
    }
    if (!this.closed) this.pump();
  }

  /**
   * Sends a pure ack now: no data, tells the peer this side is alive (e.g. while a long
   * operation delays the reply it waits for). Harmless to the peer's loss detection.
   */
  keepAlive(): void {
    if (!this.closed) this.sendAck();
  }

  /**
   * Resolves when every queued message has been acked by the peer. Rejects with JetrecvError
   * CANCELLED if the channel is closed first, TIMEOUT if the peer is declared dead.
   */
  whenIdle(): Promise<void> {
    if (this.closed) return Promise.reject(new JetrecvError(ErrorCodes.CANCELLED, 'reliable channel is closed'));
    if (this.queue.length === 0 && this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.idleWaiters.push({ resolve, reject }));
  }

  /** Stops timers and drops everything outstanding. Idempotent. Does not call onDead. */
  close(): void {
    this.shutdown(new JetrecvError(ErrorCodes.CANCELLED, 'reliable channel is closed'));
  }

  /** True once closed or dead. */
  get isClosed(): boolean {
    return this.closed;
  }

  stats(): ReliableChannelStats {
    return {
      ...this.counters,
      inFlight: this.inFlight.size,
      queued: this.queue.length,
      srttMs: this.srtt,
      rtoMs: this.rto,
    };
  }

  // ---- sending side ---------------------------------------------------------------------

  private lowestUnacked(): number {
    for (const seq of this.inFlight.keys()) return seq;
    return this.nextSeq;
  }

  /** Cuts and sends new fragments while the window allows. */
  private pump(): void {
    while (this.queue.length > 0 && this.nextSeq - this.lowestUnacked() < this.window) {
      const msg = this.queue[0] as OutMessage;
      const start = msg.nextFrag * this.fragmentBytes;
      const frag: OutFragment = {
        seq: this.nextSeq++,
        msgId: msg.msgId,
        fragIndex: msg.nextFrag,
        fragCount: msg.fragCount,
        data: msg.data.subarray(start, start + this.fragmentBytes),
        sentAt: 0,
        txOrder: 0,
        transmissions: 0,
        rtoDeadline: Infinity,
        lossDeadline: Infinity,
      };
      if (++msg.nextFrag === msg.fragCount) this.queue.shift();
      if (this.inFlight.size === 0) this.lastProgressAt = this.now();
      this.inFlight.set(frag.seq, frag);
      this.transmit(frag);
      this.counters.sent++;
    }
    this.armTimer();
  }

  private transmit(frag: OutFragment): void {
    const now = this.now();
    frag.sentAt = now;
    frag.txOrder = ++this.txCounter;
    frag.transmissions++;
    if (frag.transmissions > 1) this.rememberResent(frag.seq);
    frag.rtoDeadline = now + this.rto;
    frag.lossDeadline = Infinity;
    const env: Envelope = {
      seq: frag.seq,
      ack: this.cumAck,
      sack: [],
      msgId: frag.msgId,
      fragIndex: frag.fragIndex,
      fragCount: frag.fragCount,
      fragment: frag.data,
      dup: this.dupToReport,
    };
    // Piggyback as many sack ranges as fit; if all fit, this envelope replaces a pure ack.
    const { sack, complete } = this.sackRanges(this.maxPayload - envelopeSize(env));
    env.sack = sack;
    if (complete && this.ackPending) this.clearAckPending();
    this.emit(env);
  }

  /** Encodes and hands one envelope to the send hook; a throwing hook counts as a lost datagram. */
  private emit(env: Envelope): void {
    const payload = encodeEnvelope(env);
    this.dupToReport = 0;
    try {
      this.sendPayload(payload);
    } catch (err) {
      this.counters.sendErrors++;
      this.onCallbackError(err);
    }
  }

  private rememberResent(seq: number): void {
    if (this.resent.has(seq)) return;
    this.resent.add(seq);
    this.resentOrder.push(seq);
    if (this.resentOrder.length > 4 * this.window) this.resent.delete(this.resentOrder.shift() as number);
  }

  private processAck(env: Envelope): void {
    const now = this.now();
    if (env.dup !== 0 && this.resent.delete(env.dup)) {
      // The peer got this seq twice: our retransmission was spurious, so allow more reordering.
      this.counters.spuriousRetransmits++;
      this.reorderMult = Math.min(MAX_REORDER_MULT, this.reorderMult + 1);
      this.lossResendsSinceSpurious = 0;
    }
    let progressed = false;
    let rttSample: number | null = null;
    let newestTxOrder = 0;
    const acked = (frag: OutFragment): void => {
      this.inFlight.delete(frag.seq);
      progressed = true;
      const rtt = now - frag.sentAt;
      // Karn: only once-sent fragments give unambiguous samples; a retransmitted one counts for
      // RACK only if acked later than any plausible ack of its earlier copy.
      if (frag.transmissions === 1 || rtt >= this.minRtt) {
        if (frag.txOrder > newestTxOrder) {
          newestTxOrder = frag.txOrder;
          if (frag.transmissions === 1) rttSample = rtt;
          if (frag.txOrder > this.rackTxOrder) {
            this.rackTxOrder = frag.txOrder;
            this.rackRtt = rtt;
          }
        }
      }
    };
    for (const frag of this.inFlight.values()) {
      if (frag.seq > env.ack) break;
      acked(frag);
    }
    const top = this.nextSeq - 1;
    for (let i = 0; i + 1 < env.sack.length; i += 2) {
      const lo = Math.max(env.sack[i] as number, env.ack + 1, this.lowestUnacked());
      const hi = Math.min(env.sack[i + 1] as number, top); // clipped: at most one window long
      for (let seq = lo; seq <= hi; seq++) {
        const frag = this.inFlight.get(seq);
        if (frag !== undefined) acked(frag);
      }
    }
    if (!progressed) return;
    this.lastProgressAt = now;
    if (rttSample !== null) this.updateRtt(rttSample);
    else this.rto = this.computeRto();
    this.detectLosses(now);
    if (this.inFlight.size === 0 && this.queue.length === 0) this.resolveIdle();
  }

  /** RFC 6298 smoothing; the RTO is clamped to [rtoMs, maxRtoMs] and backoff is reset. */
  private updateRtt(sample: number): void {
    this.minRtt = Math.min(this.minRtt, sample);
    if (this.srtt === null) {
      this.srtt = sample;
      this.rttvar = sample / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - sample);
      this.srtt = 0.875 * this.srtt + 0.125 * sample;
    }
    this.rto = this.computeRto();
  }

  private computeRto(): number {
    if (this.srtt === null) return Math.min(this.maxRto, this.minRto * 3);
    return Math.min(this.maxRto, Math.max(this.minRto, this.srtt + Math.max(1, 4 * this.rttvar)));
  }

  /**
   * RACK-style (RFC 8985): a fragment transmitted before one the peer has acked is lost once it
   * has been out for the acked one's RTT plus a reordering window, which starts at a quarter of
   * the min RTT (>= 1 ms), grows with every spurious retransmission the peer reports (capped at
   * srtt) and shrinks back slowly.
   */
  private detectLosses(now: number): void {
    const base = Math.max(1, (Number.isFinite(this.minRtt) ? this.minRtt : 0) / 4);
    const reorderMs = Math.max(1, Math.min(this.srtt ?? Infinity, this.reorderMult * base));
    for (const frag of this.inFlight.values()) {
      if (frag.txOrder >= this.rackTxOrder) continue;
      const lostAt = frag.sentAt + this.rackRtt + reorderMs;
      if (lostAt <= now) {
        this.transmit(frag);
        this.counters.retransmitted++;
        if (++this.lossResendsSinceSpurious >= REORDER_DECAY_AFTER) {
          this.reorderMult = Math.max(1, this.reorderMult - 1);
          this.lossResendsSinceSpurious = 0;
        }
      } else {
        frag.lossDeadline = Math.min(frag.lossDeadline, lostAt);
      }
    }
  }

  /** Arms the single sender timer for the earliest retransmission or the dead-peer deadline. */
  private armTimer(): void {
    if (this.closed || this.inFlight.size === 0) {
      this.cancelTimer();
      return;
    }
    let at = this.lastProgressAt + this.deadAfterMs;
    for (const frag of this.inFlight.values()) at = Math.min(at, frag.rtoDeadline, frag.lossDeadline);
    if (this.timer !== undefined && this.timerAt <= at) return; // fires early and re-arms
    this.cancelTimer();
    this.timerAt = at;
    this.timer = this.timers.setTimeout(() => this.onTimer(), Math.max(0, at - this.now()));
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.closed || this.inFlight.size === 0) return;
    const now = this.now();
    if (now - this.lastProgressAt >= this.deadAfterMs) {
      this.die(
        `peer dead: nothing acknowledged for ${Math.round(now - this.lastProgressAt)} ms ` +
          `with ${this.inFlight.size} fragments outstanding`,
        ErrorCodes.TIMEOUT,
      );
      return;
    }
    let backedOff = false;
    for (const frag of this.inFlight.values()) {
      if (frag.rtoDeadline <= now) {
        if (!backedOff) {
          this.rto = Math.min(this.maxRto, this.rto * 2); // one backoff step per timeout event
          backedOff = true;
        }
        this.transmit(frag);
        this.counters.retransmitted++;
      } else if (frag.lossDeadline <= now) {
        this.transmit(frag);
        this.counters.retransmitted++;
      }
    }
    this.armTimer();
  }

  // ---- receiving side -------------------------------------------------------------------

  /** Accepts one data fragment; appends completed messages to `delivered`. False if the channel died. */
  private processData(env: Envelope, delivered: Uint8Array[]): boolean {
    if (env.seq <= this.cumAck || this.outOfOrder.has(env.seq)) {
      this.counters.duplicates++;
      this.dupToReport = env.seq;
      this.scheduleAck(); // our ack was probably lost
      return true;
    }
    if (env.seq > this.cumAck + this.window) {
      this.counters.outOfWindow++;
      this.scheduleAck();
      return true;
    }
    this.counters.received++;
    this.outOfOrder.set(env.seq, env);
    for (let next = this.outOfOrder.get(this.cumAck + 1); next !== undefined; next = this.outOfOrder.get(this.cumAck + 1)) {
      this.outOfOrder.delete(next.seq);
      this.cumAck = next.seq;
      const violation = this.assemble(next, delivered);
      if (violation !== null) {
        this.die(`protocol violation by peer: ${violation}`, ErrorCodes.PROTOCOL);
        return false;
      }
    }
    if (++this.receivedSinceAck >= ACK_EVERY_FRAGMENTS) this.sendAck();
    else this.scheduleAck();
    return true;
  }

  /** Adds an in-order fragment to the current message. Returns a violation description or null. */
  private assemble(env: Envelope, delivered: Uint8Array[]): string | null {
    let a = this.assembly;
    if (a === null) {
      if (env.fragIndex !== 0) return `seq ${env.seq} starts message ${env.msgId} at fragment ${env.fragIndex}`;
      if (env.msgId !== this.lastDeliveredMsgId + 1) {
        return `seq ${env.seq} carries message ${env.msgId}, expected ${this.lastDeliveredMsgId + 1}`;
      }
      if (env.fragCount > this.maxMessageBytes) return `message ${env.msgId} has ${env.fragCount} fragments`;
      a = { msgId: env.msgId, fragCount: env.fragCount, parts: [], bytes: 0 };
      this.assembly = a;
    } else if (env.msgId !== a.msgId || env.fragCount !== a.fragCount || env.fragIndex !== a.parts.length) {
      return (
        `seq ${env.seq} carries fragment ${env.fragIndex}/${env.fragCount} of message ${env.msgId}, ` +
        `expected ${a.parts.length}/${a.fragCount} of message ${a.msgId}`
      );
    }
    if (a.fragCount > 1 && env.fragment.length === 0) return `seq ${env.seq} is an empty fragment`;
    a.bytes += env.fragment.length;
    if (a.bytes > this.maxMessageBytes) return `message ${a.msgId} exceeds ${this.maxMessageBytes} bytes`;
    a.parts.push(env.fragment);
    if (a.parts.length < a.fragCount) return null;
    const msg = new Uint8Array(a.bytes);
    let offset = 0;
    for (const part of a.parts) {
      msg.set(part, offset);
      offset += part.length;
    }
    delivered.push(msg);
    this.lastDeliveredMsgId = a.msgId;
    this.assembly = null;
    return null;
  }

  /**
   * Selective-ack ranges of buffered out-of-order fragments, lowest first, as many as fit in
   * `roomBytes` (and MAX_SACK_RANGES). `complete` is false if some had to be left out.
   */
  private sackRanges(roomBytes: number): { sack: number[]; complete: boolean } {
    if (this.outOfOrder.size === 0) return { sack: [], complete: true };
    const seqs = [...this.outOfOrder.keys()].sort((x, y) => x - y);
    const sack: number[] = [];
    let packed = 0;
    let lo = seqs[0] as number;
    let prev = lo;
    const push = (first: number, last: number): boolean => {
      const add = varintSize(first) + varintSize(last);
      if (sack.length / 2 >= MAX_SACK_RANGES || 1 + varintSize(packed + add) + packed + add > roomBytes) return false;
      sack.push(first, last);
      packed += add;
      return true;
    };
    for (let i = 1; i <= seqs.length; i++) {
      const seq = seqs[i];
      if (seq === prev + 1) {
        prev = seq;
        continue;
      }
      if (!push(lo, prev)) return { sack, complete: false };
      if (seq === undefined) break;
      lo = seq;
      prev = seq;
    }
    return { sack, complete: true };
  }

  private scheduleAck(): void {
    this.ackPending = true;
    if (this.ackTimer !== undefined || this.closed) return;
    this.ackTimer = this.timers.setTimeout(() => {
      this.ackTimer = undefined;
      if (this.ackPending && !this.closed) this.sendAck();
    }, this.ackDelayMs);
  }

  private clearAckPending(): void {
    this.ackPending = false;
    this.receivedSinceAck = 0;
    if (this.ackTimer !== undefined) this.timers.clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  private sendAck(): void {
    this.clearAckPending();
    const env: Envelope = {
      seq: 0,
      ack: this.cumAck,
      sack: [],
      msgId: 0,
      fragIndex: 0,
      fragCount: 0,
      fragment: new Uint8Array(0),
      dup: this.dupToReport,
    };
    if (this.earlyBlockBytes > 0) env.earlyBlockBytes = this.earlyBlockBytes;
    env.sack = this.sackRanges(this.maxPayload - envelopeSize(env)).sack;
    this.counters.acksSent++;
    this.emit(env);
  }

  // ---- lifecycle ------------------------------------------------------------------------

  private resolveIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w.resolve();
  }

  private die(reason: string, code: string): void {
    if (this.closed) return;
    this.shutdown(new JetrecvError(code, reason));
    try {
      this.onDead(reason);
    } catch (err) {
      this.onCallbackError(err);
    }
  }

  private shutdown(err: JetrecvError): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelTimer();
    if (this.ackTimer !== undefined) this.timers.clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.queue.length = 0;
    this.inFlight.clear();
    this.outOfOrder.clear();
    this.assembly = null;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w.reject(err);
  }
}
