// daemon.ts — composition root of `jetrecv serve`: state, keys, authorized senders, the
// receiver (data path) and the API server, with an orderly shutdown.
import { hostname } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { packageRoot } from './addon/package-root.js';
import { renderPrometheus, parseCounterHelp } from './ops/metrics.js';
import type { Logger } from 'pino';
import { loadOrCreateServerKeys } from './state/server-keys.js';
import { lockStateDir, type StateLock } from './state/state-lock.js';
import { UserStore } from './state/users.js';
import { ApiTokenStore } from './state/api-tokens.js';
import type { LocalAdminOptions } from './api/local-admin.js';
import { AuthorizedClients } from './state/authorized-clients.js';
import { Receiver } from './recv/receiver.js';
import type { BandwidthLimits } from './recv/rate-caps.js';
import type { BandwidthLimitsStructure } from './proto/api-structures.js';
import { TransferStore } from './recv/transfer-store.js';
import { encodeKey, parsePublicKey } from './keys/key-encoding.js';
import { aeadBackends, type CipherName } from './addon/endpoint.js';
import type { LogLevel } from './log.js';
import { TransferHooks, type HookSettings } from './hooks/transfer-hooks.js';
import { DEFAULT_PROGRESS_INTERVAL_MS } from './api/event-stream.js';

export interface DaemonConfig {
  persistentStateDir?: string;
  sandboxDir: string;
  recvHost: string;
  recvPort: number;
  apiHost: string;
  apiPort: number;
  apiAllowRemoteControl: boolean;
  apiTlsCert?: string;
  apiTlsKey?: string;
  /** false: run the data path only (no API listener). */
  apiEnabled: boolean;
  superusers: string[];
  /** Also serve the API on this local admin socket (absent: none; docs/API.md). */
  adminSocket?: LocalAdminOptions;
  rxThreads: number;
  socketBufferBytes: number;
  /** O_DIRECT writes of large files ('auto', the default) or page cache only ('off'). */
  directIo?: 'auto' | 'off';
  /** O_DIRECT writer threads (default 2). */
  directIoThreads?: number;
  /** Sync each file (data, rename, directory) before it is reported done (default true). */
  syncOnFinalize?: boolean;
  /** Bookkeeping memory one transfer / all live transfers may reserve (defaults 256 MiB / 1 GiB; docs/OPERATIONS.md). */
  maxTransferMemory?: number;
  maxReceiveMemory?: number;
  /** Early blocks held per session (ReceiverOptions.earlyBlockBytes; default 2 MiB, 0 = off). */
  earlyBlockBytes?: number;
  minCipher: CipherName;
  serverName: string;
  sessionTimeoutMs: number;
  /** Transfers listing more files are refused (default kMaxFilesPerTransfer). */
  maxFilesPerTransfer?: number;
  /** A session with no transfer open this long is closed (default 10 s; tests set it low). */
  noTransferTimeoutMs?: number;
  /** Session caps per sender key and per source address (defaults: session-admission.ts). */
  maxSessionsPerKey?: number;
  maxSessionsPerSource?: number;
  /**
   * INITs per second given the DH work before the handshake requires cookies (default 50).
   * Not a CLI flag; tests set it low to exercise cookies (docs/TESTING.md).
   */
  handshakeLoadThreshold?: number;
  /** Bound of the native event queue (default 65536). Not a CLI flag; tests set it low (docs/TESTING.md). */
  eventQueueCapacity?: number;
  /** Resumable transfers idle this long are dropped with their partials (0 = never; default 7 d). */
  resumeRetentionMs?: number;
  /** Hook command and webhook on transfer events (none: no hooks). */
  hooks?: HookSettings;
  /** Progress period of GET /api/v1/events (default 1 s). */
  eventsProgressIntervalMs?: number;
  /** Receive rate limits at start, bits/s (0 = none; src/recv/rate-caps.ts). */
  bandwidthLimits?: BandwidthLimits;
}

