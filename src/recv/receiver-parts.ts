// receiver-parts.ts — the receiver's parts wired to each other over one ReceiverEndpoint, with
// their defaults. Receiver runs them over the addon; the unit tests over a fake endpoint.
import type { Logger } from 'pino';
import type { HandshakeResponderOptions } from '../handshake/index.js';
import { RateLimitedLog } from '../log.js';
import { SendPolicy } from '../addon/send-policy.js';
import { kMaxFilesPerTransfer } from './manifest-check.js';
import { DEFAULT_SESSION_CAPS } from './session-admission.js';
import { HandshakeIntake } from './handshake-intake.js';
import { SessionTable, type ReceiveSession } from './session-table.js';
import { TransferOpener, kMaxTransfersPerSession } from './transfer-opener.js';
import { TransferProgress } from './transfer-progress.js';
import { ResumeTable } from './resume-table.js';
import { ResumeRetention } from './resume-retention.js';
import { TransferLog } from './transfer-log.js';
import { InFlight } from './in-flight.js';
import { RateCaps } from './rate-caps.js';
import { TransferEvents } from './transfer-events.js';
import type { TransferStore } from './transfer-store.js';
import type { PartialFiles, ReceiverEndpoint } from './endpoint-port.js';

/** See ReceiverOptions for each; unset ones take the defaults below. */
export interface PartsOptions {
  /** Real path of the sandbox directory. */
  sandboxRoot: string;
  handshake: Omit<HandshakeResponderOptions, 'allocateIndex'>;
  maxSessions?: number;
  maxSessionsPerKey?: number;
  maxSessionsPerSource?: number;
  /** Early blocks held per session (ReceiverOptions.earlyBlockBytes): advertised to senders when > 0. */
  earlyBlockBytes?: number;
  sessionTimeoutMs?: number;
  noTransferTimeoutMs?: number;
  maxTransfersPerSession?: number;
  maxFilesPerTransfer?: number;
  minCheckpointSeconds?: number;
  syncOnFinalize?: boolean;
  maxTransferRecords?: number;
  transferStore?: TransferStore;
}

export interface PartsDeps {
  endpoint: ReceiverEndpoint;
  partials: PartialFiles;
  log: Logger;
  /** The receiver is stopping: nothing new starts. */
  stopped(): boolean;
  /** A control message of a session (the coordinator dispatches it). */
  onControl(session: ReceiveSession, bytes: Uint8Array): void;
  /** A handler of a session threw. */
  onFault(session: ReceiveSession, err: unknown): void;
  /** A session left the table. */
  onSessionEnded(session: ReceiveSession): void;
}

export interface ReceiverParts {
  /** Every native send goes through it (see send-policy.ts). */
  sends: SendPolicy;
  limited: RateLimitedLog;
  /** Background work a graceful shutdown waits for. */
  inFlight: InFlight;
  handshakes: HandshakeIntake;
  sessions: SessionTable;
  opener: TransferOpener;
  progress: TransferProgress;
  resume: ResumeTable;
  retention: ResumeRetention;
  transferLog: TransferLog;
  rateCaps: RateCaps;
  /** Transfer events for consumers outside src/recv (hooks, the API's event stream). */
  events: TransferEvents;
}

export function assembleReceiverParts(o: PartsOptions, deps: PartsDeps): ReceiverParts {
  const { endpoint, log } = deps;
  const limited = new RateLimitedLog(log);
  const sends = new SendPolicy(log);
  const inFlight = new InFlight(log);
  const resume = new ResumeTable(endpoint, o.transferStore, inFlight, log);
  const events = new TransferEvents(log);
  const progress = new TransferProgress(endpoint, resume, log, events);
  const sessions: SessionTable = new SessionTable(
    endpoint,
    sends,
    log,
    limited,
    {
      maxSessions: o.maxSessions ?? DEFAULT_SESSION_CAPS.maxSessions,
      maxSessionsPerKey: o.maxSessionsPerKey ?? DEFAULT_SESSION_CAPS.maxSessionsPerKey,
      maxSessionsPerSource: o.maxSessionsPerSource ?? DEFAULT_SESSION_CAPS.maxSessionsPerSource,
      sessionTimeoutMs: o.sessionTimeoutMs ?? 30_000,
      noTransferTimeoutMs: o.noTransferTimeoutMs ?? 10_000,
      earlyBlockBytes: o.earlyBlockBytes ?? 0,
    },
    {
      onControl: deps.onControl,
      onFault: deps.onFault,
      onOpened: (s) => transferLog.sessionOpened(s.peerKey, s.localIndex, s.address, s.port),
      onEnding: (s, reason) => progress.endWithSession(s, reason),
      onEnded: (s) => {
        transferLog.sessionEnded(s.peerKey, s.localIndex);
        deps.onSessionEnded(s);
      },
    },
  );
  const retention = new ResumeRetention({
    sandboxRoot: o.sandboxRoot,
    resume,
    store: o.transferStore,
    partials: deps.partials,
    inFlight,
    log,
    pathsInUse: () => {
      const inUse = new Set<string>();
      for (const s of sessions.all())
        for (const t of s.transfers.values()) if (t.status === 'receiving') for (const f of t.files ?? []) inUse.add(f.path);
      return inUse;
    },
    forgetRecord: (t) => transferLog.forget(t),
    stopped: deps.stopped,
  });
  const transferLog = new TransferLog(o.maxTransferRecords ?? 10_000, (t) => retention.evicted(t));
  const rateCaps = new RateCaps(endpoint, () => sessions.all(), log);
  const opener = new TransferOpener(
    {
      sandboxRoot: o.sandboxRoot,
      maxTransfersPerSession: o.maxTransfersPerSession ?? kMaxTransfersPerSession,
      maxFilesPerTransfer: o.maxFilesPerTransfer ?? kMaxFilesPerTransfer,
      minCheckpointSeconds: o.minCheckpointSeconds ?? 1,
      syncOnFinalize: o.syncOnFinalize ?? true,
      store: o.transferStore,
    },
    {
      endpoint,
      resume,
      progress,
      transferLog,
      events,
      inFlight,
      log,
      session: (i) => sessions.get(i),
      stopped: deps.stopped,
      onFault: deps.onFault,
      rateCaps,
    },
  );
  const handshakes = new HandshakeIntake(o.handshake, sessions, endpoint, sends, log, limited);
  return { sends, limited, inFlight, handshakes, sessions, opener, progress, resume, retention, transferLog, rateCaps, events };
}
