// initiator.ts — the sender's side of the handshake: builds INIT packets and consumes the
// RESP that answers the latest one, or the COOKIE REPLY a responder under load sends
// instead (the cookie then keys the mac2 of INITs for COOKIE_LIFETIME_MS). One instance can
// serve several session attempts (a sender's reconnects): every INIT gets a fresh ephemeral
// key and a later timestamp, and the cookie carries over. Not thread-shared. Only the most
// recent INIT is remembered: a RESP or COOKIE REPLY to an earlier, retried INIT is ignored.
import { ErrorCodes, JetrecvError } from '../errors.js';
import type { KeyPair } from '../keys/key-encoding.js';
import { dh } from './noise-crypto.js';
import { ikReadMessage2, ikWriteMessage1, type IkInitiatorPending } from './noise-ik.js';
import {
  CIPHER_CODES,
  COOKIE_LIFETIME_MS,
  COOKIE_RECEIVER_INDEX_OFFSET,
  HANDSHAKE_INIT_LENGTH,
  HANDSHAKE_INIT_TYPE,
  HANDSHAKE_PROLOGUE,
  HANDSHAKE_RESP_LENGTH,
  HANDSHAKE_RESP_TYPE,
  INIT_MAC1_OFFSET,
  INIT_MAC2_OFFSET,
  INIT_NOISE_OFFSET,
  INIT_SENDER_INDEX_OFFSET,
  MAX_LANES,
  RESP_MAC1_OFFSET,
  RESP_NOISE_OFFSET,
  RESP_RECEIVER_INDEX_OFFSET,
  RESP_SENDER_INDEX_OFFSET,
  computeMac1,
  computeMac2,
  cookieReplyKey,
  decodeCookieReply,
  decodeRespPayload,
  encodeInitPayload,
  encodeTai64n,
  mac1Key,
  readU32,
  reservedBytesZero,
  verifyMac1,
  writeU32,
  type CipherName,
} from './packets.js';
import type { SessionKeys } from './session-keys.js';
import { configError, validateIndex, validateKey, validateKeyPair } from './validate-options.js';

/** Options of {@link HandshakeInitiator}. */
export interface HandshakeInitiatorOptions {
  /** The sender's own static key pair. */
  staticKeys: KeyPair;
  /** The receiver's static public key (must be known in advance: Noise IK). */
  responderPublicKey: Uint8Array;
  /** This side's session index (u32), put in INIT and expected back in RESP. */
  localIndex: number;
  /** The data-path AEAD requested. */
  cipher: CipherName;
  /** Lanes requested, 1..16. */
  lanes: number;
}

/** A completed handshake, from the initiator's side. */
export interface InitiatorResult {
  keys: SessionKeys;
  /** The responder's session index: put it in the receiver_index of packets sent to it. */
  remoteIndex: number;
  cipher: CipherName;
  /** Lanes accepted by the responder (1..requested). */
  lanes: number;
  /** Noise handshake hash, identical on both sides (usable for channel binding). */
  handshakeHash: Uint8Array;
}

/** Initiator (sender) side of Noise IK as framed by jetrecv. */
export class HandshakeInitiator {
  private readonly options: HandshakeInitiatorOptions;
  private readonly responderMac1Key: Uint8Array;
  private readonly ownMac1Key: Uint8Array;
  private readonly cookieKey: Uint8Array;
  private pending: IkInitiatorPending | null = null;
  private lastTimestampNs = -1n;
  /** mac1 of the latest INIT while a COOKIE REPLY to it may still be accepted. */
  private lastMac1: Uint8Array | null = null;
  private cookie: Uint8Array | null = null;
  private cookieReceivedMs = 0;

  /** Throws JetrecvError (JETRECV_ERR_CONFIG / _BAD_KEY) naming the bad option. */
  constructor(options: HandshakeInitiatorOptions) {
    validateKeyPair(options.staticKeys, 'staticKeys');
    validateKey(options.responderPublicKey, 'responderPublicKey');
    validateIndex(options.localIndex, 'localIndex');
    if (!Object.hasOwn(CIPHER_CODES, options.cipher)) {
      throw configError(`cipher must be 'aes-256-gcm' or 'chacha20-poly1305', got ${JSON.stringify(options.cipher)}`);
    }
    if (!Number.isInteger(options.lanes) || options.lanes < 1 || options.lanes > MAX_LANES) {
      throw configError(`lanes must be an integer from 1 to ${MAX_LANES}, got ${options.lanes}`);
    }
    if (dh(options.staticKeys.privateKey, options.responderPublicKey) === null) {
      throw new JetrecvError(ErrorCodes.BAD_KEY, 'responderPublicKey is a low-order X25519 point, not a real public key');
    }
    this.options = { ...options };
    this.responderMac1Key = mac1Key(options.responderPublicKey);
    this.ownMac1Key = mac1Key(options.staticKeys.publicKey);
    this.cookieKey = cookieReplyKey(options.responderPublicKey);
  }

