// noise-ik.ts — the Noise IK handshake pattern (Noise spec rev 34) over noise-crypto.ts:
//   <- s
//   ...
//   -> e, es, s, ss
//   <- e, ee, se
// Protocol name Noise_IK_25519_ChaChaPoly_BLAKE2b, no PSK. This layer knows nothing about
// jetrecv packets: messages are `e || encrypted static || encrypted payload` (message 1) and
// `e || encrypted payload` (message 2) for payloads of any length. Every read function
// returns null on any failure and never mutates the state it was given (states are cloned),
// so a forged message cannot spoil a handshake in progress.
import { generateKeyPair, publicKeyFromPrivate, type KeyPair } from '../keys/key-encoding.js';
import { AEAD_TAG_LEN, DH_LEN, HASH_LEN, aeadDecrypt, aeadEncrypt, concatBytes, dh, hash, hkdf2 } from './noise-crypto.js';

/** The Noise protocol name hashed into the initial state. */
export const NOISE_PROTOCOL_NAME = 'Noise_IK_25519_ChaChaPoly_BLAKE2b';

/** Length of message 1 for a payload of `payloadLength` bytes: e (32) + s (32+16) + payload + tag. */
export function ikMessage1Length(payloadLength: number): number {
  return DH_LEN + DH_LEN + AEAD_TAG_LEN + payloadLength + AEAD_TAG_LEN;
}
/** Length of message 2 for a payload of `payloadLength` bytes: e (32) + payload + tag. */
export function ikMessage2Length(payloadLength: number): number {
  return DH_LEN + payloadLength + AEAD_TAG_LEN;
}

/** Noise SymmetricState (with its CipherState folded in: key `k` and nonce `n`). */
class SymmetricState {
  private constructor(
    private ck: Uint8Array,
    private h: Uint8Array,
    private k: Uint8Array | null,
    private n: number,
  ) {}

  /** InitializeSymmetric(protocol_name), then MixHash(prologue). */
  static initialize(prologue: Uint8Array): SymmetricState {
    const name = new TextEncoder().encode(NOISE_PROTOCOL_NAME);
    const h = new Uint8Array(HASH_LEN); // name (33 bytes) <= HASHLEN: zero-padded, not hashed
    h.set(name);
    const state = new SymmetricState(h.slice(), h, null, 0);
    state.mixHash(prologue);
    return state;
  }

  clone(): SymmetricState {
    return new SymmetricState(this.ck.slice(), this.h.slice(), this.k ? this.k.slice() : null, this.n);
  }

  get handshakeHash(): Uint8Array {
    return this.h.slice();
  }

  mixHash(data: Uint8Array): void {
    this.h = hash(concatBytes(this.h, data));
  }

  /** MixKey(DH output); false if the DH failed (low-order point), leaving the state unusable. */
  mixKeyDh(dhOutput: Uint8Array | null): boolean {
    if (dhOutput === null) return false;
    const [ck, tempK] = hkdf2(this.ck, dhOutput);
    this.ck = ck;
    this.k = tempK.slice(0, DH_LEN); // HASHLEN 64: truncate to the 32-byte cipher key
    this.n = 0;
    return true;
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    if (this.k === null) throw new Error('noise: encryptAndHash before any key was mixed'); // unreachable in IK
    const ciphertext = aeadEncrypt(this.k, this.n, this.h, plaintext);
    this.n += 1;
    this.mixHash(ciphertext);
    return ciphertext;
  }

  /** DecryptAndHash; null if the tag does not verify (the state must then be discarded). */
  decryptAndHash(ciphertext: Uint8Array): Uint8Array | null {
    if (this.k === null) return null;
    const plaintext = aeadDecrypt(this.k, this.n, this.h, ciphertext);
    if (plaintext === null) return null;
    this.n += 1;
    this.mixHash(ciphertext);
    return plaintext;
  }

  /** Split(): the two 32-byte transport keys (k1: initiator to responder, k2: the reverse). */
  split(): { k1: Uint8Array; k2: Uint8Array } {
    const [t1, t2] = hkdf2(this.ck, new Uint8Array(0));
    return { k1: t1.slice(0, DH_LEN), k2: t2.slice(0, DH_LEN) };
  }
}

/** Outcome of a completed handshake on either side. */
export interface IkResult {
  /** Initiator-to-responder transport key (Split's first output). */
  k1: Uint8Array;
  /** Responder-to-initiator transport key (Split's second output). */
  k2: Uint8Array;
  /** Final handshake hash h (64 bytes), identical on both sides. */
  handshakeHash: Uint8Array;
}

/** Initiator state between sending message 1 and reading message 2. */
export interface IkInitiatorPending {
  readonly state: SymmetricState;
  readonly staticKeys: KeyPair;
  readonly ephemeral: KeyPair;
}

/** The responder's state after reading the static key of message 1 (before its payload). */
export interface IkResponderPartial {
  readonly state: SymmetricState;
  readonly staticKeys: KeyPair;
  readonly remoteEphemeral: Uint8Array;
  readonly remoteStatic: Uint8Array;
  /** The still-encrypted payload of message 1. */
  readonly encryptedPayload: Uint8Array;
}

