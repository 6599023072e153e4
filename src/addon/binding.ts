// binding.ts — the addon's loader and the exact type of what it exports. Only this file
// loads the `.node` (build/Release/jetrecv_native.node, resolved from the package root);
// the rest of src/ imports the typed wrapper (endpoint.ts) and the named bounds
// (limits.ts) beside it. The types below are the one schema of the channel between TS
// and native/src/binding (docs/ARCHITECTURE.md); test/native/contract.test.ts checks
// every stats and event object the addon builds against them. The addon re-checks
// argument types and ranges with fixed messages; friendly validation belongs to the TS callers.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from './package-root.js';

/** AEAD used for a session's DATA packets. */
export type CipherName = 'aes-256-gcm' | 'chacha20-poly1305';

/** Options of `new Endpoint()`; every field is required (no defaults in C++). */
export interface EndpointOptions {
  /** 'receiver' binds the data port; 'sender' opens `sockets` lanes on ephemeral ports. */
  role: 'receiver' | 'sender';
  /** Numeric address to bind: '0.0.0.0', '127.0.0.1', '::'. */
  bindAddress: string;
  /** Receiver: data port (0 = any free port). Sender: 0. */
  port: number;
  /** Receiver: RX threads / SO_REUSEPORT sockets (1..64). Sender: lanes (1..16). */
  sockets: number;
  /** Requested socket buffer sizes in bytes (0 = kernel default); see kernelBuffers(). */
  rcvbufBytes: number;
  sndbufBytes: number;
  /** Sender: largest UDP payload per datagram, e.g. 1472 or 8972 (the addon takes blockPacketOverhead+1..maxDatagram; TS senders use limits.ts datagramSizeRange). */
  maxDatagram: number;
  /** Receiver: FEEDBACK period per open transfer, 1..10000 ms. */
  feedbackIntervalMs: number;
  /**
   * Receiver: 'auto' writes files of 8 MiB or more with O_DIRECT (1 MiB chunks staged in a
   * 64 MiB pool, written by 2 writer threads) where the file system supports it and is not
   * tmpfs; 'off' writes everything through the page cache. Sender: ignored.
   */
  directIo: 'auto' | 'off';
  /** Receiver: O_DIRECT writer threads, 1..16 (each keeps one 1 MiB write in flight). Sender: ignored. */
  directIoThreads: number;
  /** Sender: TX threads, 1..16, cut to `sockets` (thread i sends on lanes i, i+n, ...). Receiver: ignored. */
  txThreads: number;
  /** Bound of the native event queue, 16..1048576 (constants.defaultEventQueueCapacity; tests go lower). */
  eventQueueCapacity: number;
  /**
   * Receiver: the mac1 key of the server's static public key (32 bytes, packets.ts mac1Key).
   * When set, the RX threads drop INITs whose mac1 does not verify (and RESP/COOKIE packets)
   * before they spend the native handshake budget. Sender: leave unset.
   */
  handshakeMac1Key?: Uint8Array;
  /**
   * Receiver: bookkeeping memory (bitmaps at full size, per-file state) one transfer may
   * reserve (default 256 MiB) and all live transfers together (default 1 GiB); a transfer
   * over either is refused with JETRECV_ERR_RESOURCE. Both >= 1 MiB, per-transfer <= total.
   */
  maxTransferMemory?: number;
  maxReceiveMemory?: number;
  /**
   * Receiver: BLOCKs that authenticate under a session's keys but name a transfer it has not
   * opened yet (a first train sent behind its TransferRequest, docs/PROTOCOL-control.md "Early
   * blocks") are held, at most this many bytes per session (0 or absent = off: dropped as
   * drop_unknown_transfer), and at most earlyBlockTotalBytes (default 16 MiB) for the whole
   * receiver; replayed when the transfer opens, freed on discardEarlyBlocks, session removal, or
   * after 2 s. Both 0..2^30.
   */
  earlyBlockBytes?: number;
  earlyBlockTotalBytes?: number;
  /**
   * Doorbell, called on the JS thread when events are waiting (at most one call is
   * pending at a time). It should call drainEvents() until it returns fewer than asked.
   */
  onEvents: () => void;
}

