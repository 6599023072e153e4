// control.ts — typed encode/decode of the control protocol (proto/control.proto, protobufjs).
// The .proto is loaded once at runtime from the package's proto/ directory. Decoders either
// return a fully checked object or throw JetrecvError(PROTOCOL); they never return partial
// objects. 64-bit fields become JS numbers; values above Number.MAX_SAFE_INTEGER are refused.
// Semantic checks (path rules, block sizes) belong to the receiver, not to this file.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { ErrorCodes, JetrecvError } from '../errors.js';

/** Most files (and, separately, empty directories) one TransferRequest may list. */
export const MAX_MANIFEST_FILES = 1_000_000;
/** Longest path (UTF-8 bytes) in a manifest, also the longest destination path. */
export const MAX_PATH_BYTES = 4096;
/** Longest free-text field (codes, reasons, messages, sender name), in UTF-8 bytes. */
export const MAX_TEXT_BYTES = 4096;
/**
 * Data-plane version a sender speaks (docs/PROTOCOL-transfer.md). 2: BLOCK send stamps,
 * FEEDBACK timing fields, POSITION srtt — the rate controller measures the path with them.
 * 3: the sender also decodes the receiver's rate cap in FEEDBACK (src/recv/rate-caps.ts).
 */
export const TRANSFER_PROTOCOL = 3;
/**
 * Oldest sender a receiver accepts (its FEEDBACK would not decode below it); a protocol-2
 * sender is also refused while a receive rate limit is set.
 */
export const MIN_TRANSFER_PROTOCOL = 2;

/** Longest transfer_uid. */
export const MAX_TRANSFER_UID_BYTES = 64;
/** Most selective-ack ranges in one Envelope. */
export const MAX_SACK_RANGES = 32;

const UINT32_MAX = 0xffff_ffff;

/** One file of a manifest. `path` is relative and '/'-separated. */
export interface FileEntry {
  path: string;
  size: number;
  mode: number;
  mtimeMs: number;
}

/** Blocks [firstBlock, firstBlock + blockCount) of file `fileIndex`. */
export interface BlockRange {
  fileIndex: number;
  firstBlock: number;
  blockCount: number;
}

export interface TransferRequestMsg {
  kind: 'transferRequest';
  transferId: number;
  destinationPath: string;
  blockSize: number;
  files: FileEntry[];
  emptyDirs: string[];
  /** 0 = checkpoints disabled. */
  checkpointFrequencySeconds: number;
  transferUid: Uint8Array;
  senderName: string;
  /** Data-plane version the sender speaks (1 when absent): see TRANSFER_PROTOCOL. */
  transferProtocol: number;
}
export interface TransferAcceptMsg {
  kind: 'transferAccept';
  transferId: number;
  /** Resume: blocks the receiver already holds. Empty for a fresh transfer. */
  have: BlockRange[];
}
export interface TransferRefuseMsg {
  kind: 'transferRefuse';
  transferId: number;
  code: string;
  reason: string;
}
export interface FilesDoneMsg {
  kind: 'filesDone';
  transferId: number;
  fileIndex: number[];
}
export interface TransferDoneMsg {
  kind: 'transferDone';
  transferId: number;
  bytes: number;
  files: number;
}
export interface CancelMsg {
  kind: 'cancel';
  transferId: number;
  reason: string;
}
export interface TransferErrorMsg {
  kind: 'transferError';
  transferId: number;
  code: string;
  message: string;
}
export interface GoodbyeMsg {
  kind: 'goodbye';
  reason: string;
  /** Receiver → sender: the session will not be taken back; do not reconnect. */
  final?: boolean;
}

/** One control message, discriminated on `kind` (the name of the oneof member). */
export type ControlMessage =
  | TransferRequestMsg
  | TransferAcceptMsg
  | TransferRefuseMsg
  | FilesDoneMsg
  | TransferDoneMsg
  | CancelMsg
  | TransferErrorMsg
  | GoodbyeMsg;

/** Every `kind`, in field-number order. */
export const CONTROL_KINDS = [
  'transferRequest',
  'transferAccept',
  'transferRefuse',
  'filesDone',
  'transferDone',
  'cancel',
  'transferError',
  'goodbye',
] as const satisfies readonly ControlMessage['kind'][];

/** Optional fields may be omitted when encoding (they default like proto3). */
export type ControlMessageInput =
  | (Omit<TransferRequestMsg, 'emptyDirs' | 'checkpointFrequencySeconds' | 'transferUid' | 'senderName' | 'transferProtocol'> &
      Partial<Pick<TransferRequestMsg, 'emptyDirs' | 'checkpointFrequencySeconds' | 'transferUid' | 'senderName' | 'transferProtocol'>>)
  | (Omit<TransferAcceptMsg, 'have'> & Partial<Pick<TransferAcceptMsg, 'have'>>)
  | Exclude<ControlMessage, TransferRequestMsg | TransferAcceptMsg>;

