// packets.ts — byte layouts of the three handshake packets, their mac1/mac2, the cookie
// reply crypto, and the payloads carried inside the Noise messages. See
// docs/PROTOCOL-handshake.md. All integers are little-endian except the TAI64N timestamp,
// which is big-endian by definition.
//
// INIT (152 bytes), initiator -> responder:
//   0 u8 type=0x01 | 1..3 zero | 4 u32 sender_index | 8 ephemeral (32)
//   40 encrypted static (32+16) | 88 encrypted payload (16+16) | 120 mac1 (16) | 136 mac2 (16)
// RESP (80 bytes), responder -> initiator:
//   0 u8 type=0x02 | 1..3 zero | 4 u32 sender_index | 8 u32 receiver_index
//   12 ephemeral (32) | 44 encrypted payload (4+16) | 64 mac1 (16)
// COOKIE REPLY (64 bytes), responder under load -> initiator:
//   0 u8 type=0x04 | 1..3 zero | 4 u32 receiver_index | 8 nonce (24) | 32 encrypted cookie (16+16)
import { sodium } from '../keys/sodium.js';
import { concatBytes } from './noise-crypto.js';

export const HANDSHAKE_INIT_TYPE = 0x01;
export const HANDSHAKE_RESP_TYPE = 0x02;
export const HANDSHAKE_COOKIE_TYPE = 0x04;
export const HANDSHAKE_INIT_LENGTH = 152;
export const HANDSHAKE_RESP_LENGTH = 80;
export const HANDSHAKE_COOKIE_LENGTH = 64;

/** Offsets inside INIT. */
export const INIT_SENDER_INDEX_OFFSET = 4;
export const INIT_NOISE_OFFSET = 8; // Noise message 1 (e, enc s, enc payload): 112 bytes
export const INIT_MAC1_OFFSET = 120;
export const INIT_MAC2_OFFSET = 136;
/** Offsets inside RESP. */
export const RESP_SENDER_INDEX_OFFSET = 4;
export const RESP_RECEIVER_INDEX_OFFSET = 8;
export const RESP_NOISE_OFFSET = 12; // Noise message 2 (e, enc payload): 52 bytes
export const RESP_MAC1_OFFSET = 64;
/** Offsets inside COOKIE REPLY. */
export const COOKIE_RECEIVER_INDEX_OFFSET = 4;
export const COOKIE_NONCE_OFFSET = 8;
export const COOKIE_ENCRYPTED_OFFSET = 32; // cookie (16) + Poly1305 tag (16)

export const MAC1_LENGTH = 16;
export const MAC2_LENGTH = 16;
export const COOKIE_LENGTH = 16;
export const COOKIE_NONCE_LENGTH = 24;
/** Cookie secret Rm: rotated by the responder every 2 minutes. */
export const COOKIE_SECRET_LIFETIME_MS = 120_000;
/** A cookie the initiator received is used (as mac2 key) for this long. */
export const COOKIE_LIFETIME_MS = 120_000;
export const INIT_PAYLOAD_LENGTH = 16;
export const RESP_PAYLOAD_LENGTH = 4;
export const TAI64N_LENGTH = 12;

/** The Noise prologue of every jetrecv handshake. */
export const HANDSHAKE_PROLOGUE = new TextEncoder().encode('jetrecv handshake v1');

/** AEAD of the data path, as negotiated in the handshake payloads. */
export type CipherName = 'aes-256-gcm' | 'chacha20-poly1305';
/** Wire codes of {@link CipherName}. */
export const CIPHER_CODES: Readonly<Record<CipherName, number>> = { 'aes-256-gcm': 1, 'chacha20-poly1305': 2 };
/** Lanes (distinct sender sockets) a session may use: 1..MAX_LANES. */
export const MAX_LANES = 16;

export function cipherFromCode(code: number): CipherName | undefined {
  if (code === 1) return 'aes-256-gcm';
  if (code === 2) return 'chacha20-poly1305';
  return undefined;
}

const MAC1_LABEL = new TextEncoder().encode('mac1----');

/** mac1 key for packets sent to `recipientPublicKey`: BLAKE2b-256("mac1----" || key). */
export function mac1Key(recipientPublicKey: Uint8Array): Uint8Array {
  return sodium.crypto_generichash(32, concatBytes(MAC1_LABEL, recipientPublicKey), null);
}

/** mac1 over `covered` (every byte of the packet before mac1): keyed BLAKE2b-128. */
export function computeMac1(key: Uint8Array, covered: Uint8Array): Uint8Array {
  return sodium.crypto_generichash(MAC1_LENGTH, covered, key);
}

/** Constant-time check of the mac1 at `mac1Offset` of `packet`. */
export function verifyMac1(key: Uint8Array, packet: Uint8Array, mac1Offset: number): boolean {
  const expected = computeMac1(key, packet.subarray(0, mac1Offset));
  return sodium.memcmp(expected, packet.subarray(mac1Offset, mac1Offset + MAC1_LENGTH));
}

const COOKIE_LABEL = new TextEncoder().encode('cookie--');

/** mac2 over `covered` (every byte of the INIT before mac2, mac1 included): BLAKE2b-128 keyed by the cookie. */
export function computeMac2(cookie: Uint8Array, covered: Uint8Array): Uint8Array {
  return sodium.crypto_generichash(MAC2_LENGTH, covered, cookie);
}

/** Key of the COOKIE REPLY's XChaCha20-Poly1305: BLAKE2b-256("cookie--" || responder static public key). */
export function cookieReplyKey(responderPublicKey: Uint8Array): Uint8Array {
  return sodium.crypto_generichash(32, concatBytes(COOKIE_LABEL, responderPublicKey), null);
}