/** A session's keys and peer, handed to the addon once after the handshake. */
export interface SessionSpec {
  /** u32 index peers write in our packets' receiver_index; unique per endpoint. */
  localIndex: number;
  /** u32 index we write in packets to the peer. */
  remoteIndex: number;
  cipher: CipherName;
  /** 32-byte base keys of each direction (the addon derives per-epoch keys). */
  sendKey: Uint8Array;
  recvKey: Uint8Array;
  /** Where this session's packets go (numeric address). */
  peerAddress: string;
  peerPort: number;
}

/** Per-session packet statistics; times are Unix microseconds, 0 = never. */
export interface SessionStats {
  packetsRecv: number;
  bytesRecv: number;
  packetsSent: number;
  bytesSent: number;
  lastRecvUs: number;
  lastSendUs: number;
}

/** What a receive transfer writes, beneath `root`. */
export interface ReceiveTransferSpec {
  /** Absolute sandbox directory; nothing is created outside it. */
  root: string;
  blockSize: number;
  /** Index = file index on the wire. `path` is relative to root. */
  files: { path: string; size: number; mode: number; mtimeMs: number }[];
  /** Relative to root. */
  emptyDirs: string[];
  /**
   * Resume from an earlier {@link ReceiveCheckpoint}. Applied only where the disk still
   * matches: a done file whose final name holds a regular file of the manifest size and
   * mtime counts as finalized (a fileDone event is queued at open); a file's ranges are
   * preset only if its partial still exists with exactly the manifest size. Every other
   * file starts from zero (a stale partial is truncated first, never trusted).
   */
  resume?: { doneFiles: number[]; ranges: number[] };
  /** Owner of the partials (16 lowercase hex digits; '' = legacy untagged names): `.name.<tag>.jrpart`. Default ''. */
  partialTag?: string;
  /** false: every close removes the partials of unfinished files (nothing may resume them). Default true. */
  resumable?: boolean;
  /**
   * Default true: each file's data is synced, then it is renamed to its final name, then its directory
   * is synced, before its fileDone event (on a finalizer thread). false: rename only (scratch space).
   */
  syncOnFinalize?: boolean;
}

/**
 * What checkpointReceiveTransfer() made durable: `doneFiles` are finalized (renamed and
 * synced); `ranges` holds (fileIndex, firstBlock, blockCount) triples of blocks synced
 * in the partials of the other files.
 */
export interface ReceiveCheckpoint {
  doneFiles: number[];
  ranges: number[];
  blocksHeld: number;
  bytesHeld: number;
}

export interface ReceiveTransferStats {
  bytesReceived: number;
  blocksReceived: number;
  totalBlocks: number;
  filesDone: number;
  /** Bits/s of block data over the last feedback interval. */
  recvRateBps: number;
  lastRecvUs: number;
  failed: boolean;
  /** Blocks restored from a checkpoint at open (included in blocksReceived). */
  blocksResumed: number;
}

export type RatePolicy = 'fair' | 'fixed';

/** What a send transfer reads. */
export interface SendTransferSpec {
  blockSize: number;
  /** Local absolute paths; index = file index on the wire. */
  files: { path: string; size: number }[];
  /** Bits/s cap (0 = no cap). */
  rateMaxBps: number;
  /** Initial rate in bits/s (0 = the addon's default). */
  rateStartBps: number;
  /** Rate floor in bits/s (0 = the addon's 1 Mbit/s). */
  rateMinBps?: number;
  /** 'fair' (default): measures the path, shares it with TCP and other flows; 'fixed': holds rateMaxBps. */
  ratePolicy?: RatePolicy;
  /** Resume: blocks the receiver already holds (TransferAccept.have); the first pass skips them. */
  have?: { fileIndex: number; firstBlock: number; blockCount: number }[];
  /**
   * Started before the receiver's TransferAccept (only to a receiver that holds early blocks):
   * only the first train goes out, at most this many datagram bytes and 4 ms at the start rate,
   * and no POSITION, until acceptSendTransfer. Absent or 0: started on the accept.
   */
  earlyBytes?: number;
}

