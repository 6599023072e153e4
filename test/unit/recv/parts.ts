// parts.ts — the receiver's parts as Receiver assembles them (assembleReceiverParts), over a
// FakeEndpoint and fake partial-file functions, for the unit tests of each part's contract.
import { generateKeyPair } from '../../../src/keys/key-encoding.js';
import { TRANSFER_PROTOCOL, type TransferRequestMsg } from '../../../src/proto/control.js';
import { assembleReceiverParts } from '../../../src/recv/receiver-parts.js';
import type { ReceiveSession } from '../../../src/recv/session-table.js';
import type { TransferStore } from '../../../src/recv/transfer-store.js';
import { FakeEndpoint, handshake, silentLog } from './fake-endpoint.js';

export interface PartsOptions {
  maxTransfersPerSession?: number;
  maxTransferRecords?: number;
  store?: TransferStore;
}

export function makeParts(o: PartsOptions = {}) {
  const endpoint = new FakeEndpoint();
  const state = { stopped: false };
  const faults: unknown[] = [];
  const partialCalls: { path: string; size: number; tag: string | undefined }[] = [];
  const sweeps: string[][] = [];
  const parts = assembleReceiverParts(
    {
      sandboxRoot: '/sandbox',
      handshake: { staticKeys: generateKeyPair(), minCipher: 'chacha20-poly1305', isAuthorized: () => true },
      maxSessions: 100,
      maxSessionsPerKey: 100,
      maxSessionsPerSource: 100,
      maxFilesPerTransfer: 1000,
      ...(o.maxTransfersPerSession !== undefined ? { maxTransfersPerSession: o.maxTransfersPerSession } : {}),
      maxTransferRecords: o.maxTransferRecords ?? 100,
      ...(o.store ? { transferStore: o.store } : {}),
    },
    {
      endpoint,
      partials: {
        removeStalePartial: (_root, path, size, tag) => {
          partialCalls.push({ path, size, tag });
          return 'removed';
        },
        sweepPartials: (_root, keep) => {
          sweeps.push(keep);
          return { removed: 0, bytesRemoved: 0, kept: 0, leftAlone: 0 };
        },
      },
      log: silentLog,
      stopped: () => state.stopped,
      onControl: () => {},
      onFault: (_s, err) => faults.push(err),
      onSessionEnded: () => {},
    },
  );
  const { sessions: table } = parts;
  endpoint.ackTo = (i, p) => table.receive(i, p);
  let port = 6000;
  return {
    ...parts,
    endpoint,
    state,
    faults,
    partialCalls,
    sweeps,
    table,
    /** A new admitted session of `peerKey`. */
    connect(peerKey = 'key-a'): ReceiveSession {
      return table.admit(handshake(), peerKey, '10.0.0.1', port++).session;
    },
    /** Ends every session and the peers' channels. */
    dispose(): void {
      for (const s of table.all()) table.end(s, 'test over');
      parts.retention.stop();
      endpoint.dispose();
    },
  };
}

export type Parts = ReturnType<typeof makeParts>;

/** A transfer request of `files` (sizes) beneath /incoming. */
export function request(transferId: number, over: Partial<TransferRequestMsg> = {}, sizes: number[] = [3000, 10]): TransferRequestMsg {
  return {
    kind: 'transferRequest',
    transferId,
    destinationPath: '/incoming',
    blockSize: 1000,
    files: sizes.map((size, i) => ({ path: `f${i}`, size, mode: 0o644, mtimeMs: 1_600_000_000_000 })),
    emptyDirs: [],
    checkpointFrequencySeconds: 0,
    transferUid: new Uint8Array(0),
    senderName: 'test',
    transferProtocol: TRANSFER_PROTOCOL,
    ...over,
  };
}

/** Resolves once the background work (checks, opens, checkpoints) is done. */
export async function settle(p: Parts): Promise<void> {
  await p.inFlight.settle();
  await new Promise((r) => setImmediate(r));
}
