// key-encoding.ts — X25519 key pairs and their text form.
// A key is written as standard base64 (RFC 4648 §4, with padding) of its 32 bytes: exactly
// 44 characters, the last one '=', nothing around them (no whitespace). Public keys that are
// low-order X25519 points are refused too. Anything else is rejected with a
// JETRECV_ERR_BAD_KEY error whose message names the key and the problem.
import { ErrorCodes, JetrecvError } from '../errors.js';
import { sodium } from './sodium.js';

/** Length in bytes of an X25519 public or private key. */
export const KEY_BYTES = 32;
/** Length in characters of a key's base64 text form. */
export const KEY_TEXT_LENGTH = 44;

/** An X25519 key pair (32 bytes each). */
export interface KeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

/** Encode a 32-byte key as standard base64 (44 characters). Throws JETRECV_ERR_BAD_KEY otherwise. */
export function encodeKey(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array) || bytes.length !== KEY_BYTES) {
    const got = bytes instanceof Uint8Array ? `${bytes.length} bytes` : typeof bytes;
    throw new JetrecvError(ErrorCodes.BAD_KEY, `cannot encode key: got ${got}, expected ${KEY_BYTES} bytes`);
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64');
}

/**
 * Parse a key from its base64 text form: exactly canonical standard base64 of 32 bytes.
 * Whitespace is refused, not trimmed: one key must have one text form everywhere (a key
 * with a stray space would otherwise be stored and compared as a different string).
 * @param what names the key in error messages, e.g. 'server key' or '--server-key'.
 */
function parseKeyText(text: string, what: string): Uint8Array {
  if (typeof text !== 'string') {
    throw badKey(`${what} must be a string of ${KEY_TEXT_LENGTH} base64 characters, got ${typeof text}`);
  }
  if (text.trim().length === 0) throw badKey(`${what} is empty`);
  if (text.trim() !== text)
    throw badKey(`${what} has leading or trailing whitespace (${text.length} characters; a key is exactly ${KEY_TEXT_LENGTH})`);
  const trimmed = text;
  const bad = /[^A-Za-z0-9+/=]/.exec(trimmed);
  if (bad) {
    const hint = bad[0] === '-' || bad[0] === '_' ? ' (URL-safe base64; use standard base64 with + and /)' : '';
    throw badKey(`${what} is not base64: unexpected character ${JSON.stringify(bad[0])} at position ${bad.index}${hint}`);
  }
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(trimmed) || trimmed.length % 4 !== 0) {
    throw badKey(`${what} is not base64: misplaced '=' padding or length ${trimmed.length} not a multiple of 4`);
  }
  const decoded = Buffer.from(trimmed, 'base64');
  if (decoded.length !== KEY_BYTES) {
    throw badKey(`${what} decodes to ${decoded.length} bytes, expected ${KEY_BYTES} (${KEY_TEXT_LENGTH} base64 characters)`);
  }
  if (decoded.toString('base64') !== trimmed) {
    throw badKey(`${what} is not canonical base64 (the last character before '=' has stray low bits)`);
  }
  return new Uint8Array(decoded);
}

/**
 * The X25519 points of small order (and their non-canonical encodings p, p+1), as
 * libsodium lists them; compared with the unused top bit cleared. A DH with any of them
 * gives a fixed, public result, so no real key pair has such a public key.
 */
const LOW_ORDER_POINTS: readonly Uint8Array[] = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((hex) => Uint8Array.from(Buffer.from(hex, 'hex')));

/** True if `key` (32 bytes) is a low-order X25519 point: never a usable public key. */
export function isLowOrderPoint(key: Uint8Array): boolean {
  if (key.length !== KEY_BYTES) return false;
  return LOW_ORDER_POINTS.some((p) => p.every((b, i) => b === (i === KEY_BYTES - 1 ? key[i]! & 0x7f : key[i])));
}

/**
 * Parse an X25519 public key (44 base64 characters). Rejects low-order points (the
 * all-zero key among them), which no real key pair produces and with which every
 * Diffie-Hellman result is public. Throws JetrecvError `JETRECV_ERR_BAD_KEY` naming `what`
 * and the problem.
 */
export function parsePublicKey(text: string, what = 'public key'): Uint8Array {
  const key = parseKeyText(text, what);
  if (key.every((b) => b === 0)) throw badKey(`${what} is all zeros, which is not a usable X25519 public key`);
  if (isLowOrderPoint(key)) throw badKey(`${what} is a low-order X25519 point, which is not a usable public key`);
  return key;
}

/** Parse an X25519 private key (44 base64 characters); errors as {@link parsePublicKey}. */
export function parsePrivateKey(text: string, what = 'private key'): Uint8Array {
  return parseKeyText(text, what);
}

/** The public key belonging to an X25519 private key. */
export function publicKeyFromPrivate(privateKey: Uint8Array): Uint8Array {
  if (privateKey.length !== KEY_BYTES) {
    throw badKey(`private key is ${privateKey.length} bytes, expected ${KEY_BYTES}`);
  }
  return sodium.crypto_scalarmult_base(privateKey);
}

/** A fresh random X25519 key pair. */
export function generateKeyPair(): KeyPair {
  const { publicKey, privateKey } = sodium.crypto_box_keypair();
  return { publicKey, privateKey };
}

/** Constant-time equality of two byte strings of the same length (false if lengths differ). */
export function keysEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && sodium.memcmp(a, b);
}

function badKey(message: string): JetrecvError {
  return new JetrecvError(ErrorCodes.BAD_KEY, message);
}
