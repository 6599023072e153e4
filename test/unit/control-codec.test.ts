// loadControlCodec generates every codec up front, so the first control messages of a
// session (TransferRequest right after the handshake, TransferAccept) pay no code generation
// on the critical path (docs/PROTOCOL-control.md, "The first round trips").
import protobuf from 'protobufjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  decodeControl,
  decodeEnvelope,
  encodeControl,
  encodeEnvelope,
  loadControlCodec,
  TRANSFER_PROTOCOL,
} from '../../src/proto/control.js';

describe('loadControlCodec', () => {
  afterEach(() => vi.restoreAllMocks());

  it('generates the codecs once; the first messages after it generate none', () => {
    const setup = vi.spyOn(protobuf.Type.prototype, 'setup');
    loadControlCodec();
    expect(setup).toHaveBeenCalled(); // this file's first use of the schema: generated here
    setup.mockClear();

    const request = encodeControl({
      kind: 'transferRequest',
      transferId: 1,
      destinationPath: '/d',
      blockSize: 1416,
      files: [{ path: 'a', size: 3000, mode: 0o644, mtimeMs: 1 }],
      emptyDirs: ['e'],
      checkpointFrequencySeconds: 2,
      transferUid: new Uint8Array(16),
      senderName: 'h',
      transferProtocol: TRANSFER_PROTOCOL,
    });
    const accept = encodeControl({ kind: 'transferAccept', transferId: 1, have: [{ fileIndex: 0, firstBlock: 0, blockCount: 1 }] });
    for (const bytes of [request, accept]) {
      const env = encodeEnvelope({ seq: 1, ack: 0, msgId: 1, fragIndex: 0, fragCount: 1, fragment: bytes, sack: [2, 3] });
      expect(decodeControl(decodeEnvelope(env).fragment).kind).toBeDefined();
    }
    expect(setup).not.toHaveBeenCalled();
  });
});
