// noise-crypto.ts — the crypto functions of Noise_*_25519_ChaChaPoly_BLAKE2b (Noise spec
// rev 34, sections 4 and 12): DH = X25519, HASH = BLAKE2b-512, HMAC-BLAKE2b per RFC 2104
// (block size 128 bytes), HKDF as Noise defines it, AEAD = ChaCha20-Poly1305 IETF with the
// Noise nonce (32 zero bits || 64-bit little-endian counter). All functions are pure.
import { sodium } from '../keys/sodium.js';

/** HASHLEN of BLAKE2b in Noise: 64 bytes. */
export const HASH_LEN = 64;
/** BLAKE2b block size, the HMAC block length: 128 bytes. */
export const BLAKE2B_BLOCK_LEN = 128;
/** DHLEN for X25519 and the AEAD key length. */
export const DH_LEN = 32;
/** Poly1305 tag length. */
export const AEAD_TAG_LEN = 16;

/** Concatenate byte strings. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** BLAKE2b-512 of `data` (Noise HASH). */
export function hash(data: Uint8Array): Uint8Array {
  return sodium.crypto_generichash(HASH_LEN, data, null);
}

/** HMAC-BLAKE2b-512 (RFC 2104 with B = 128): H((K ^ opad) || H((K ^ ipad) || text)). */
export function hmacBlake2b(key: Uint8Array, text: Uint8Array): Uint8Array {
  const block = new Uint8Array(BLAKE2B_BLOCK_LEN);
  block.set(key.length > BLAKE2B_BLOCK_LEN ? hash(key) : key);
  const inner = new Uint8Array(BLAKE2B_BLOCK_LEN + text.length);
  const outer = new Uint8Array(BLAKE2B_BLOCK_LEN + HASH_LEN);
  for (let i = 0; i < BLAKE2B_BLOCK_LEN; i++) {
    inner[i] = block[i]! ^ 0x36;
    outer[i] = block[i]! ^ 0x5c;
  }
  inner.set(text, BLAKE2B_BLOCK_LEN);
  outer.set(hash(inner), BLAKE2B_BLOCK_LEN);
  return hash(outer);
}

/**
 * Noise HKDF(chaining_key, input_key_material, 2): temp = HMAC(ck, ikm);
 * out1 = HMAC(temp, 0x01); out2 = HMAC(temp, out1 || 0x02). Both outputs are HASH_LEN bytes.
 */
export function hkdf2(chainingKey: Uint8Array, inputKeyMaterial: Uint8Array): [Uint8Array, Uint8Array] {
  const tempKey = hmacBlake2b(chainingKey, inputKeyMaterial);
  const out1 = hmacBlake2b(tempKey, Uint8Array.of(0x01));
  const out2 = hmacBlake2b(tempKey, concatBytes(out1, Uint8Array.of(0x02)));
  return [out1, out2];
}

/** The 12-byte ChaChaPoly nonce for Noise counter `n`: 4 zero bytes, then n as u64 LE. */
export function noiseNonce(n: number): Uint8Array {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(4, BigInt(n), true);
  return nonce;
}

/** ChaCha20-Poly1305 IETF encryption with the Noise nonce; output = ciphertext || tag. */
export function aeadEncrypt(key: Uint8Array, n: number, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  return sodium.crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, ad, null, noiseNonce(n), key);
}

/** Inverse of {@link aeadEncrypt}; null if the tag does not verify. */
export function aeadDecrypt(key: Uint8Array, n: number, ad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null {
  if (ciphertext.length < AEAD_TAG_LEN) return null;
  try {
    return sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, ciphertext, ad, noiseNonce(n), key);
  } catch {
    return null;
  }
}

/**
 * X25519(privateKey, publicKey); null when the result is all zeros (the peer sent a
 * low-order point), which Noise allows an implementation to treat as an error.
 */
export function dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | null {
  try {
    return sodium.crypto_scalarmult(privateKey, publicKey);
  } catch {
    return null;
  }
}
