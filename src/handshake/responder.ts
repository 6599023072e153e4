// responder.ts — the receiver's side of the handshake: consumes INIT packets and, when
// everything checks out, returns the RESP to send and the session keys; under load, an INIT
// without a valid mac2 gets a COOKIE REPLY instead (no DH work). Stateless per handshake
// (nothing is kept for an INIT that fails); keeps two bounded tables (per-source token
// buckets, per-initiator-key latest timestamps), a load meter and the cookie secret.
// Single-threaded (JS event loop).
import { isLowOrderPoint, type KeyPair } from '../keys/key-encoding.js';
import { sodium } from '../keys/sodium.js';
import { DEFAULT_HANDSHAKE_LOAD_THRESHOLD, HandshakeLoadMeter } from './load-meter.js';
import { ikReadMessage1Payload, ikReadMessage1Static, ikWriteMessage2 } from './noise-ik.js';
import {
  CIPHER_CODES,
  COOKIE_SECRET_LIFETIME_MS,
  HANDSHAKE_INIT_LENGTH,
  HANDSHAKE_INIT_TYPE,
  HANDSHAKE_PROLOGUE,
  HANDSHAKE_RESP_LENGTH,
  HANDSHAKE_RESP_TYPE,
  INIT_MAC1_OFFSET,
  INIT_MAC2_OFFSET,
  INIT_NOISE_OFFSET,
  INIT_SENDER_INDEX_OFFSET,
  MAC2_LENGTH,
  MAX_LANES,
  RESP_MAC1_OFFSET,
  RESP_NOISE_OFFSET,
  RESP_RECEIVER_INDEX_OFFSET,
  RESP_SENDER_INDEX_OFFSET,
  computeCookie,
  computeMac1,
  computeMac2,
  cookieReplyKey,
  decodeInitPayload,
  encodeCookieReply,
  encodeRespPayload,
  mac1Key,
  readU32,
  reservedBytesZero,
  verifyMac1,
  writeU32,
  type CipherName,
} from './packets.js';
import { ReplayGuard, DEFAULT_MAX_REPLAY_KEYS } from './replay-guard.js';
import type { SessionKeys } from './session-keys.js';
import {
  DEFAULT_HANDSHAKE_RATE_LIMIT,
  DEFAULT_MAX_RATE_LIMITED_SOURCES,
  SourceRateLimiter,
  type RateLimit,
} from './source-rate-limiter.js';
import { configError, validateIndex, validateKeyPair } from './validate-options.js';

/** Options of {@link HandshakeResponder}. */
export interface HandshakeResponderOptions {
  /** The receiver's static key pair (its identity). */
  staticKeys: KeyPair;
  /** 'aes-256-gcm' refuses initiators asking for chacha20-poly1305; 'chacha20-poly1305' allows both. */
  minCipher: CipherName;
  /** Decides whether a sender's static public key may open a session. Called before any allocation. */
  isAuthorized: (senderPublicKey: Uint8Array) => boolean;
  /** Returns a fresh local session index (u32). Called only for a handshake that succeeds. */
  allocateIndex: () => number;
  /** Per-source INIT rate limit; default 20/s, burst 10. */
  rateLimit?: RateLimit;
  /** Most lanes granted; a larger request is granted this many. Default 16. */
  maxLanes?: number;
  /** Cap on sources tracked by the rate limiter. Default 4096. */
  maxRateLimitedSources?: number;
  /** Cap on initiator keys whose latest timestamp is remembered. Default 65536. */
  maxReplayKeys?: number;
  /**
   * Under load (cookies required) once this many INITs per second got the DH work, or more
   * than 4× this many with a valid mac1 arrived. Integer 1..1e6; default 50.
   */
  loadThreshold?: number;
}

/** Why an INIT was dropped. The caller sends nothing in every case. */
export type ResponderFailureReason =
  | 'malformed' // wrong length, type or reserved bytes; or a payload with bad fields
  | 'mac1' // mac1 does not verify: sender does not know our public key (no DH done)
  | 'rate-limited' // source exceeded its token bucket (no DH done)
  | 'decrypt' // Noise decryption or DH failed
  | 'bad-key' // static key decrypted but is a low-order X25519 point (never a real key)
  | 'unauthorized' // static key decrypted but isAuthorized said no
  | 'replay' // timestamp not newer than the latest accepted for that key
  | 'cipher' // requested cipher below minCipher
  | 'cookie-sent' // under load, no mac2 (all zero): answered with a COOKIE REPLY (no DH done)
  | 'bad-mac2'; // under load, mac2 does not verify (stale, other address, forged): COOKIE REPLY (no DH done)

