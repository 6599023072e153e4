import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, JetrecvError } from '../../src/errors.js';
import {
  CONTROL_KINDS,
  controlProtoPath,
  decodeControl,
  decodeEnvelope,
  encodeControl,
  encodeEnvelope,
  MAX_MANIFEST_FILES,
  type ControlMessage,
  type Envelope,
} from '../../src/proto/control.js';

// Raw protobufjs types, to craft bytes the typed encoder refuses to produce.
const raw = protobuf.loadSync(controlProtoPath());
const RawControl = raw.lookupType('jetrecv.control.v1.Control');
const RawEnvelope = raw.lookupType('jetrecv.control.v1.Envelope');

/** A Long-like value protobufjs writes as a uint64 (used to go past 2^53). */
function u64(v: bigint): { low: number; high: number; unsigned: boolean } {
  return { low: Number(v & 0xffffffffn) | 0, high: Number(v >> 32n) | 0, unsigned: true };
}

function protocolError(fn: () => unknown): JetrecvError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(JetrecvError);
    expect((err as JetrecvError).code).toBe(ErrorCodes.PROTOCOL);
    return err as JetrecvError;
  }
  throw new Error('expected a PROTOCOL error');
}

const samples: ControlMessage[] = [
  {
    kind: 'transferRequest',
    transferId: 7,
    destinationPath: '/repository1',
    blockSize: 65536,
    files: [
      { path: 'data/a.bin', size: 2 ** 40 + 3, mode: 0o644, mtimeMs: 1_700_000_000_123 },
      { path: 'ü/ñ €.txt', size: 0, mode: 0o755, mtimeMs: -5000 },
      { path: 'max', size: Number.MAX_SAFE_INTEGER, mode: 0, mtimeMs: 0 },
    ],
    emptyDirs: ['data/empty', 'x/y/z'],
    checkpointFrequencySeconds: 30,
    transferUid: new Uint8Array([1, 2, 3, 255]),
    senderName: 'host-a',
    transferProtocol: 2,
  },
  { kind: 'transferAccept', transferId: 7, have: [{ fileIndex: 1, firstBlock: 10, blockCount: 2 ** 33 }] },
  { kind: 'transferAccept', transferId: 0xffff_ffff, have: [] },
  { kind: 'transferRefuse', transferId: 8, code: ErrorCodes.PATH_ESCAPE, reason: "path '../x' escapes" },
  { kind: 'filesDone', transferId: 7, fileIndex: [0, 2, 1_000_000] },
  { kind: 'transferDone', transferId: 7, bytes: 2 ** 50, files: 3 },
  { kind: 'cancel', transferId: 7, reason: 'user' },
  { kind: 'transferError', transferId: 7, code: ErrorCodes.DISK, message: 'ENOSPC' },
  { kind: 'goodbye', reason: 'shutdown', final: false },
  { kind: 'goodbye', reason: '', final: false },
  { kind: 'goodbye', reason: 'sender key is no longer authorized', final: true },
];