/** The API's kbit/s view of the receiver's limits (bits/s). */
function limitsToKbps(l: BandwidthLimits): BandwidthLimitsStructure {
  return { incomingRateLimit: Math.floor(l.incomingBps / 1000), incomingRateLimitPerSource: Math.floor(l.incomingPerSourceBps / 1000) };
}
function limitsFromKbps(l: BandwidthLimitsStructure): BandwidthLimits {
  return { incomingBps: l.incomingRateLimit * 1000, incomingPerSourceBps: l.incomingRateLimitPerSource * 1000 };
}

export interface Daemon {
  receiver: Receiver;
  publicKey: string;
  recvPort: number;
  apiPort: number | null;
  /** Path of the local admin socket, null when none is served. */
  adminSocket: string | null;
  serverId: string;
  /** One-line state for systemd's STATUS=. */
  status(): { sessions: number; receiving: number; recvRateBps: number };
  /** Applies the settings that may change at runtime (SIGHUP). */
  /** bandwidthLimits: only when the config file changed them (an API change stays otherwise). */
  reload(settings: {
    logLevel: LogLevel;
    superusers: string[];
    sessionTimeoutMs: number;
    resumeRetentionMs?: number;
    bandwidthLimits?: BandwidthLimits;
    hooks?: HookSettings;
    eventsProgressIntervalMs?: number;
  }): void;
  close(): Promise<void>;
}

