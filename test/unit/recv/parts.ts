// parts.ts — the receiver's parts wired as Receiver wires them, over a FakeEndpoint, for the
// unit tests of each part's contract.
import { SendPolicy } from '../../../src/engine/send-policy.js';
import { RateLimitedLog } from '../../../src/log.js';
import { TRANSFER_PROTOCOL, type TransferRequestMsg } from '../../../src/proto/control.js';
import { InFlight } from '../../../src/recv/in-flight.js';
import { ResumeRetention } from '../../../src/recv/resume-retention.js';
import { ResumeTable } from '../../../src/recv/resume-table.js';
import { SessionTable, type ReceiveSession } from '../../../src/recv/session-table.js';
import { TransferLog } from '../../../src/recv/transfer-log.js';
import { TransferOpener } from '../../../src/recv/transfer-opener.js';
import { TransferProgress } from '../../../src/recv/transfer-progress.js';
import type { TransferStore } from '../../../src/recv/transfer-store.js';
import { FakeEndpoint, handshake, silentLog } from './fake-endpoint.js';

export interface PartsOptions {
  maxTransfersPerSession?: number;
  maxTransferRecords?: number;
  store?: TransferStore;
}

export function makeParts(o: PartsOptions = {}) {
  const endpoint = new FakeEndpoint();
  const inFlight = new InFlight(silentLog);
  const state = { stopped: false };
  const faults: unknown[] = [];
  const partialCalls: { path: string; size: number; tag: string | undefined }[] = [];
  const sweeps: string[][] = [];
  const resume = new ResumeTable(endpoint, o.store, inFlight, silentLog);
  const progress = new TransferProgress(endpoint, resume, silentLog);
  const sessionsRef: { table?: SessionTable } = {};
  const retention = new ResumeRetention({
    sandboxRoot: '/sandbox',
    resume,
    store: o.store,
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
    inFlight,
    log: silentLog,
    pathsInUse: () => {
      const s = new Set<string>();
      for (const ss of sessionsRef.table?.all() ?? []) for (const t of ss.transfers.values()) if (t.status === 'receiving') for (const f of t.files ?? []) s.add(f.path);
      return s;
    },
    forgetRecord: (t) => transferLog.forget(t),
    stopped: () => state.stopped,
  });
  const transferLog = new TransferLog(o.maxTransferRecords ?? 100, (t) => retention.evicted(t));
  const table = new SessionTable(
    endpoint,
    new SendPolicy(silentLog),
    silentLog,
    new RateLimitedLog(silentLog),
    { maxSessions: 100, maxSessionsPerKey: 100, maxSessionsPerSource: 100, sessionTimeoutMs: 30_000, noTransferTimeoutMs: 10_000 },
    {
      onControl: () => {},
      onFault: (_s, err) => faults.push(err),
      onOpened: (s) => transferLog.sessionOpened(s.peerKey, s.localIndex, s.address, s.port),
      onEnding: (s, reason) => progress.endWithSession(s, reason),
      onEnded: (s) => transferLog.sessionEnded(s.peerKey, s.localIndex),
    },
  );
  sessionsRef.table = table;
  endpoint.ackTo = (i, p) => table.receive(i, p);
  const opener = new TransferOpener(
    { sandboxRoot: '/sandbox', maxTransfersPerSession: o.maxTransfersPerSession ?? 8, maxFilesPerTransfer: 1000, minCheckpointSeconds: 1, syncOnFinalize: true, store: o.store },
    { endpoint, resume, progress, transferLog, inFlight, log: silentLog, session: (i) => table.get(i), stopped: () => state.stopped, onFault: (_s, err) => faults.push(err) },
  );
  let port = 6000;
  return {
    endpoint,
    inFlight,
    state,
    faults,
    partialCalls,
    sweeps,
    resume,
    progress,
    retention,
    transferLog,
    table,
    opener,
    /** A new admitted session of `peerKey`. */
    connect(peerKey = 'key-a'): ReceiveSession {
      return table.admit(handshake(), peerKey, '10.0.0.1', port++).session;
    },
    /** Ends every session and the peers' channels. */
    dispose(): void {
      for (const s of table.all()) table.end(s, 'test over');
      retention.stop();
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