  /**
   * Build a 152-byte INIT. Calling it again (a retry) makes a fresh ephemeral key and a
   * strictly later timestamp, and forgets the previous INIT. `now` sets the timestamp
   * (tests); it is bumped by 1 ns if not later than the previous one. mac2 is keyed by the
   * cookie of the last accepted COOKIE REPLY if that came less than COOKIE_LIFETIME_MS
   * before `now`; otherwise mac2 is all zero.
   */
  createInitiation(now: Date = new Date()): Uint8Array {
    let timestampNs = BigInt(now.getTime()) * 1_000_000n;
    if (timestampNs <= this.lastTimestampNs) timestampNs = this.lastTimestampNs + 1n;
    this.lastTimestampNs = timestampNs;

    const payload = encodeInitPayload({
      timestamp: encodeTai64n(timestampNs),
      cipher: this.options.cipher,
      lanes: this.options.lanes,
    });
    const written = ikWriteMessage1({
      prologue: HANDSHAKE_PROLOGUE,
      staticKeys: this.options.staticKeys,
      responderPublicKey: this.options.responderPublicKey,
      payload,
    });
    if (written === null) throw new Error('handshake: DH with the responder key failed'); // excluded by the constructor
    this.pending = written.pending;

    const packet = new Uint8Array(HANDSHAKE_INIT_LENGTH);
    packet[0] = HANDSHAKE_INIT_TYPE;
    writeU32(packet, INIT_SENDER_INDEX_OFFSET, this.options.localIndex);
    packet.set(written.message, INIT_NOISE_OFFSET);
    const mac1 = computeMac1(this.responderMac1Key, packet.subarray(0, INIT_MAC1_OFFSET));
    packet.set(mac1, INIT_MAC1_OFFSET);
    this.lastMac1 = mac1;
    const cookieAge = now.getTime() - this.cookieReceivedMs;
    if (this.cookie !== null && cookieAge >= 0 && cookieAge < COOKIE_LIFETIME_MS) {
      packet.set(computeMac2(this.cookie, packet.subarray(0, INIT_MAC2_OFFSET)), INIT_MAC2_OFFSET);
    }
    return packet;
  }

  /**
   * Consume a COOKIE REPLY. True if it answers the latest INIT (64 bytes, type 0x04,
   * reserved bytes zero, receiver_index = localIndex, and the cookie decrypts with that
   * INIT's mac1 as AD): the cookie is stored (received at `nowMs`, default Date.now()) and
   * the caller should send a fresh INIT at once, which then carries mac2. Only one reply
   * per INIT is accepted. False for anything else. Never throws for packet content.
   */
  consumeCookieReply(packet: Uint8Array, nowMs: number = Date.now()): boolean {
    const initMac1 = this.lastMac1;
    if (initMac1 === null || this.pending === null) return false;
    if (!(packet instanceof Uint8Array) || packet.length < COOKIE_RECEIVER_INDEX_OFFSET + 4) return false;
    if (readU32(packet, COOKIE_RECEIVER_INDEX_OFFSET) !== this.options.localIndex) return false;
    const cookie = decodeCookieReply(this.cookieKey, packet, initMac1);
    if (cookie === undefined) return false;
    this.cookie = cookie;
    this.cookieReceivedMs = nowMs;
    this.lastMac1 = null;
    return true;
  }

  /**
   * Consume a RESP. Returns the session on success (and forgets the INIT, so a duplicate
   * RESP returns null); null for anything else — wrong length or type, not addressed to
   * localIndex, bad mac1, failed decryption, malformed payload, more lanes than requested,
   * or no INIT outstanding. Never throws for packet content.
   */
  consumeResponse(packet: Uint8Array): InitiatorResult | null {
    const pending = this.pending;
    if (pending === null) return null;
    if (!(packet instanceof Uint8Array) || packet.length !== HANDSHAKE_RESP_LENGTH) return null;
    if (packet[0] !== HANDSHAKE_RESP_TYPE || !reservedBytesZero(packet)) return null;
    if (readU32(packet, RESP_RECEIVER_INDEX_OFFSET) !== this.options.localIndex) return null;
    if (!verifyMac1(this.ownMac1Key, packet, RESP_MAC1_OFFSET)) return null;

    const read = ikReadMessage2(pending, packet.subarray(RESP_NOISE_OFFSET, RESP_MAC1_OFFSET));
    if (read === null) return null;
    const payload = decodeRespPayload(read.payload);
    if (payload === undefined || payload.lanes > this.options.lanes) return null;

    this.pending = null;
    this.lastMac1 = null;
    return {
      keys: { sendKey: read.result.k1, recvKey: read.result.k2 },
      remoteIndex: readU32(packet, RESP_SENDER_INDEX_OFFSET),
      cipher: payload.cipher,
      lanes: payload.lanes,
      handshakeHash: read.result.handshakeHash,
    };
  }
}