function ephemeralFrom(privateKey: Uint8Array | undefined): KeyPair {
  if (privateKey === undefined) return generateKeyPair();
  return { privateKey, publicKey: publicKeyFromPrivate(privateKey) };
}

/**
 * Initiator: write message 1 (`-> e, es, s, ss` + payload). `ephemeralPrivateKey` exists for
 * known-answer tests only; production callers let it default to a fresh random key.
 * Returns null only if a DH fails (a low-order responder key).
 */
export function ikWriteMessage1(o: {
  prologue: Uint8Array;
  staticKeys: KeyPair;
  responderPublicKey: Uint8Array;
  payload: Uint8Array;
  ephemeralPrivateKey?: Uint8Array;
}): { message: Uint8Array; pending: IkInitiatorPending } | null {
  const state = SymmetricState.initialize(o.prologue);
  state.mixHash(o.responderPublicKey); // pre-message <- s
  const e = ephemeralFrom(o.ephemeralPrivateKey);
  state.mixHash(e.publicKey); // e
  if (!state.mixKeyDh(dh(e.privateKey, o.responderPublicKey))) return null; // es
  const encryptedStatic = state.encryptAndHash(o.staticKeys.publicKey); // s
  if (!state.mixKeyDh(dh(o.staticKeys.privateKey, o.responderPublicKey))) return null; // ss
  const encryptedPayload = state.encryptAndHash(o.payload);
  return {
    message: concatBytes(e.publicKey, encryptedStatic, encryptedPayload),
    pending: { state, staticKeys: o.staticKeys, ephemeral: e },
  };
}

/**
 * Responder, first half of reading message 1: `e, es, s` — recovers the initiator's static
 * key so the caller can check it is authorized before doing anything more. Null on failure.
 */
export function ikReadMessage1Static(o: { prologue: Uint8Array; staticKeys: KeyPair; message: Uint8Array }): IkResponderPartial | null {
  if (o.message.length < ikMessage1Length(0)) return null;
  const state = SymmetricState.initialize(o.prologue);
  state.mixHash(o.staticKeys.publicKey); // pre-message <- s
  const remoteEphemeral = o.message.slice(0, DH_LEN);
  state.mixHash(remoteEphemeral); // e
  if (!state.mixKeyDh(dh(o.staticKeys.privateKey, remoteEphemeral))) return null; // es
  const remoteStatic = state.decryptAndHash(o.message.subarray(DH_LEN, DH_LEN + DH_LEN + AEAD_TAG_LEN)); // s
  if (remoteStatic === null) return null;
  return {
    state,
    staticKeys: o.staticKeys,
    remoteEphemeral,
    remoteStatic,
    encryptedPayload: o.message.slice(DH_LEN + DH_LEN + AEAD_TAG_LEN),
  };
}

/**
 * Responder, second half of reading message 1: `ss` + payload. Returns the payload and the
 * state to answer from, or null. Does not mutate `partial`.
 */
export function ikReadMessage1Payload(partial: IkResponderPartial): { payload: Uint8Array; state: SymmetricState } | null {
  const state = partial.state.clone();
  if (!state.mixKeyDh(dh(partial.staticKeys.privateKey, partial.remoteStatic))) return null; // ss
  const payload = state.decryptAndHash(partial.encryptedPayload);
  if (payload === null) return null;
  return { payload, state };
}

/**
 * Responder: write message 2 (`<- e, ee, se` + payload) from the state returned by
 * {@link ikReadMessage1Payload} and finish the handshake. Null only if a DH fails.
 */
export function ikWriteMessage2(o: {
  afterMessage1: SymmetricState;
  remoteEphemeral: Uint8Array;
  remoteStatic: Uint8Array;
  payload: Uint8Array;
  ephemeralPrivateKey?: Uint8Array;
}): { message: Uint8Array; result: IkResult } | null {
  const state = o.afterMessage1.clone();
  const e = ephemeralFrom(o.ephemeralPrivateKey);
  state.mixHash(e.publicKey); // e
  if (!state.mixKeyDh(dh(e.privateKey, o.remoteEphemeral))) return null; // ee
  if (!state.mixKeyDh(dh(e.privateKey, o.remoteStatic))) return null; // se
  const encryptedPayload = state.encryptAndHash(o.payload);
  return {
    message: concatBytes(e.publicKey, encryptedPayload),
    result: { ...state.split(), handshakeHash: state.handshakeHash },
  };
}

/** Initiator: read message 2 and finish. Null on any failure; `pending` is not mutated. */
export function ikReadMessage2(pending: IkInitiatorPending, message: Uint8Array): { payload: Uint8Array; result: IkResult } | null {
  if (message.length < ikMessage2Length(0)) return null;
  const state = pending.state.clone();
  const remoteEphemeral = message.subarray(0, DH_LEN);
  state.mixHash(remoteEphemeral); // e
  if (!state.mixKeyDh(dh(pending.ephemeral.privateKey, remoteEphemeral))) return null; // ee
  if (!state.mixKeyDh(dh(pending.staticKeys.privateKey, remoteEphemeral))) return null; // se
  const payload = state.decryptAndHash(message.subarray(DH_LEN));
  if (payload === null) return null;
  return { payload, result: { ...state.split(), handshakeHash: state.handshakeHash } };
}

export type { SymmetricState };