describe('control messages', () => {
  it.each(samples.map((m) => [m.kind, m] as const))('round-trips %s', (_kind, msg) => {
    const bytes = encodeControl(msg);
    expect(bytes).toBeInstanceOf(Uint8Array);
    const back = decodeControl(bytes);
    expect({ ...back, ...('transferUid' in back ? { transferUid: [...back.transferUid] } : {}) }).toEqual({
      ...msg,
      ...('transferUid' in msg ? { transferUid: [...msg.transferUid] } : {}),
    });
  });

  it('covers every kind', () => {
    expect(new Set(samples.map((m) => m.kind))).toEqual(new Set(CONTROL_KINDS));
  });

  it('fills omitted optional fields with proto3 defaults', () => {
    const back = decodeControl(encodeControl({ kind: 'transferRequest', transferId: 1, destinationPath: '', blockSize: 1024, files: [] }));
    // An absent transfer_protocol is a protocol-1 sender (before path timing).
    expect(back).toMatchObject({
      kind: 'transferRequest',
      emptyDirs: [],
      checkpointFrequencySeconds: 0,
      senderName: '',
      transferProtocol: 1,
    });
    expect(back.kind === 'transferRequest' && back.transferUid.length).toBe(0);
    expect(decodeControl(encodeControl({ kind: 'transferAccept', transferId: 3 }))).toEqual({
      kind: 'transferAccept',
      transferId: 3,
      have: [],
    });
  });

  it('refuses garbage with a PROTOCOL error', () => {
    expect(protocolError(() => decodeControl(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff]))).message).toMatch(
      /undecodable control message \(5 bytes\)/,
    );
    // a length-delimited field whose length runs past the end
    expect(protocolError(() => decodeControl(new Uint8Array([0x0a, 0x40, 0x01]))).message).toMatch(/undecodable/);
    expect(protocolError(() => decodeControl(new Uint8Array(0))).message).toMatch(/no known body/);
  });

  it('follows protobuf merge rules: of two oneof bodies the last wins', () => {
    const a = encodeControl({ kind: 'goodbye', reason: 'x' });
    const b = encodeControl({ kind: 'cancel', transferId: 1, reason: 'y' });
    expect(decodeControl(new Uint8Array([...a, ...b]))).toEqual({ kind: 'cancel', transferId: 1, reason: 'y' });
  });

  it('skips unknown fields (forward compatibility)', () => {
    const known = encodeControl({ kind: 'goodbye', reason: 'bye' });
    const unknownField = new Uint8Array([0xf8, 0x07, 0x05]); // field 127, varint 5
    expect(decodeControl(new Uint8Array([...unknownField, ...known]))).toEqual({ kind: 'goodbye', reason: 'bye', final: false });
  });

  it('refuses uint64 values above 2^53 naming the field', () => {
    const big = u64(2n ** 53n + 1n); // 2^53 + 1
    const bytes = RawControl.encode({ transferDone: { transferId: 1, bytes: big, files: 1 } }).finish();
    expect(protocolError(() => decodeControl(bytes)).message).toMatch(/transferDone\.bytes: value does not fit in 53 bits/);
    const size = u64(2n ** 64n - 1n);
    const req = RawControl.encode({
      transferRequest: { transferId: 1, files: [{ path: 'a', size }] },
    }).finish();
    expect(protocolError(() => decodeControl(req)).message).toMatch(/transferRequest\.files\[0\]\.size/);
    // the largest safe value still passes
    const ok = RawControl.encode({
      transferDone: { transferId: 1, bytes: u64(BigInt(Number.MAX_SAFE_INTEGER)) },
    }).finish();
    expect(decodeControl(ok)).toMatchObject({ bytes: Number.MAX_SAFE_INTEGER });
  });

  it('enforces the path length limit on both encode and decode', () => {
    const long = 'a'.repeat(4097);
    const bytes = RawControl.encode({ transferRequest: { files: [{ path: long }] } }).finish();
    expect(protocolError(() => decodeControl(bytes)).message).toMatch(/files\[0\]\.path: longer than 4096 bytes/);
    // 2-byte characters count in bytes: 2049 x 'é' = 4098 bytes
    const wide = RawControl.encode({ transferRequest: { emptyDirs: ['é'.repeat(2049)] } }).finish();
    expect(protocolError(() => decodeControl(wide)).message).toMatch(/emptyDirs\[0\]/);
    expect(decodeControl(RawControl.encode({ transferRequest: { emptyDirs: ['é'.repeat(2048)] } }).finish())).toMatchObject({
      emptyDirs: ['é'.repeat(2048)],
    });
    expect(
      protocolError(() => encodeControl({ kind: 'transferRequest', transferId: 1, destinationPath: long, blockSize: 1, files: [] }))
        .message,
    ).toMatch(/destinationPath/);
  });

  it('enforces the file-count limit', () => {
    const tooMany = RawControl.encode({
      filesDone: { transferId: 1, fileIndex: new Array<number>(MAX_MANIFEST_FILES + 1).fill(0) },
    }).finish();
    expect(protocolError(() => decodeControl(tooMany)).message).toMatch(/filesDone\.fileIndex: more than 1000000 entries/);
    const files = new Array(MAX_MANIFEST_FILES + 1).fill({ path: 'f', size: 1, mode: 0, mtimeMs: 0 });
    expect(
      protocolError(() => encodeControl({ kind: 'transferRequest', transferId: 1, destinationPath: '', blockSize: 1, files })).message,
    ).toMatch(/transferRequest\.files: more than 1000000/);
  });

  it('refuses out-of-range values on encode, naming the field', () => {
    const base = { kind: 'transferRequest', transferId: 1, destinationPath: '', blockSize: 1 } as const;
    expect(protocolError(() => encodeControl({ ...base, files: [{ path: 'a', size: -1, mode: 0, mtimeMs: 0 }] })).message).toMatch(
      /files\[0\]\.size: negative/,
    );
    expect(protocolError(() => encodeControl({ ...base, files: [{ path: 'a', size: 2 ** 53, mode: 0, mtimeMs: 0 }] })).message).toMatch(
      /files\[0\]\.size/,
    );
    expect(protocolError(() => encodeControl({ ...base, transferId: 2 ** 32, files: [] })).message).toMatch(
      /transferRequest\.transferId: expected a uint32/,
    );
    expect(protocolError(() => encodeControl({ ...base, blockSize: 1.5, files: [] })).message).toMatch(/blockSize/);
    expect(protocolError(() => encodeControl({ kind: 'nope' } as never)).message).toMatch(/unknown control message kind/);
  });
});