/** One reliable-channel datagram (see proto Envelope). */
export interface Envelope {
  /** Fragment sequence number; 0 = pure ack (no fragment). */
  seq: number;
  /** Cumulative ack: every seq <= ack was received. */
  ack: number;
  /** Selective acks as inclusive ranges flattened: [first0, last0, first1, last1, ...]. */
  sack: number[];
  msgId: number;
  fragIndex: number;
  fragCount: number;
  fragment: Uint8Array;
  /** A data seq the sender of this envelope received twice (DSACK-like); 0 = none. */
  dup: number;
  /**
   * Receiver → sender, on pure acks: BLOCK bytes it holds per session for a transfer it has
   * not accepted yet (docs/PROTOCOL-control.md "Early blocks"); absent/0 = it holds none.
   */
  earlyBlockBytes?: number;
}

// ---- schema loading -----------------------------------------------------------------------

interface Schema {
  envelope: protobuf.Type;
  control: protobuf.Type;
}
let schema: Schema | undefined;

/**
 * Path of proto/control.proto. This file lives at <root>/src/proto/control.ts (vitest) or
 * <root>/dist/proto/control.js (built); both are two levels below the package root.
 */
export function controlProtoPath(): string {
  return fileURLToPath(new URL('../../proto/control.proto', import.meta.url));
}

function loadSchema(): Schema {
  if (schema !== undefined) return schema;
  const file = controlProtoPath();
  if (!existsSync(file)) {
    throw new JetrecvError(ErrorCodes.CONFIG, `control protocol schema not found at ${file} (is proto/ shipped?)`, {
      path: file,
    });
  }
  const root = protobuf.loadSync(file);
  // Generate every type's encoder and decoder now, not lazily on a type's first use: the
  // whole cost (tens of ms) is paid where loadControlCodec is called, off the critical path.
  const setup = (ns: protobuf.NamespaceBase): void => {
    for (const o of ns.nestedArray) {
      if (o instanceof protobuf.Type) o.setup();
      if (o instanceof protobuf.Type || o instanceof protobuf.Namespace) setup(o); // nested types
    }
  };
  setup(root);
  schema = {
    envelope: root.lookupType('jetrecv.control.v1.Envelope'),
    control: root.lookupType('jetrecv.control.v1.Control'),
  };
  return schema;
}

/**
 * Loads the schema and generates its codecs (20-60 ms on a busy host, once per process).
 * Call it while the process waits anyway: the sender during the handshake round trip, the
 * receiver at start. Otherwise the first control message pays it, between the handshake and
 * the TransferRequest (docs/PROTOCOL-control.md, "The first round trips").
 */
export function loadControlCodec(): void {
  loadSchema();
}

// ---- field checks -------------------------------------------------------------------------

function protocolError(message: string, details?: Record<string, unknown>): JetrecvError {
  return new JetrecvError(ErrorCodes.PROTOCOL, message, details);
}

function isLongLike(v: unknown): v is protobuf.Long {
  return typeof v === 'object' && v !== null && typeof (v as protobuf.Long).low === 'number' && typeof (v as protobuf.Long).high === 'number';
}

/** uint64/int64 from protobufjs (number or Long) to a safe JS integer. */
function int64(value: unknown, field: string, signed = false): number {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (isLongLike(value)) {
    // Exact for |n| <= 2^53; anything larger rounds to a value that fails the safe check.
    const high = value.unsigned ? value.high >>> 0 : value.high | 0;
    n = high * 4294967296 + (value.low >>> 0);
  } else throw protocolError(`${field}: expected an integer`);
  if (!Number.isSafeInteger(n)) {
    throw protocolError(`${field}: value does not fit in 53 bits (above ${Number.MAX_SAFE_INTEGER})`, { field });
  }
  if (!signed && n < 0) throw protocolError(`${field}: negative value`, { field });
  return n;
}

function uint32(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > UINT32_MAX) {
    throw protocolError(`${field}: expected a uint32, got ${String(value)}`, { field });
  }
  return value;
}

function text(value: unknown, field: string, maxBytes: number): string {
  if (typeof value !== 'string') throw protocolError(`${field}: expected a string`, { field });
  // UTF-8 is at most 3 bytes per UTF-16 unit: skip the exact count for short strings.
  if (value.length * 3 > maxBytes && Buffer.byteLength(value, 'utf8') > maxBytes) {
    throw protocolError(`${field}: longer than ${maxBytes} bytes`, { field });
  }
  return value;
}

function bytes(value: unknown, field: string, maxBytes: number): Uint8Array {
  // protobufjs's default for an absent bytes field is an empty plain array.
  if (Array.isArray(value) && value.length === 0) return new Uint8Array(0);
  if (!(value instanceof Uint8Array)) throw protocolError(`${field}: expected bytes`, { field });
  if (value.length > maxBytes) throw protocolError(`${field}: longer than ${maxBytes} bytes`, { field });
  return value;
}