/** Outcome of {@link HandshakeResponder.consumeInitiation}. */
export type ResponderResult =
  | {
      ok: true;
      /** The 80-byte RESP to send back to the INIT's source. */
      response: Uint8Array;
      keys: SessionKeys;
      peerPublicKey: Uint8Array;
      /** Index from allocateIndex(); the initiator puts it in packets it sends us. */
      localIndex: number;
      /** The initiator's index; put it in packets we send. */
      remoteIndex: number;
      cipher: CipherName;
      lanes: number;
      handshakeHash: Uint8Array;
    }
  | {
      ok: false;
      reason: ResponderFailureReason;
      /** Set once the sender's static key has been decrypted (for logging refusals). */
      peerPublicKey?: Uint8Array;
      /**
       * The 64-byte COOKIE REPLY to send back to the INIT's source; set exactly when the
       * reason is 'cookie-sent' or 'bad-mac2'. For every other reason nothing is sent.
       */
      cookieReply?: Uint8Array;
    };

/** Responder (receiver) side of Noise IK as framed by jetrecv. */
export class HandshakeResponder {
  private readonly staticKeys: KeyPair;
  private readonly minCipher: CipherName;
  private readonly isAuthorized: (senderPublicKey: Uint8Array) => boolean;
  private readonly allocateIndex: () => number;
  private readonly maxLanes: number;
  private readonly ownMac1Key: Uint8Array;
  private readonly rateLimiter: SourceRateLimiter;
  private readonly replayGuard: ReplayGuard;
  private readonly loadMeter: HandshakeLoadMeter;
  private readonly cookieKey: Uint8Array;
  /** Rm: the secret cookies are keyed with; made lazily, replaced when COOKIE_SECRET_LIFETIME_MS old. */
  private cookieSecret: Uint8Array | null = null;
  private cookieSecretBornMs = 0;

  /** Throws JetrecvError (JETRECV_ERR_CONFIG / _BAD_KEY) or RangeError naming the bad option. */
  constructor(options: HandshakeResponderOptions) {
    validateKeyPair(options.staticKeys, 'staticKeys');
    if (!Object.hasOwn(CIPHER_CODES, options.minCipher)) {
      throw configError(`minCipher must be 'aes-256-gcm' or 'chacha20-poly1305', got ${JSON.stringify(options.minCipher)}`);
    }
    if (typeof options.isAuthorized !== 'function') throw configError('isAuthorized must be a function');
    if (typeof options.allocateIndex !== 'function') throw configError('allocateIndex must be a function');
    const maxLanes = options.maxLanes ?? MAX_LANES;
    if (!Number.isInteger(maxLanes) || maxLanes < 1 || maxLanes > MAX_LANES) {
      throw configError(`maxLanes must be an integer from 1 to ${MAX_LANES}, got ${maxLanes}`);
    }
    this.staticKeys = { publicKey: options.staticKeys.publicKey.slice(), privateKey: options.staticKeys.privateKey.slice() };
    this.minCipher = options.minCipher;
    this.isAuthorized = options.isAuthorized;
    this.allocateIndex = options.allocateIndex;
    this.maxLanes = maxLanes;
    this.ownMac1Key = mac1Key(this.staticKeys.publicKey);
    this.rateLimiter = new SourceRateLimiter(
      options.rateLimit ?? DEFAULT_HANDSHAKE_RATE_LIMIT,
      options.maxRateLimitedSources ?? DEFAULT_MAX_RATE_LIMITED_SOURCES,
    );
    this.replayGuard = new ReplayGuard(options.maxReplayKeys ?? DEFAULT_MAX_REPLAY_KEYS);
    try {
      this.loadMeter = new HandshakeLoadMeter(options.loadThreshold ?? DEFAULT_HANDSHAKE_LOAD_THRESHOLD);
    } catch (err) {
      throw configError((err as Error).message);
    }
    this.cookieKey = cookieReplyKey(this.staticKeys.publicKey);
  }

