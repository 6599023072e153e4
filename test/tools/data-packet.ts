// data-packet.ts — DATA packets sealed in the test with node:crypto, an independent
// implementation of docs/PROTOCOL.md's key schedule and frame layout (AES-256-GCM),
// for tests that put hand-made packets on the wire to a real addon endpoint.
import { createCipheriv, createHmac } from 'node:crypto';

export const kDataHeaderLen = 16;
export const kTagLen = 16;
export const kBlockFrameHeaderLen = 24;
const kEpochShift = 22n;

/** Seals one frame as a DATA packet exactly as docs/PROTOCOL.md describes (AES-256-GCM). */
export function sealData(baseKey: Uint8Array, receiverIndex: number, lane: number, counter: bigint, frame: Uint8Array): Buffer {
  const header = Buffer.alloc(kDataHeaderLen);
  header.writeUInt8(3, 0);
  header.writeUInt8(lane, 1);
  header.writeUInt32LE(receiverIndex, 4);
  header.writeBigUInt64LE(counter, 8);
  const info = Buffer.alloc(13 + 1 + 8);
  info.write('jetrecv epoch', 0, 'latin1');
  info.writeUInt8(lane, 13);
  info.writeBigUInt64LE(counter >> kEpochShift, 14);
  const key = createHmac('sha256', baseKey).update(info).digest();
  const nonce = Buffer.alloc(12);
  nonce.writeUInt32LE(lane, 0);
  nonce.writeBigUInt64LE(counter, 4);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(header);
  const body = Buffer.concat([cipher.update(frame), cipher.final()]);
  return Buffer.concat([header, body, cipher.getAuthTag()]);
}

/** A CONTROL frame (4-byte header) around payload. */
export function controlFrame(payload: Uint8Array): Uint8Array {
  return Buffer.concat([Buffer.from([2, 0, 0, 0]), payload]);
}

/** A BLOCK frame (docs/PROTOCOL-transfer.md): 24-byte header (send_stamp 0), then data. */
export function blockFrame(transferId: number, fileIndex: number, offset: number, data: Uint8Array): Buffer {
  const header = Buffer.alloc(kBlockFrameHeaderLen);
  header.writeUInt8(1, 0);
  header.writeUInt32LE(transferId, 4);
  header.writeUInt32LE(fileIndex, 8);
  header.writeBigUInt64LE(BigInt(offset), 16);
  return Buffer.concat([header, data]);
}