function list(value: unknown, field: string, max: number): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw protocolError(`${field}: expected a list`, { field });
  if (value.length > max) throw protocolError(`${field}: more than ${max} entries (${value.length})`, { field });
  return value;
}

function record(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null) throw protocolError(`${field}: expected a message`, { field });
  return value as Record<string, unknown>;
}

/** Checks (and converts) one control body. Used for both directions so encode and decode agree. */
function checkBody(kind: ControlMessage['kind'], b: Record<string, unknown>): ControlMessage {
  const tid = (): number => uint32(b.transferId ?? 0, `${kind}.transferId`);
  switch (kind) {
    case 'transferRequest': {
      const files = list(b.files, 'transferRequest.files', MAX_MANIFEST_FILES).map((f, i): FileEntry => {
        const e = record(f, `transferRequest.files[${i}]`);
        return {
          path: text(e.path ?? '', `transferRequest.files[${i}].path`, MAX_PATH_BYTES),
          size: int64(e.size ?? 0, `transferRequest.files[${i}].size`),
          mode: uint32(e.mode ?? 0, `transferRequest.files[${i}].mode`),
          mtimeMs: int64(e.mtimeMs ?? 0, `transferRequest.files[${i}].mtimeMs`, true),
        };
      });
      const emptyDirs = list(b.emptyDirs, 'transferRequest.emptyDirs', MAX_MANIFEST_FILES).map((d, i) =>
        text(d, `transferRequest.emptyDirs[${i}]`, MAX_PATH_BYTES),
      );
      return {
        kind,
        transferId: tid(),
        destinationPath: text(b.destinationPath ?? '', 'transferRequest.destinationPath', MAX_PATH_BYTES),
        blockSize: uint32(b.blockSize ?? 0, 'transferRequest.blockSize'),
        files,
        emptyDirs,
        checkpointFrequencySeconds: uint32(b.checkpointFrequencySeconds ?? 0, 'transferRequest.checkpointFrequencySeconds'),
        transferUid: bytes(b.transferUid ?? new Uint8Array(0), 'transferRequest.transferUid', MAX_TRANSFER_UID_BYTES),
        senderName: text(b.senderName ?? '', 'transferRequest.senderName', MAX_TEXT_BYTES),
        transferProtocol: Math.max(1, uint32(b.transferProtocol ?? 0, 'transferRequest.transferProtocol')),
      };
    }
    case 'transferAccept': {
      const have = list(b.have, 'transferAccept.have', MAX_MANIFEST_FILES).map((r, i): BlockRange => {
        const e = record(r, `transferAccept.have[${i}]`);
        return {
          fileIndex: uint32(e.fileIndex ?? 0, `transferAccept.have[${i}].fileIndex`),
          firstBlock: int64(e.firstBlock ?? 0, `transferAccept.have[${i}].firstBlock`),
          blockCount: int64(e.blockCount ?? 0, `transferAccept.have[${i}].blockCount`),
        };
      });
      return { kind, transferId: tid(), have };
    }
    case 'transferRefuse':
      return {
        kind,
        transferId: tid(),
        code: text(b.code ?? '', 'transferRefuse.code', MAX_TEXT_BYTES),
        reason: text(b.reason ?? '', 'transferRefuse.reason', MAX_TEXT_BYTES),
      };
    case 'filesDone':
      return {
        kind,
        transferId: tid(),
        fileIndex: list(b.fileIndex, 'filesDone.fileIndex', MAX_MANIFEST_FILES).map((v, i) =>
          uint32(v, `filesDone.fileIndex[${i}]`),
        ),
      };
    case 'transferDone':
      return {
        kind,
        transferId: tid(),
        bytes: int64(b.bytes ?? 0, 'transferDone.bytes'),
        files: uint32(b.files ?? 0, 'transferDone.files'),
      };
    case 'cancel':
      return { kind, transferId: tid(), reason: text(b.reason ?? '', 'cancel.reason', MAX_TEXT_BYTES) };
    case 'transferError':
      return {
        kind,
        transferId: tid(),
        code: text(b.code ?? '', 'transferError.code', MAX_TEXT_BYTES),
        message: text(b.message ?? '', 'transferError.message', MAX_TEXT_BYTES),
      };
    case 'goodbye': {
      if (b.final !== undefined && b.final !== null && typeof b.final !== 'boolean') throw protocolError('goodbye.final must be a boolean');
      return { kind, reason: text(b.reason ?? '', 'goodbye.reason', MAX_TEXT_BYTES), final: b.final === true };
    }
  }
}

// ---- public API ---------------------------------------------------------------------------