  /**
   * Check an INIT and answer it. Checks run cheapest first, and nothing is allocated before
   * the sender is known to be authorized: length/type → mac1 → (under load: mac2, else a
   * COOKIE REPLY) → per-source rate limit → DH + decrypt static → isAuthorized → decrypt
   * payload → timestamp replay → cipher → allocateIndex + RESP. Never throws for packet
   * content (only if isAuthorized or allocateIndex throw). `nowMs` (milliseconds, any
   * monotonic-enough clock; default Date.now()) drives the rate limiter, the load meter
   * and the cookie secret's rotation.
   */
  consumeInitiation(packet: Uint8Array, source: { address: string; port: number }, nowMs: number = Date.now()): ResponderResult {
    if (!(packet instanceof Uint8Array) || packet.length !== HANDSHAKE_INIT_LENGTH) return fail('malformed');
    if (packet[0] !== HANDSHAKE_INIT_TYPE || !reservedBytesZero(packet)) return fail('malformed');
    if (!verifyMac1(this.ownMac1Key, packet, INIT_MAC1_OFFSET)) return fail('mac1');
    if (this.loadMeter.arrive(nowMs)) {
      // Under load only an INIT proving its source address (mac2 keyed by our cookie for
      // that address) gets further; the rate limit below is then keyed on a verified address.
      const cookie = computeCookie(this.currentCookieSecret(nowMs), source.address, source.port);
      const mac2 = packet.subarray(INIT_MAC2_OFFSET, INIT_MAC2_OFFSET + MAC2_LENGTH);
      if (!sodium.memcmp(computeMac2(cookie, packet.subarray(0, INIT_MAC2_OFFSET)), mac2)) {
        const cookieReply = encodeCookieReply(
          this.cookieKey,
          readU32(packet, INIT_SENDER_INDEX_OFFSET),
          cookie,
          packet.subarray(INIT_MAC1_OFFSET, INIT_MAC2_OFFSET),
        );
        return { ok: false, reason: mac2.every((b) => b === 0) ? 'cookie-sent' : 'bad-mac2', cookieReply };
      }
    }
    if (!this.rateLimiter.allow(source.address, nowMs)) return fail('rate-limited');
    this.loadMeter.dhStarted(nowMs);

    const partial = ikReadMessage1Static({
      prologue: HANDSHAKE_PROLOGUE,
      staticKeys: this.staticKeys,
      message: packet.subarray(INIT_NOISE_OFFSET, INIT_MAC1_OFFSET),
    });
    if (partial === null) return fail('decrypt');
    const peerPublicKey = partial.remoteStatic;
    if (isLowOrderPoint(peerPublicKey)) return fail('bad-key', peerPublicKey);
    if (!this.isAuthorized(peerPublicKey.slice())) return fail('unauthorized', peerPublicKey);

    const read = ikReadMessage1Payload(partial);
    if (read === null) return fail('decrypt', peerPublicKey);
    const payload = decodeInitPayload(read.payload);
    if (payload === undefined) return fail('malformed', peerPublicKey);
    if (!this.replayGuard.isFresh(peerPublicKey, payload.timestamp)) return fail('replay', peerPublicKey);
    if (this.minCipher === 'aes-256-gcm' && payload.cipher !== 'aes-256-gcm') return fail('cipher', peerPublicKey);
    const lanes = Math.min(payload.lanes, this.maxLanes);

    const written = ikWriteMessage2({
      afterMessage1: read.state,
      remoteEphemeral: partial.remoteEphemeral,
      remoteStatic: peerPublicKey,
      payload: encodeRespPayload({ cipher: payload.cipher, lanes }),
    });
    if (written === null) return fail('decrypt', peerPublicKey); // unreachable: both DHs passed above

    const localIndex = this.allocateIndex();
    validateIndex(localIndex, 'allocateIndex() result');
    const remoteIndex = readU32(packet, INIT_SENDER_INDEX_OFFSET);
    this.replayGuard.accept(peerPublicKey, payload.timestamp);

    const response = new Uint8Array(HANDSHAKE_RESP_LENGTH);
    response[0] = HANDSHAKE_RESP_TYPE;
    writeU32(response, RESP_SENDER_INDEX_OFFSET, localIndex);
    writeU32(response, RESP_RECEIVER_INDEX_OFFSET, remoteIndex);
    response.set(written.message, RESP_NOISE_OFFSET);
    response.set(computeMac1(mac1Key(peerPublicKey), response.subarray(0, RESP_MAC1_OFFSET)), RESP_MAC1_OFFSET);

    return {
      ok: true,
      response,
      keys: { sendKey: written.result.k2, recvKey: written.result.k1 },
      peerPublicKey,
      localIndex,
      remoteIndex,
      cipher: payload.cipher,
      lanes,
      handshakeHash: written.result.handshakeHash,
    };
  }

  /** Rm, replaced with fresh random bytes once COOKIE_SECRET_LIFETIME_MS old (or if the clock went back). */
  private currentCookieSecret(nowMs: number): Uint8Array {
    const age = nowMs - this.cookieSecretBornMs;
    if (this.cookieSecret === null || age >= COOKIE_SECRET_LIFETIME_MS || age < 0) {
      this.cookieSecret = sodium.randombytes_buf(32);
      this.cookieSecretBornMs = nowMs;
    }
    return this.cookieSecret;
  }
}

function fail(reason: ResponderFailureReason, peerPublicKey?: Uint8Array): ResponderResult {
  return peerPublicKey === undefined ? { ok: false, reason } : { ok: false, reason, peerPublicKey };
}