export interface SendTransferStats {
  bytesSent: number;
  blocksSent: number;
  blocksRetransmitted: number;
  /** Of blocksRetransmitted: the second copies of repairs sent after the first pass (the tail). */
  blocksTailCopies: number;
  blocksAcked: number;
  totalBlocks: number;
  rateBps: number;
  firstPassDone: boolean;
  receiverComplete: boolean;
  /** Blocks skipped because the receiver held them (spec.have). */
  blocksResumed: number;
  /** Times the rate controller entered competing mode (a TCP flow's standing queue; PROTOCOL-transfer §5 8a). */
  competingEvents: number;
}

/** A handshake packet of exactly its type's length (INIT on a receiver; RESP or COOKIE REPLY on a sender). */
export interface HandshakeEvent {
  type: 'handshake';
  address: string;
  port: number;
  packet: Uint8Array;
}
/** The payload of an authenticated CONTROL frame of `session`. */
export interface ControlEvent {
  type: 'control';
  session: number;
  payload: Uint8Array;
}
/** Receiver: file `file` of the transfer is finalized (renamed, synced unless syncOnFinalize is false). */
export interface FileDoneEvent {
  type: 'fileDone';
  session: number;
  transfer: number;
  file: number;
}
/** The transfer failed (receiver: disk or sandbox error; sender: a source file could not be read). */
export interface TransferErrorEvent {
  type: 'transferError';
  session: number;
  transfer: number;
  file: number;
  code: string;
  errno: number;
  message: string;
}
/** Sender: the receiver's FEEDBACK says it holds every block of the transfer. */
export interface ReceiverCompleteEvent {
  type: 'receiverComplete';
  session: number;
  transfer: number;
}
/** `dropped` events were lost because the queue was full; it comes first in a drain. */
export interface OverflowEvent {
  type: 'overflow';
  dropped: number;
}

/** What a receiver endpoint queues. */
export type ReceiverEvent = HandshakeEvent | ControlEvent | FileDoneEvent | TransferErrorEvent | OverflowEvent;
/** What a sender endpoint queues. */
export type SenderEvent = HandshakeEvent | ControlEvent | ReceiverCompleteEvent | TransferErrorEvent | OverflowEvent;
/** One event drained from the addon's queue, of either role. */
export type NativeEvent = ReceiverEvent | SenderEvent;

/**
 * The native Endpoint. Methods throw `Error`s with a string `code` (`JETRECV_ERR_*`;
 * OS failures also carry `errno`, path failures `path`); misuse throws TypeError or
 * RangeError with code `JETRECV_ERR_INVALID_ARGUMENT`. After close(), commands throw
 * `JETRECV_ERR_CLOSED` and the stats methods return null. An open endpoint keeps the
 * process alive (like a bound socket) until close().
 */