/**
 * The cookie of a source: BLAKE2b-128 keyed by the secret Rm (32 bytes) over the UTF-8
 * address text as the receiving socket reports it, then the port as u16 big-endian.
 * Only the responder computes it, so the encoding need only be deterministic.
 */
export function computeCookie(secret: Uint8Array, address: string, port: number): Uint8Array {
  const addr = new TextEncoder().encode(address);
  const msg = new Uint8Array(addr.length + 2);
  msg.set(addr, 0);
  msg[addr.length] = (port >>> 8) & 0xff;
  msg[addr.length + 1] = port & 0xff;
  return sodium.crypto_generichash(COOKIE_LENGTH, msg, secret);
}

/**
 * Build a COOKIE REPLY: `cookie` sealed with XChaCha20-Poly1305 under `key`
 * ({@link cookieReplyKey}) and a random 24-byte nonce, with the INIT's mac1 as AD.
 */
export function encodeCookieReply(key: Uint8Array, receiverIndex: number, cookie: Uint8Array, initMac1: Uint8Array): Uint8Array {
  const out = new Uint8Array(HANDSHAKE_COOKIE_LENGTH);
  out[0] = HANDSHAKE_COOKIE_TYPE;
  writeU32(out, COOKIE_RECEIVER_INDEX_OFFSET, receiverIndex);
  const nonce = sodium.randombytes_buf(COOKIE_NONCE_LENGTH);
  out.set(nonce, COOKIE_NONCE_OFFSET);
  out.set(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(cookie, initMac1, null, nonce, key), COOKIE_ENCRYPTED_OFFSET);
  return out;
}

/**
 * Open a COOKIE REPLY's cookie with `key` and AD `initMac1`; undefined if the packet is
 * not a well-formed COOKIE REPLY or the tag does not verify. Never throws for content.
 */
export function decodeCookieReply(key: Uint8Array, packet: Uint8Array, initMac1: Uint8Array): Uint8Array | undefined {
  if (!(packet instanceof Uint8Array) || packet.length !== HANDSHAKE_COOKIE_LENGTH) return undefined;
  if (packet[0] !== HANDSHAKE_COOKIE_TYPE || !reservedBytesZero(packet)) return undefined;
  try {
    const cookie = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      packet.subarray(COOKIE_ENCRYPTED_OFFSET),
      initMac1,
      packet.subarray(COOKIE_NONCE_OFFSET, COOKIE_ENCRYPTED_OFFSET),
      key,
    );
    return cookie.length === COOKIE_LENGTH ? cookie : undefined;
  } catch {
    return undefined;
  }
}

/** True if bytes 1..3 (reserved) of a handshake packet are zero. */
export function reservedBytesZero(packet: Uint8Array): boolean {
  return packet[1] === 0 && packet[2] === 0 && packet[3] === 0;
}

const TAI64_LABEL = 1n << 62n;

/**
 * TAI64N of `epochNs` (nanoseconds since the Unix epoch): u64 BE (seconds + 2^62) then
 * u32 BE nanoseconds. Byte-wise comparison of two labels orders them in time.
 */
export function encodeTai64n(epochNs: bigint): Uint8Array {
  const out = new Uint8Array(TAI64N_LENGTH);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, TAI64_LABEL + epochNs / 1_000_000_000n, false);
  view.setUint32(8, Number(epochNs % 1_000_000_000n), false);
  return out;
}

/** Lexicographic comparison of two equal-length byte strings (-1, 0, 1). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** INIT payload: TAI64N (12) | u8 cipher | u8 lanes | u16 zero. */
export interface InitPayload {
  timestamp: Uint8Array;
  cipher: CipherName;
  lanes: number;
}

export function encodeInitPayload(p: InitPayload): Uint8Array {
  const out = new Uint8Array(INIT_PAYLOAD_LENGTH);
  out.set(p.timestamp, 0);
  out[12] = CIPHER_CODES[p.cipher];
  out[13] = p.lanes;
  return out;
}

/** Decode an INIT payload; undefined if its length, cipher code, lanes or zero bytes are wrong. */
export function decodeInitPayload(bytes: Uint8Array): InitPayload | undefined {
  if (bytes.length !== INIT_PAYLOAD_LENGTH) return undefined;
  const cipher = cipherFromCode(bytes[12]!);
  const lanes = bytes[13]!;
  if (cipher === undefined || lanes < 1 || lanes > MAX_LANES || bytes[14] !== 0 || bytes[15] !== 0) return undefined;
  return { timestamp: bytes.slice(0, TAI64N_LENGTH), cipher, lanes };
}

/** RESP payload: u8 cipher chosen | u8 lanes accepted | u16 zero. */
export interface RespPayload {
  cipher: CipherName;
  lanes: number;
}

export function encodeRespPayload(p: RespPayload): Uint8Array {
  return Uint8Array.of(CIPHER_CODES[p.cipher], p.lanes, 0, 0);
}

/** Decode a RESP payload; undefined if malformed. */
export function decodeRespPayload(bytes: Uint8Array): RespPayload | undefined {
  if (bytes.length !== RESP_PAYLOAD_LENGTH) return undefined;
  const cipher = cipherFromCode(bytes[0]!);
  const lanes = bytes[1]!;
  if (cipher === undefined || lanes < 1 || lanes > MAX_LANES || bytes[2] !== 0 || bytes[3] !== 0) return undefined;
  return { cipher, lanes };
}

/** Read a u32 LE at `offset`. */
export function readU32(bytes: Uint8Array, offset: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(offset, true);
}

/** Write a u32 LE at `offset`. */
export function writeU32(bytes: Uint8Array, offset: number, value: number): void {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(offset, value, true);
}
