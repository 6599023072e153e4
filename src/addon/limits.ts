// limits.ts — the native core's bounds under their TS names, read from the addon
// (native/src/core/limits.h, wire_format.h) and never retyped, and the block and
// datagram ranges of the transfer protocol derived from them.
import { addon } from './binding.js';

/** Bytes a BLOCK datagram adds around its block: DATA header, BLOCK frame header, AEAD tag. */
export const kBlockPacketOverhead = addon.constants.blockPacketOverhead;
/** Largest UDP payload (IPv4). */
export const kMaxDatagram = addon.constants.maxDatagram;
/** Largest CONTROL payload the addon sends (Endpoint.sendControl). */
export const kMaxControlPayload = addon.constants.maxControlPayload;
/** The event queue bound the daemon and `jetrecv send` use. */
export const DEFAULT_EVENT_QUEUE_CAPACITY = addon.constants.defaultEventQueueCapacity;
/** The early blocks a receiver holds per session by default (native/src/core/early_blocks.h). */
export const DEFAULT_EARLY_BLOCK_BYTES = addon.constants.earlyBlockSessionBytes;

/**
 * Smallest block size of a transfer: receivers refuse smaller ones (docs/PROTOCOL.md, limits).
 * A rule of the protocol, not of the addon (which takes any block that fits a datagram).
 */
export const kMinBlockSize = 256;
/** Largest block size: one block and its overhead fill the largest datagram. */
export const kMaxBlockSize = kMaxDatagram - kBlockPacketOverhead;
/** Datagram sizes a sender may use: one block of kMinBlockSize..kMaxBlockSize and its overhead. */
export const kDatagramSizeRange: { readonly min: number; readonly max: number } = {
  min: kMinBlockSize + kBlockPacketOverhead,
  max: kMaxDatagram,
};
