// key-encoding.ts — X25519 key pairs and their text form.
// A key is written as standard base64 (RFC 4648 §4, with padding) of its 32 bytes: exactly
// 44 characters, the last one '='. Anything else is rejected with a JETRECV_ERR_BAD_KEY
// error whose message names the key and the problem.
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
 * Parse a key from its base64 text form. Surrounding whitespace (a pasted trailing newline)
 * is ignored; everything else must be canonical standard base64 of exactly 32 bytes.
 * @param what names the key in error messages, e.g. 'server key' or '--server-key'.
 */
function parseKeyText(text: string, what: string): Uint8Array {
  if (typeof text !== 'string') {
    throw badKey(`${what} must be a string of ${KEY_TEXT_LENGTH} base64 characters, got ${typeof text}`);
  }
  const trimmed = text.trim();
  if (trimmed.length === 0) throw badKey(`${what} is empty`);
  const bad = /[^A-Za-z0-9+/=]/.exec(trimmed);
  if (bad) {
    const hint = bad[0] === '-' || bad[0] === '_' ? ' (URL-safe base64; use standard base64 with + and /)' : '';
    throw badKey(
      `${what} is not base64: unexpected character ${JSON.stringify(bad[0])} at position ${bad.index}${hint}`,
    );
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
 * Parse an X25519 public key (44 base64 characters). Rejects the all-zero key, which no
 * real key pair produces and which would make every Diffie-Hellman with it fail.
 * Throws JetrecvError `JETRECV_ERR_BAD_KEY` naming `what` and the problem.
 */
export function parsePublicKey(text: string, what = 'public key'): Uint8Array {
  const key = parseKeyText(text, what);
  if (key.every((b) => b === 0)) throw badKey(`${what} is all zeros, which is not a usable X25519 public key`);
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