export interface NativeEndpoint {
  /** Receiver: the bound data port; sender: lane 0's port. */
  localPort(): number;
  /** Socket buffer sizes the kernel granted (as getsockopt reports them). */
  kernelBuffers(): KernelBuffers;
  /** Stops and joins the threads, closes transfers (partials kept) and sockets. Idempotent. */
  close(): void;
  /** Writes every counter (summed over threads) into out (length >= counterNames.length), in counterNames order. */
  readCounters(out: Float64Array): void;
  /** Takes up to `max` (default 4096) queued events; an 'overflow' entry comes first if any were lost. */
  drainEvents(max?: number): NativeEvent[];
  /** Sends one raw datagram (handshake packets) from socket 0 / lane 0. */
  sendRaw(address: string, port: number, packet: Uint8Array): void;
  addSession(s: SessionSpec): void;
  /** Also closes the session's receive transfers (partials kept) and stops its sends. */
  removeSession(localIndex: number): void;
  /** Encrypted CONTROL frame (payload <= constants.maxControlPayload bytes) on lane 0 to the session's peer. */
  sendControl(localIndex: number, payload: Uint8Array): void;
  sessionStats(localIndex: number): SessionStats | null;
  /**
   * Receiver role. The spec is read before it returns; the open (one partial file per entry)
   * runs on a worker thread, so a huge manifest does not stall the JS thread. Rejects with
   * Error{code, path} (JETRECV_ERR_PATH_ESCAPE, _PATH_INVALID, _PATH_BUSY, _IO with errno;
   * _UNKNOWN_SESSION / _CLOSED when the session or endpoint went away meanwhile).
   * File-done events of the open (empty or already complete files) may arrive before it settles.
   */
  openReceiveTransfer(localIndex: number, transferId: number, spec: ReceiveTransferSpec): Promise<void>;
  receiveTransferStats(localIndex: number, transferId: number): ReceiveTransferStats | null;
  /**
   * Closes the transfer (its fds, its destination claims). removePartials (always for a transfer
   * opened with resumable false, also by removeSession and close): its partials are unlinked after
   * this returns, on the addon's finalizer threads; close() waits up to 5 s for that, the rest is
   * left for the start-up sweep.
   */
  closeReceiveTransfer(localIndex: number, transferId: number, removePartials: boolean): void;
  /** The transfer was refused: frees the early blocks held for it; that id is never held again. */
  discardEarlyBlocks(localIndex: number, transferId: number): void;
  /**
   * The receiver's cap on the sender's rate for this transfer, bits/s of UDP payload (0 = none),
   * sent in every later FEEDBACK (docs/PROTOCOL-transfer.md §3). Only for transfer protocol 3
   * senders. Throws JETRECV_ERR_UNKNOWN_TRANSFER if the transfer is not open.
   */
  setReceiveRateCap(localIndex: number, transferId: number, capBps: number): void;
  /**
   * Checkpoint on a worker thread: snapshots the bitmaps, fdatasyncs what they cover
   * (and newly finalized files and their directories), resolves with the result. Throws
   * JETRECV_ERR_UNKNOWN_TRANSFER at once if the transfer is not open; the promise rejects
   * with JETRECV_ERR_DISK when a sync fails (which also fails the transfer). Taken just
   * before closeReceiveTransfer/removeSession it still completes: it covers everything
   * written before the close (the partials are re-opened).
   */
  checkpointReceiveTransfer(localIndex: number, transferId: number): Promise<ReceiveCheckpoint>;
  /** Sender role. */
  startSendTransfer(localIndex: number, transferId: number, spec: SendTransferSpec): void;
  sendTransferStats(localIndex: number, transferId: number): SendTransferStats | null;
  stopSendTransfer(localIndex: number, transferId: number): void;
  /**
   * The receiver accepted a transfer started with earlyBytes: the first pass goes on past the
   * train, skipping the blocks of `have` it has not sent yet. Throws JETRECV_ERR_UNKNOWN_TRANSFER
   * if it is not running.
   */
  acceptSendTransfer(localIndex: number, transferId: number, have: { fileIndex: number; firstBlock: number; blockCount: number }[]): void;
}

/** Socket buffer sizes the kernel granted (as getsockopt reports them). */
export interface KernelBuffers {
  rcvbuf: number;
  sndbuf: number;
}

/** What removeStalePartial() found at the partial's name. */
export type StalePartial = 'removed' | 'missing' | 'replaced';

/** What sweepPartials() did: partials removed (and their bytes), kept (a kept tag), left alone (not ours to judge). */
export interface PartialSweep {
  removed: number;
  bytesRemoved: number;
  kept: number;
  leftAlone: number;
}

