// validate-options.ts — checks of handshake constructor options; errors name the option.
import { ErrorCodes, JetrecvError } from '../errors.js';
import { KEY_BYTES, keysEqual, publicKeyFromPrivate, type KeyPair } from '../keys/key-encoding.js';

/** Throws JETRECV_ERR_CONFIG unless `value` is a u32. */
export function validateIndex(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw configError(`${name} must be an integer from 0 to 4294967295, got ${value}`);
  }
}

/** Throws JETRECV_ERR_BAD_KEY unless `key` is a 32-byte Uint8Array. */
export function validateKey(key: Uint8Array, name: string): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    const got = key instanceof Uint8Array ? `${key.length} bytes` : typeof key;
    throw new JetrecvError(ErrorCodes.BAD_KEY, `${name} must be ${KEY_BYTES} bytes, got ${got}`);
  }
}

/** Throws JETRECV_ERR_BAD_KEY unless `pair` holds two 32-byte keys that belong together. */
export function validateKeyPair(pair: KeyPair, name: string): void {
  if (typeof pair !== 'object' || pair === null) throw new JetrecvError(ErrorCodes.BAD_KEY, `${name} must be a key pair`);
  validateKey(pair.publicKey, `${name}.publicKey`);
  validateKey(pair.privateKey, `${name}.privateKey`);
  if (!keysEqual(publicKeyFromPrivate(pair.privateKey), pair.publicKey)) {
    throw new JetrecvError(ErrorCodes.BAD_KEY, `${name}.publicKey does not belong to ${name}.privateKey`);
  }
}

/** A JETRECV_ERR_CONFIG error. */
export function configError(message: string): JetrecvError {
  return new JetrecvError(ErrorCodes.CONFIG, message);
}