/**
 * Encodes one control message. Throws JetrecvError(PROTOCOL) naming the field if a value is
 * out of range (e.g. a negative size, more than MAX_MANIFEST_FILES files, a path over 4096 bytes).
 */
export function encodeControl(msg: ControlMessageInput): Uint8Array {
  const { control } = loadSchema();
  if (!(CONTROL_KINDS as readonly string[]).includes(msg.kind)) {
    throw protocolError(`unknown control message kind '${String(msg.kind)}'`);
  }
  const { kind, ...body } = msg;
  const checked = checkBody(kind, body as Record<string, unknown>);
  const { kind: _k, ...fields } = checked;
  // protobufjs encodes plain objects; checkBody has already range-checked every field.
  return control.encode({ [kind]: fields }).finish();
}

/**
 * Decodes one control message. Throws JetrecvError(PROTOCOL) for bytes that are not a valid
 * Control, for a message with no (known) body, and for out-of-limit values. Unknown fields are
 * skipped; of several oneof bodies the last wins (protobuf merge rules).
 */
export function decodeControl(data: Uint8Array): ControlMessage {
  const { control } = loadSchema();
  let decoded: Record<string, unknown>;
  try {
    decoded = control.decode(data) as unknown as Record<string, unknown>;
  } catch (err) {
    throw protocolError(`undecodable control message (${data.length} bytes): ${(err as Error).message}`);
  }
  const present = CONTROL_KINDS.filter((k) => Object.hasOwn(decoded, k) && decoded[k] != null);
  if (present.length === 0) throw protocolError(`control message has no known body (${data.length} bytes)`);
  // protobufjs applies protobuf merge rules (the last oneof member wins), so this is defensive.
  if (present.length > 1) throw protocolError(`control message has several bodies: ${present.join(', ')}`);
  const kind = present[0] as ControlMessage['kind'];
  return checkBody(kind, record(decoded[kind], kind));
}

function checkEnvelope(e: Record<string, unknown>): Envelope {
  const seq = int64(e.seq ?? 0, 'envelope.seq');
  const sack = list(e.sack, 'envelope.sack', MAX_SACK_RANGES * 2).map((v, i) => int64(v, `envelope.sack[${i}]`));
  if (sack.length % 2 !== 0) throw protocolError('envelope.sack: odd number of values (expected first/last pairs)');
  for (let i = 0; i < sack.length; i += 2) {
    if ((sack[i] as number) > (sack[i + 1] as number)) {
      throw protocolError(`envelope.sack: range ${sack[i]}..${sack[i + 1]} is reversed`);
    }
  }
  const env: Envelope = {
    seq,
    ack: int64(e.ack ?? 0, 'envelope.ack'),
    sack,
    msgId: int64(e.msgId ?? 0, 'envelope.msgId'),
    fragIndex: uint32(e.fragIndex ?? 0, 'envelope.fragIndex'),
    fragCount: uint32(e.fragCount ?? 0, 'envelope.fragCount'),
    fragment: bytes(e.fragment ?? new Uint8Array(0), 'envelope.fragment', Number.MAX_SAFE_INTEGER),
    dup: int64(e.dup ?? 0, 'envelope.dup'),
  };
  const early = uint32(e.earlyBlockBytes ?? 0, 'envelope.earlyBlockBytes');
  if (early !== 0) env.earlyBlockBytes = early;
  if (seq !== 0) {
    if (env.msgId === 0) throw protocolError(`envelope seq ${seq}: msgId is 0`);
    if (env.fragCount === 0) throw protocolError(`envelope seq ${seq}: fragCount is 0`);
    if (env.fragIndex >= env.fragCount) {
      throw protocolError(`envelope seq ${seq}: fragIndex ${env.fragIndex} >= fragCount ${env.fragCount}`);
    }
  }
  return env;
}

/** Envelope fields that default to empty/0 when encoding. */
export type EnvelopeInput = Omit<Envelope, 'sack' | 'dup'> & Partial<Pick<Envelope, 'sack' | 'dup'>>;

/** Encodes one Envelope. Throws JetrecvError(PROTOCOL) for out-of-range fields. */
export function encodeEnvelope(env: EnvelopeInput): Uint8Array {
  const { envelope } = loadSchema();
  const checked = checkEnvelope(env as unknown as Record<string, unknown>);
  return envelope.encode(checked).finish();
}

/** Decodes one Envelope; throws JetrecvError(PROTOCOL) for garbage or inconsistent fields. */
export function decodeEnvelope(data: Uint8Array): Envelope {
  const { envelope } = loadSchema();
  let decoded: Record<string, unknown>;
  try {
    decoded = envelope.decode(data) as unknown as Record<string, unknown>;
  } catch (err) {
    throw protocolError(`undecodable envelope (${data.length} bytes): ${(err as Error).message}`);
  }
  return checkEnvelope(decoded);
}