describe('envelopes', () => {
  const data: Envelope = {
    seq: 12345678901,
    ack: 99,
    sack: [101, 105, 200, 200],
    msgId: 42,
    fragIndex: 3,
    fragCount: 9,
    fragment: new Uint8Array([9, 8, 7]),
    dup: 77,
  };

  it('carries early_block_bytes, which an Envelope schema without field 9 (an older peer) skips', () => {
    const pureAck = { seq: 0, ack: 7, sack: [], msgId: 0, fragIndex: 0, fragCount: 0, fragment: new Uint8Array(0), dup: 0 };
    const bytes = encodeEnvelope({ ...pureAck, earlyBlockBytes: 2 << 20 });
    expect(decodeEnvelope(bytes).earlyBlockBytes).toBe(2 << 20);
    expect(decodeEnvelope(encodeEnvelope(pureAck)).earlyBlockBytes).toBeUndefined();
    // The Envelope of the schema before field 9 decodes the same bytes to the same fields.
    const old = protobuf
      .parse(
        `syntax = "proto3";
      message Envelope { uint64 seq = 1; uint64 ack = 2; repeated uint64 sack = 3; uint64 msg_id = 4;
        uint32 frag_index = 5; uint32 frag_count = 6; bytes fragment = 7; uint64 dup = 8; }`,
      )
      .root.lookupType('Envelope');
    const decoded = old.toObject(old.decode(bytes), { longs: Number, defaults: true }) as Record<string, unknown>;
    expect(decoded).toMatchObject({ seq: 0, ack: 7, msgId: 0, fragCount: 0, dup: 0 });
    expect(Object.keys(decoded)).not.toContain('earlyBlockBytes');
    expect(() => encodeEnvelope({ ...pureAck, earlyBlockBytes: 2 ** 32 })).toThrow(/envelope.earlyBlockBytes/);
  });

  it('round-trips data and pure-ack envelopes', () => {
    const back = decodeEnvelope(encodeEnvelope(data));
    expect({ ...back, fragment: [...back.fragment] }).toEqual({ ...data, fragment: [9, 8, 7] });
    const ack: Envelope = { seq: 0, ack: 5, sack: [], msgId: 0, fragIndex: 0, fragCount: 0, fragment: new Uint8Array(0), dup: 0 };
    const ackBack = decodeEnvelope(encodeEnvelope(ack));
    expect({ ...ackBack, fragment: [...ackBack.fragment] }).toEqual({ ...ack, fragment: [] });
  });

  it('refuses garbage and inconsistent envelopes', () => {
    expect(protocolError(() => decodeEnvelope(new Uint8Array([0x08]))).message).toMatch(/undecodable envelope/);
    const bad = (fields: Record<string, unknown>): Uint8Array => RawEnvelope.encode(fields).finish();
    expect(protocolError(() => decodeEnvelope(bad({ seq: 1, msgId: 1, fragIndex: 2, fragCount: 2 }))).message).toMatch(
      /fragIndex 2 >= fragCount 2/,
    );
    expect(protocolError(() => decodeEnvelope(bad({ seq: 1, msgId: 1, fragCount: 0 }))).message).toMatch(/fragCount is 0/);
    expect(protocolError(() => decodeEnvelope(bad({ seq: 1, msgId: 0, fragCount: 1 }))).message).toMatch(/msgId is 0/);
    expect(protocolError(() => decodeEnvelope(bad({ sack: [1, 2, 3] }))).message).toMatch(/odd number/);
    expect(protocolError(() => decodeEnvelope(bad({ sack: [5, 4] }))).message).toMatch(/reversed/);
    expect(protocolError(() => decodeEnvelope(bad({ sack: new Array(66).fill(1) }))).message).toMatch(/more than 64/);
    const huge = u64(2n ** 64n - 1n);
    expect(protocolError(() => decodeEnvelope(bad({ ack: huge }))).message).toMatch(/envelope\.ack/);
  });
});
