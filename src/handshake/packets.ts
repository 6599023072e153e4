// packets.ts — byte layouts of the two handshake packets, their mac1, and the payloads
// carried inside the Noise messages. See docs/PROTOCOL-handshake.md. All integers are
// little-endian except the TAI64N timestamp, which is big-endian by definition.
//
// INIT (136 bytes), initiator -> responder:
//   0 u8 type=0x01 | 1..3 zero | 4 u32 sender_index | 8 ephemeral (32)
//   40 encrypted static (32+16) | 88 encrypted payload (16+16) | 120 mac1 (16)
// RESP (80 bytes), responder -> initiator:
//   0 u8 type=0x02 | 1..3 zero | 4 u32 sender_index | 8 u32 receiver_index
//   12 ephemeral (32) | 44 encrypted payload (4+16) | 64 mac1 (16)
import { sodium } from '../keys/sodium.js';
import { concatBytes } from './noise-crypto.js';

export const HANDSHAKE_INIT_TYPE = 0x01;
export const HANDSHAKE_RESP_TYPE = 0x02;
export const HANDSHAKE_INIT_LENGTH = 136;
export const HANDSHAKE_RESP_LENGTH = 80;

/** Offsets inside INIT. */
export const INIT_SENDER_INDEX_OFFSET = 4;
export const INIT_NOISE_OFFSET = 8; // Noise message 1 (e, enc s, enc payload): 112 bytes
export const INIT_MAC1_OFFSET = 120;
/** Offsets inside RESP. */
export const RESP_SENDER_INDEX_OFFSET = 4;
export const RESP_RECEIVER_INDEX_OFFSET = 8;
export const RESP_NOISE_OFFSET = 12; // Noise message 2 (e, enc payload): 52 bytes
export const RESP_MAC1_OFFSET = 64;

export const MAC1_LENGTH = 16;
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