/** Bounds of the native core (native/src/core/limits.h, wire_format.h), read by limits.ts. */
export interface NativeConstants {
  /** Bytes a BLOCK datagram adds around its data: DATA header, BLOCK frame header, AEAD tag. */
  blockPacketOverhead: number;
  /** Largest UDP payload (IPv4): 65507. */
  maxDatagram: number;
  /** Largest CONTROL payload sendControl() takes. */
  maxControlPayload: number;
  /** Event queue bound of the daemon and `jetrecv send`. */
  defaultEventQueueCapacity: number;
  /** Most lanes (sender sockets) a session may use. */
  maxLanes: number;
  /** The only lengths at which the RX threads hand a handshake packet to JS. */
  handshakeInitLength: number;
  handshakeRespLength: number;
  handshakeCookieLength: number;
  /** A receiver's default cap on the early blocks it holds per session (EndpointOptions.earlyBlockBytes). */
  earlyBlockSessionBytes: number;
}

/** Result of peerCredentials(): the peer of a connected Unix socket, as of its connect(). */
export interface PeerCredentials {
  pid: number;
  uid: number;
  /** The peer's primary group (supplementary groups are not reported). */
  gid: number;
}

/** The addon's exports. */
export interface NativeAddon {
  /** Counter names, in the order readCounters() fills them. */
  counterNames: string[];
  /** Frozen. */
  constants: NativeConstants;
  /**
   * The AEAD back end new sessions use, by cipher name: 'ipsec-mb' (intel-ipsec-mb, where it
   * was built in and the CPU has AES-NI) or 'openssl' (see native/src/core/aead.h).
   */
  aeadBackends: Record<string, 'ipsec-mb' | 'openssl'>;
  /** Every error code the native layer reports (native/src/core/errors.def); src/errors.ts NativeErrorCodes mirrors it. */
  errorCodes: string[];
  /** Sends one datagram to $NOTIFY_SOCKET; false if it is unset. Throws on send failure. */
  sdNotify(message: string): boolean;
  /**
   * Removes the partial file of `path` (relative to the sandbox `root`) if it is still the
   * regular, single-link file of exactly `size` bytes a transfer left; anything else at that
   * name is left alone ('replaced'). Opened beneath the root, never through a symlink.
   * Throws (code, errno) on other errors.
   */
  removeStalePartial(root: string, path: string, size: number, tag?: string): StalePartial;
  /**
   * Start-up sweep: removes every tagged partial (`.name.<tag>.jrpart`, a regular single-link
   * file) beneath `root` whose tag is not in `keepTags`; never follows a symlink or leaves the
   * root's file system; untagged names are never touched. Blocking (walks the tree).
   */
  sweepPartials(root: string, keepTags: string[]): PartialSweep;
  /** MTU of the local route towards a numeric address (nothing is sent); throws without a route. */
  routeMtu(address: string, port: number): number;
  /**
   * Returns the heap memory freed inside the process to the kernel (glibc malloc_trim; freed
   * memory otherwise stays in RSS); true if any was released. Walks the free lists: call it
   * after many frees (e.g. many sessions closed), not per free.
   */
  releaseFreeHeapMemory(): boolean;
  /**
   * The credentials of the peer of the connected Unix socket `fd` (getsockopt SO_PEERCRED).
   * Throws (code, errno) when `fd` is not one: EBADF, ENOTSOCK, ENOTCONN.
   */
  peerCredentials(fd: number): PeerCredentials;
  Endpoint: new (opts: EndpointOptions) => NativeEndpoint;
}

/**
 * Where the build puts the addon (cmake-js: build/Release, or build/Debug with JETRECV_DEBUG).
 * JETRECV_NATIVE_ADDON names another build (e.g. a sanitizer build) and then is the only choice.
 */
export const addonCandidates: readonly string[] = process.env.JETRECV_NATIVE_ADDON
  ? [path.resolve(process.env.JETRECV_NATIVE_ADDON)]
  : [path.join(packageRoot, 'build', 'Release', 'jetrecv_native.node'), path.join(packageRoot, 'build', 'Debug', 'jetrecv_native.node')];

function loadAddon(): NativeAddon {
  const found = addonCandidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `jetrecv native addon not built (looked for ${addonCandidates.join(', ')}); run 'npm install' or 'npm run build:native'`,
    );
  }
  const require = createRequire(import.meta.url);
  return require(found) as NativeAddon;
}

/** The loaded addon (loaded on first import of this module). */
export const addon: NativeAddon = loadAddon();