let cachedVersion: string | null = null;
function packageVersion(): string {
  cachedVersion ??= (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  return cachedVersion;
}

/** One-line help per counter, from the list the addon is built from. */
function loadCounterHelp(): Record<string, string> {
  try {
    return parseCounterHelp(readFileSync(path.join(packageRoot, 'native', 'src', 'core', 'counters.def'), 'utf8'));
  } catch {
    return {};
  }
}

/**
 * Starts every part; throws (with nothing left running) when a part cannot start. With a
 * persistent state directory, first takes its lock (one daemon per directory) and loads
 * every state file, so a bad file stops the start before any port is bound.
 */
export async function startDaemon(config: DaemonConfig, logger: Logger): Promise<Daemon> {
  const log = logger.child({ component: 'daemon' });
  let stateLock: StateLock | null = null;
  if (config.persistentStateDir !== undefined) {
    await mkdir(config.persistentStateDir, { recursive: true, mode: 0o700 });
    stateLock = await lockStateDir(config.persistentStateDir);
    if (stateLock.tookOverFrom !== null) {
      log.warn({ path: stateLock.path, pid: stateLock.tookOverFrom }, 'took over the stale lock of a jetrecv process that no longer runs');
    }
  }
  try {
    return await startLocked(config, logger, stateLock);
  } catch (err) {
    await stateLock?.release();
    throw err;
  }
}

async function startLocked(config: DaemonConfig, logger: Logger, stateLock: StateLock | null): Promise<Daemon> {
  const log = logger.child({ component: 'daemon' });
  const serverId = randomBytes(16).toString('hex');
  // AEAD back end per cipher (logged when ready, exported on /metrics); a bad JETRECV_AEAD stops the start.
  const aead = aeadBackends();
  const serverKeys = await loadOrCreateServerKeys(config.persistentStateDir);
  if (serverKeys.warning) log.warn({ path: serverKeys.path }, serverKeys.warning);
  if (serverKeys.created && serverKeys.path) log.info({ path: serverKeys.path }, 'created a new server key pair');
  if (!config.persistentStateDir)
    log.warn('no --persistent-state-dir: the server key is new for this launch, and authorized clients are kept in memory only');
  const authorized = await AuthorizedClients.open(config.persistentStateDir);
  // Transfer records and checkpoints (resume after a restart); corrupt files are logged and ignored.
  const { store: transferStore, records: restoredTransfers } = await TransferStore.open(config.persistentStateDir, logger);
  // API users: a file that does not validate stops the start here, before the ports are bound.
  const users = config.apiEnabled ? await UserStore.open(config.persistentStateDir) : null;
  const tokens = config.apiEnabled ? await ApiTokenStore.open(config.persistentStateDir) : null;

  const receiver = new Receiver({
    sandboxDir: path.resolve(config.sandboxDir),
    recvHost: config.recvHost,
    recvPort: config.recvPort,
    rxThreads: config.rxThreads,
    rcvbufBytes: config.socketBufferBytes,
    directIo: config.directIo ?? 'auto',
    directIoThreads: config.directIoThreads ?? 2,
    syncOnFinalize: config.syncOnFinalize ?? true,
    ...(config.maxTransferMemory !== undefined ? { maxTransferMemory: config.maxTransferMemory } : {}),
    ...(config.maxReceiveMemory !== undefined ? { maxReceiveMemory: config.maxReceiveMemory } : {}),
    ...(config.earlyBlockBytes !== undefined ? { earlyBlockBytes: config.earlyBlockBytes } : {}),
    serverKeys: serverKeys.keys,
    authorization: authorized,
    minCipher: config.minCipher,
    logger,
    sessionTimeoutMs: config.sessionTimeoutMs,
    resumeRetentionMs: config.resumeRetentionMs,
    ...(config.maxFilesPerTransfer !== undefined ? { maxFilesPerTransfer: config.maxFilesPerTransfer } : {}),
    ...(config.noTransferTimeoutMs !== undefined ? { noTransferTimeoutMs: config.noTransferTimeoutMs } : {}),
    ...(config.maxSessionsPerKey !== undefined ? { maxSessionsPerKey: config.maxSessionsPerKey } : {}),
    ...(config.maxSessionsPerSource !== undefined ? { maxSessionsPerSource: config.maxSessionsPerSource } : {}),
    transferStore,
    restoredTransfers,
    handshakeLoadThreshold: config.handshakeLoadThreshold,
    ...(config.eventQueueCapacity !== undefined ? { eventQueueCapacity: config.eventQueueCapacity } : {}),
    ...(config.bandwidthLimits !== undefined ? { bandwidthLimits: config.bandwidthLimits } : {}),
  });
  const granted = receiver.endpoint.kernelBuffers();
  if (granted.rcvbuf < config.socketBufferBytes) {
    log.warn(
      { requested: config.socketBufferBytes, granted: granted.rcvbuf },
      'the kernel granted a smaller UDP receive buffer than configured; raise net.core.rmem_max (see systemd/99-jetrecv.conf) or run with CAP_NET_ADMIN',
    );
  }

  // Triggers: they only queue work on the receiver's events; the work runs off its path.
  const hooks = config.hooks !== undefined ? new TransferHooks(receiver.events, config.hooks, receiver.sandboxRoot, logger) : null;
  let eventsProgressIntervalMs = config.eventsProgressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS;

  const counterHelp = loadCounterHelp();
  /** Live set: SIGHUP may change who the superusers are. */
  const superusers = new Set(config.superusers);
  let api: Awaited<ReturnType<typeof import('./api/server.js').startApiServer>> | null = null;
  if (config.apiEnabled) {
    const { startApiServer } = await import('./api/server.js');
    try {
      api = await startApiServer({
        host: config.apiHost,
        port: config.apiPort,
        tls: config.apiTlsCert && config.apiTlsKey ? { cert: config.apiTlsCert, key: config.apiTlsKey } : undefined,
        allowRemoteControl: config.apiAllowRemoteControl,
        backend: {
          getSources: () => receiver.getSources(),
          getTransfers: () => receiver.getTransfers(),
          authorizedClients: authorized,
          onAuthorizationChanged: () =>
            receiver.enforceAuthorization(
              (k) => authorized.isAllowed(k),
              (k) => parsePublicKey(k),
            ),
          getBandwidthLimits: () => limitsToKbps(receiver.bandwidthLimits),
          setBandwidthLimits: (l) => receiver.setBandwidthLimits(limitsFromKbps(l)),
        },
        users: users!,
        tokens: tokens!,
        ...(config.adminSocket !== undefined ? { localAdmin: config.adminSocket } : {}),
        superusers,
        events: {
          source: receiver.events,
          transfers: () => receiver.getTransfers(),
          progressIntervalMs: () => eventsProgressIntervalMs,
        },
        metrics: () => {
          const counters = receiver.counters();
          const st = receiver.status();
          return renderPrometheus({
            ...(hooks !== null ? { hooks: { ...hooks.stats() } } : {}),
            ...(api !== null ? { eventStreams: api.eventStreamStats() } : {}),
            counters,
            counterHelp,
            handshakes: receiver.handshakeCounts(),
            sessions: st.sessions,
            transfers: receiver.transferCounts(),
            bytesReceived: counters['bytes_written'] ?? 0,
            recvRateBps: st.recvRateBps,
            info: { version: packageVersion(), serverId },
            aeadBackends: aead,
          });
        },
        logger,
        serverInfo: () => ({
          version: packageVersion(),
          hostName: hostname(),
          serverName: config.serverName,
          serverId,
          publicKey: receiver.publicKey,
          minCipher: config.minCipher,
          recvPorts: [receiver.port],
          encryptionAvailable: true,
          serverExternalAddress: null,
          receiver: {
            recvPorts: [receiver.port],
            recvHost: config.recvHost,
            sandboxDir: receiver.sandboxRoot,
            persistentState: config.persistentStateDir !== undefined,
          },
          configuration: {
            persistentStateDir: config.persistentStateDir ?? null,
            sandboxDir: receiver.sandboxRoot,
            recvHost: config.recvHost,
            recvPort: receiver.port,
            apiHost: config.apiHost,
            apiPort: config.apiPort,
            adminSocket: api?.adminSocket ?? null,
            rxThreads: config.rxThreads,
            socketBufferBytes: config.socketBufferBytes,
            grantedSocketBufferBytes: granted.rcvbuf,
            superusers: [...superusers],
            sessionTimeoutMs: config.sessionTimeoutMs,
            resumeRetentionMs: config.resumeRetentionMs ?? null,
          },
        }),
      });
    } catch (err) {
      hooks?.close();
      receiver.close();
      throw err;
    }
  }

  log.info(
    {
      publicKey: receiver.publicKey,
      recvPort: receiver.port,
      apiPort: api?.port ?? null,
      adminSocket: api?.adminSocket ?? null,
      sandboxDir: receiver.sandboxRoot,
      serverId,
      aeadBackends: aead,
    },
    'jetrecv receiver ready',
  );

  let closing: Promise<void> | null = null;
  return {
    receiver,
    publicKey: encodeKey(serverKeys.keys.publicKey),
    recvPort: receiver.port,
    apiPort: api?.port ?? null,
    adminSocket: api?.adminSocket ?? null,
    serverId,
    status: () => receiver.status(),
    reload(settings) {
      logger.level = settings.logLevel;
      superusers.clear();
      for (const u of settings.superusers) superusers.add(u);
      receiver.setSessionTimeout(settings.sessionTimeoutMs);
      if (settings.resumeRetentionMs !== undefined) receiver.setResumeRetention(settings.resumeRetentionMs);
      if (settings.bandwidthLimits !== undefined) receiver.setBandwidthLimits(settings.bandwidthLimits);
      if (settings.hooks !== undefined) hooks?.configure(settings.hooks);
      if (settings.eventsProgressIntervalMs !== undefined) eventsProgressIntervalMs = settings.eventsProgressIntervalMs;
    },
    close() {
      closing ??= (async () => {
        // New sessions are refused at once; live transfers get a final checkpoint.
        hooks?.close();
        await receiver.shutdown();
        await api?.close();
        await stateLock?.release();
        log.info('jetrecv receiver stopped');
      })();
      return closing;
    },
  };
}
